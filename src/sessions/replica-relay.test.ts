import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SessionRecord, SessionStore } from '../storage/types.ts';
import type { JsonRpcMessage } from '../protocol/jsonrpc.ts';
import { askedBy, newReplicaId, questionId, type RelayedAnswer } from './replica-relay.ts';
import { sessionDigest } from './session-digest.ts';
import { Sessions } from './sessions.ts';

function memoryStore(): SessionStore {
  const rows = new Map<string, SessionRecord>();
  return {
    create: async (r) => {
      const stored = { ...r, createdAt: r.createdAt ?? Date.now(), lastSeenAt: r.lastSeenAt ?? Date.now() };
      rows.set(r.id, stored);
      return { ...stored };
    },
    get: async (id) => rows.get(id),
    touch: async () => {},
    delete: async (id) => rows.delete(id),
    purgeIdle: async () => 0,
    count: async () => 0,
    deleteMatching: async () => 0,
  };
}

test("a question's id names its replica, is unguessable, and only the gateway's own ids name one", () => {
  const r = newReplicaId();
  const one = questionId(r);
  assert.equal(askedBy(one), r);
  assert.notEqual(questionId(r), one);
  for (const other of [7, 'gh-1', `gh.${r}`, `gh.${r}.short`, `gh.${r.toUpperCase()}.${'a'.repeat(16)}`, `x${one}`])
    assert.equal(askedBy(other), undefined, String(other));
});

/** A session of `principal` on a Sessions named `replica`, asked one question; what was sent to its client. */
async function asked(replica: string) {
  const sessions = new Sessions(memoryStore(), 600, undefined, replica);
  const s = await sessions.create({
    scope: '',
    protocolVersion: '2025-11-25',
    clientInfo: {},
    clientCapabilities: {},
    principal: 'key:acme:alice',
    tenant: 'acme',
  });
  const sent: JsonRpcMessage[] = [];
  const sink = { send: (m: JsonRpcMessage) => void sent.push(m), closed: false, close() {} };
  const answer = s.ask(sink, 'elicitation/create', {}, new AbortController().signal);
  const id = String((sent[0] as { id: string }).id);
  return { sessions, s, answer, id };
}

test('a relayed answer reaches the question only for the same session, principal, tenant and endpoint', async () => {
  const { sessions, s, answer, id } = await asked(newReplicaId());
  const m: RelayedAnswer = {
    kind: 'answer',
    session: sessionDigest(s.id),
    principal: 'key:acme:alice',
    tenant: 'acme',
    scope: '',
    id,
    reply: { result: { action: 'accept' } },
  };
  assert.equal(sessions.answerRelayed({ ...m, principal: 'key:globex:mallory' }), false);
  assert.equal(sessions.answerRelayed({ ...m, tenant: 'globex' }), false);
  assert.equal(sessions.answerRelayed({ ...m, scope: 'other' }), false);
  assert.equal(sessions.answerRelayed({ ...m, session: 'f'.repeat(32) }), false);
  assert.equal(sessions.answerRelayed({ ...m, session: s.id }), false, 'named by its digest, never its id');
  assert.equal(sessions.answerRelayed({ ...m, id: questionId(sessions.replica) }), false);
  assert.equal(sessions.answerRelayed(m), true);
  assert.deepEqual(await answer, { result: { action: 'accept' } });
  sessions.close();
});

test("an answer for another replica's question is relayed there with who answered; its own is answered here", async () => {
  const { sessions, s, answer, id } = await asked(newReplicaId());
  const relayed: Array<[string, RelayedAnswer]> = [];
  sessions.relay = async (to, m) => {
    relayed.push([to, m]);
    return true;
  };
  const elsewhere = newReplicaId();
  const theirs = questionId(elsewhere);
  await sessions.answer(s, theirs, { result: { n: 1 } });
  assert.deepEqual(relayed, [
    [
      elsewhere,
      {
        kind: 'answer',
        session: sessionDigest(s.id),
        principal: 'key:acme:alice',
        tenant: 'acme',
        scope: '',
        id: theirs,
        reply: { result: { n: 1 } },
      },
    ],
  ]);
  await sessions.answer(s, id, { result: { n: 2 } });
  assert.deepEqual(await answer, { result: { n: 2 } });
  assert.equal(relayed.length, 1);
  sessions.close();
});
