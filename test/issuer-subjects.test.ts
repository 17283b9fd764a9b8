/**
 * Subjects are namespaces of their issuers, end to end: two identity providers (each its own signing
 * key) bound to one tenant sign tokens for the same `sub`, and a policy rule that lets issuer A's
 * `alice` call a DESTRUCTIVE tool applies to her only: issuer B's `alice`, and an API key made for
 * `alice`, are refused (and are not shown the tool), and their calls never reach the upstream.
 * And a bare subject names an identity provider's person, never an API key's: keys are minted for any
 * person their maker types, so a key made for `alice` approves only where a rule names
 * `{ issuer: gatehouse, subject: alice }`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ROOT, createKey, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { linesWith } from './support/lines.ts';
import { firstInputRequest, modernMeta, postModern, replyOf, type Reply } from './support/rpc.ts';
import { submitDecision } from './support/approval-page.ts';
import { freePort } from './support/processes.ts';
import { startSecondIssuer, type SecondIssuer } from './fixtures/oidc/second-issuer.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-issuer-subjects-'));
const rec = join(tmp, 'rec.jsonl');
let idpA: SecondIssuer;
let idpB: SecondIssuer;
let t: TestGateway;
const ran = (needle: string) => linesWith(rec, '"tools/call"', needle);

before(async () => {
  writeFileSync(rec, '');
  const port = await freePort();
  const resource = `http://127.0.0.1:${port}/mcp`;
  [idpA, idpB] = await Promise.all([startSecondIssuer(resource), startSecondIssuer(resource)]);
  writeFileSync(
    join(tmp, 'policy.yaml'),
    [
      'rules:',
      '  - id: alice-of-a-drops',
      `    subjects: { subjects: [{ issuer: ${JSON.stringify(idpA.issuer)}, subject: alice }] }`,
      '    tools: [rec__other]',
      '    effect: allow',
      // The gateway's own service key: not ambiguous with two issuers, and no issuer's `sub` either.
      '  - id: deploy-bot-drops',
      '    subjects: { subjects: [apikey:deploy-bot] }',
      '    tools: [rec__other]',
      '    effect: allow',
      '',
    ].join('\n'),
  );
  t = await startGateway(
    stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(rec)} }\n    tools: { other: { class: DESTRUCTIVE } }\n`,
    {
      port,
      top:
        `identity:\n  resource: ${resource}\n  issuers:\n    - { issuer: ${JSON.stringify(idpA.issuer)}, tenant: acme }\n    - { issuer: ${JSON.stringify(idpB.issuer)}, tenant: acme }\n` +
        `policy: { files: [${JSON.stringify(join(tmp, 'policy.yaml'))}] }\n`,
    },
  );
});
after(async () => {
  await t?.close();
  await idpA?.stop();
  await idpB?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function rpc(token: string, method: string, params: Record<string, unknown>, url = t.url): Promise<Reply> {
  const name = method === 'tools/call' ? String(params.name) : undefined;
  return replyOf(await postModern(url, method, { ...params, _meta: modernMeta() }, { token, name }));
}
const drop = (token: string, note: string) => rpc(token, 'tools/call', { name: 'rec__other', arguments: { note } });
const lists = async (token: string) =>
  ((await rpc(token, 'tools/list', {})).result?.tools ?? []).map((x) => x.name).includes('rec__other');

test("a rule naming issuer A's alice: B's alice (same sub, her own signed token) and a key for alice are refused, and nothing reaches the upstream", async () => {
  const aliceA = await idpA.mint({ scope: 'mcp:tools' }, { subject: 'alice' });
  const aliceB = await idpB.mint({ scope: 'mcp:tools' }, { subject: 'alice' });
  const aliceKey = await createKey(t.file, { name: 'alice-key', tenant: 'acme', person: 'alice', scopes: 'mcp:tools' });

  const fromB = await drop(aliceB, `b-${randomUUID()}`);
  assert.match(fromB.error?.message ?? JSON.stringify(fromB), /unknown tool|denied/);
  const fromKey = await drop(aliceKey, `key-${randomUUID()}`);
  assert.match(fromKey.error?.message ?? JSON.stringify(fromKey), /unknown tool|denied/);
  assert.equal(ran('"b-'), 0, "issuer B's alice did not reach the upstream");
  assert.equal(ran('"key-'), 0, "the key's alice did not reach the upstream");
  assert.deepEqual([await lists(aliceB), await lists(aliceKey)], [false, false], 'nor is the tool listed to them');

  const note = `a-${randomUUID()}`;
  const fromA = await drop(aliceA, note);
  assert.equal(fromA.error, undefined, JSON.stringify(fromA));
  assert.equal(ran(note), 1, "issuer A's alice did");
  assert.equal(await lists(aliceA), true);
});

test('`apikey:<name>` in a rule names the service key only: a token of an identity provider whose `sub` reads `apikey:deploy-bot` is refused', async () => {
  const bot = await createKey(t.file, { name: 'deploy-bot', tenant: 'acme', scopes: 'mcp:tools' });
  const impostor = await idpA.mint({ scope: 'mcp:tools' }, { subject: 'apikey:deploy-bot' });
  const fake = await drop(impostor, `impostor-${randomUUID()}`);
  // Refused at authentication: `apikey:` subjects are the gateway's own (and the policy reads it as the key's only).
  assert.match(fake.error?.message ?? JSON.stringify(fake), /reserved sub claim/);
  assert.equal(ran('"impostor-'), 0, 'the impostor did not reach the upstream');
  assert.equal(await lists(impostor), false, 'nor is the tool listed to it');
  const note = `bot-${randomUUID()}`;
  const fromBot = await drop(bot, note);
  assert.equal(fromBot.error, undefined, JSON.stringify(fromBot));
  assert.equal(ran(note), 1, 'the service key did');
  // `policy explain` says the same, by issuer.
  const explain = (issuer: string) =>
    runCli([
      'policy',
      'explain',
      '--subject',
      'apikey:deploy-bot',
      '--issuer',
      issuer,
      '--tenant',
      'acme',
      '--tool',
      'rec__other',
      '--class',
      'DESTRUCTIVE',
      '--json',
      '-c',
      t.file,
    ]);
  const effect = async (issuer: string) => JSON.parse((await explain(issuer)).stdout).decision.effect;
  assert.deepEqual([await effect('gatehouse'), await effect(idpA.issuer)], ['allow', 'deny']);
});

test("a bare approver subject is the identity provider's person: a key made for `alice` cannot approve as her, and nothing reaches the upstream", async () => {
  const policy = join(tmp, 'approve.yaml');
  writeFileSync(
    policy,
    [
      'rules:',
      '  - id: alice-or-carols-key-approves',
      '    tools: [rec__other]',
      '    effect: approve',
      '    approvers: { subjects: [alice, { issuer: gatehouse, subject: carol }] }',
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const resource = `http://127.0.0.1:${port}/mcp`;
  const idp = await startSecondIssuer(resource);
  const g = await startGateway(
    stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(rec)} }\n    tools: { other: { class: WRITE } }\n`,
    {
      port,
      top:
        `identity:\n  resource: ${resource}\n  issuers: [{ issuer: ${JSON.stringify(idp.issuer)}, tenant: acme }]\n` +
        `policy: { files: [${JSON.stringify(policy)}] }\n`,
    },
  );
  try {
    const bob = await idp.mint({ scope: 'mcp:tools' }, { subject: 'bob' });
    const alice = await idp.mint({ scope: 'mcp:tools' }, { subject: 'alice' });
    const aliceKey = await createKey(g.file, {
      name: 'alice-key',
      tenant: 'acme',
      person: 'alice',
      scopes: 'mcp:tools',
    });
    const carolKey = await createKey(g.file, {
      name: 'carol-key',
      tenant: 'acme',
      person: 'carol',
      scopes: 'mcp:tools',
    });
    const ask = async (note: string) => {
      const r = await rpc(bob, 'tools/call', { name: 'rec__other', arguments: { note } }, g.url);
      assert.equal(r.result?.resultType, 'input_required', JSON.stringify(r));
      return { id: firstInputRequest(r).params.elicitationId, state: r.result.requestState };
    };
    const retry = (note: string, state: string) =>
      rpc(bob, 'tools/call', { name: 'rec__other', arguments: { note }, requestState: state }, g.url);
    const decide = async (token: string, id: string) => {
      const d = await submitDecision(g.url, token, id, 'approve');
      return [d.page.status, d.answer.status];
    };

    const note = `bare-${randomUUID()}`;
    const { id, state } = await ask(note);
    assert.deepEqual(await decide(aliceKey, id), [404, 404], 'the key made for alice does not see it, nor decide it');
    const direct = await g.gw.approvals.decide(
      id,
      { key: 'k', subject: 'alice', tenant: 'acme', roles: [], issuer: 'gatehouse', person: true },
      'approve',
      undefined,
    );
    assert.deepEqual([direct.ok, !direct.ok && direct.code], [false, 'not_an_approver']);
    assert.equal((await g.gw.approvals.get(id))?.status, 'pending');
    const early = await retry(note, state);
    assert.equal(early.error?.data.code, 'not_approved', JSON.stringify(early));
    assert.equal(ran(note), 0, 'nothing reached the upstream');
    assert.deepEqual(await decide(alice, id), [200, 200], "the identity provider's alice may");
    assert.equal((await retry(note, state)).result?.resultType, 'complete');
    assert.equal(ran(note), 1);

    const named = `named-${randomUUID()}`;
    const second = await ask(named);
    assert.deepEqual(
      await decide(carolKey, second.id),
      [200, 200],
      'a key named as `{ issuer: gatehouse, subject: carol }` may',
    );
    assert.equal((await retry(named, second.state)).result?.resultType, 'complete');
    assert.equal(ran(named), 1);
  } finally {
    await g.close();
    await idp.stop();
  }
});
