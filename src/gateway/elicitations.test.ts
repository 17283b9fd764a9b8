import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonRpcMessage, JsonRpcNotification } from '../protocol/jsonrpc.ts';
import { LiveSession, type MessageSink } from '../sessions/sessions.ts';
import { type AskingCall, ElicitationRoutes } from './elicitations.ts';

function sink(): MessageSink & { got: JsonRpcMessage[] } {
  const got: JsonRpcMessage[] = [];
  return { got, closed: false, send: (m) => void got.push(m), close() {} };
}

function session(principal = 'p', withStream = true): LiveSession & { got: JsonRpcMessage[] } {
  const s = new LiveSession({
    id: `s${Math.random()}`,
    scope: '',
    protocolVersion: '2025-11-25',
    clientCapabilities: {},
    clientInfo: {},
    principal,
    tenant: 'acme',
    createdAt: 0,
    lastSeenAt: 0,
  });
  const out = sink();
  if (withStream) s.stream = out;
  return Object.assign(s, { got: out.got });
}

const done = (elicitationId: unknown): JsonRpcNotification => ({
  jsonrpc: '2.0',
  method: 'notifications/elicitation/complete',
  params: { elicitationId, extra: 'from the upstream' },
});
const call = (): AskingCall & { got: JsonRpcNotification[] } => {
  const got: JsonRpcNotification[] = [];
  return { got, notify: (n) => void got.push(n) };
};
const ids = (got: JsonRpcMessage[]) => got.map((m) => (m as JsonRpcNotification).params?.elicitationId);

test('a completion reaches the session asked, under the id it was shown, once; nothing else of the notification', () => {
  const r = new ElicitationRoutes();
  const [a, b] = [session(), session()];
  r.asked('up-1', a, 'shown-1', call());
  r.asked('up-2', b, 'up-2', call());
  r.complete(done('up-1'));
  r.complete(done('up-1'));
  assert.deepEqual(a.got, [
    { jsonrpc: '2.0', method: 'notifications/elicitation/complete', params: { elicitationId: 'shown-1' } },
  ]);
  assert.deepEqual(b.got, []);
  for (const unknown of ['up-3', 7, undefined]) r.complete(done(unknown));
  r.complete({ jsonrpc: '2.0', method: 'notifications/message', params: { elicitationId: 'up-2' } });
  assert.deepEqual([a.got.length, b.got.length], [1, 0]);
});

test('an id asked of two sessions reaches neither; asked again of the same session, the latest call', () => {
  const r = new ElicitationRoutes();
  const [a, b] = [session(), session()];
  r.asked('dup', a, 'dup', call());
  r.asked('dup', b, 'dup', call());
  r.complete(done('dup'));
  assert.deepEqual([a.got, b.got], [[], []]);
  r.asked('again', a, 'again', call());
  r.asked('again', a, 'again', call());
  r.complete(done('again'));
  assert.deepEqual(ids(a.got), ['again']);
});

test("without a session stream, the call's own stream while it is open; after it, nobody", () => {
  const r = new ElicitationRoutes();
  const s = session('p', false);
  const c = call();
  r.asked('one', s, 'one', c);
  r.asked('two', s, 'two', c);
  r.complete(done('one'));
  assert.deepEqual(ids(c.got), ['one']);
  c.notify = undefined; // the call was answered
  r.complete(done('two'));
  assert.deepEqual(ids(c.got), ['one']);
});

test("bounded per principal: one user's many elicitations push out only its own oldest, never another user's", () => {
  const r = new ElicitationRoutes();
  const victim = session();
  const attacker = session('mallory');
  const attackersOther = session('mallory'); // the same principal's second session counts with the first
  r.asked('victim-1', victim, 'victim-1', call());
  for (let i = 0; i < 300; i++) r.asked(`id-${i}`, i % 2 ? attacker : attackersOther, `id-${i}`, call());
  r.complete(done('victim-1'));
  assert.deepEqual(ids(victim.got), ['victim-1'], "the other user's pending sign-in is still routed");
  for (const i of [0, 267, 268, 299]) r.complete(done(`id-${i}`));
  // 32 per principal are kept: ids 268-299; 0 and 267 were forgotten.
  assert.deepEqual([...ids(attacker.got), ...ids(attackersOther.got)].sort(), ['id-268', 'id-299']);
});

test('bounded per connection in all: past 4,096, the oldest are forgotten first', () => {
  const r = new ElicitationRoutes();
  const sessions = Array.from({ length: 200 }, (_, i) => session(`user-${i}`));
  for (let i = 0; i < 200 * 30; i++) r.asked(`id-${i}`, sessions[i % 200], `id-${i}`, call());
  for (const i of [0, 200 * 30 - 4096 - 1, 200 * 30 - 4096, 200 * 30 - 1]) r.complete(done(`id-${i}`));
  const got = sessions.flatMap((s) => ids(s.got));
  assert.deepEqual(got.sort(), [`id-${200 * 30 - 4096}`, `id-${200 * 30 - 1}`].sort());
});
