/**
 * Approvals and revocations across three replicas behind nginx (API keys, the approvals policy of
 * test/approvals.test.ts): a call held on one replica (waiting for its decision) is approved on the
 * page through whichever replicas nginx picks (the CSRF token from one, the POST to another) and runs
 * once where it waits; the approval is then refused on every replica; a key or a person revoked from
 * the CLI is refused by every replica.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { ROOT, createKey, runCli } from './support/gateway.ts';
import pg from 'pg';
import { pgTestUrl } from './support/services.ts';
import { deployment, recordedCalls, rpcBody, waitFor } from './support/scale-out.ts';
import { submitDecision } from './support/approval-page.ts';
import { openLegacySession, postLegacy } from './support/rpc.ts';

const keys: Record<string, string> = {};
const d = deployment(
  'scale-appr',
  'a',
  {
    limitRules: '    - { id: unused, scope: tool, tools: [rec__slow], rate: { points: 100, perSeconds: 60 } }\n',
    top: `identity: { apiKeys: true }\npolicy: { files: [${JSON.stringify(join(ROOT, 'test/fixtures/policy/approvals.yaml'))}] }\napprovals: { waitSeconds: 30 }\n`,
  },
  async ({ replicas, opts }) => {
    for (const [name, roles] of [
      ['agent', 'agent'],
      ['lead', 'lead'],
    ]) {
      keys[name] = await createKey(replicas[0].file, {
        name,
        tenant: 'acme',
        person: name,
        roles,
        scopes: 'x',
        env: { GATEHOUSE_SECRETS_KEY: opts.secretsKey },
      });
    }
  },
);
const { opts, replicas, usable } = d;

const session = (base: string, who: string) => openLegacySession(base, 'l', { token: keys[who] });

async function call(
  base: string,
  who: string,
  sid: string,
  name: string,
  args: Record<string, unknown>,
  meta: Record<string, unknown> = {},
) {
  const call = {
    jsonrpc: '2.0',
    id: randomUUID(),
    method: 'tools/call',
    params: { name, arguments: args, _meta: meta },
  };
  const r = await postLegacy(base, call, { sid, token: keys[who] });
  return {
    status: r.status,
    replica: r.headers.get('x-gatehouse-replica'),
    body: r.status === 200 ? await rpcBody(r) : { error: { code: r.status, message: await r.text() } },
  };
}

test('a call held on one replica is approved through two others, runs once where it waits, and the approval is then used up everywhere', async (t) => {
  if (!(await usable(t))) return;
  const [a] = replicas;
  const sid = await session(a.url, 'agent');
  const note = `held-${randomUUID()}`;
  // Held on replica A (approvals.waitSeconds): A polls the store for the decision.
  const held = call(a.url, 'agent', sid, 'rec__other', { note });
  let id = '';
  await waitFor(
    'the pending approval',
    async () => {
      const c = new pg.Client({ connectionString: pgTestUrl() });
      await c.connect();
      try {
        const r = await c.query(`select id from "${opts.schema}".approvals where status = 'pending'`);
        id = (r.rows[0] as { id?: string } | undefined)?.id ?? '';
      } finally {
        await c.end();
      }
      return id !== '';
    },
    10_000,
  );

  // The page through nginx: GET on one replica, POST on the next (round robin); the CSRF token holds.
  const decision = await submitDecision(d.lb!.url, keys.lead, id, 'approve', 'ok');
  assert.match(decision.pageHtml, /name="csrf" value="[^"]+"/, decision.pageHtml.slice(0, 500));
  const decided = decision.html;
  assert.equal(decision.answer.status, 200, decided);
  assert.notEqual(
    decision.page.headers.get('x-gatehouse-replica'),
    decision.answer.headers.get('x-gatehouse-replica'),
    'decided on another replica than the page was served by',
  );
  assert.match(decided, /approved by lead/);

  const answer = await held;
  assert.ok(answer.body.result && !answer.body.result.isError, JSON.stringify(answer.body));
  assert.match(JSON.stringify(answer.body.result), new RegExp(note));

  // The same approval presented on every replica at once, twice each: all refused (used once, on A).
  const replays = await Promise.all(
    replicas
      .flatMap((r) => [r, r])
      .map((r) => call(r.url, 'agent', sid, 'rec__other', { note }, { 'io.gatehouse/approval': id })),
  );
  assert.ok(
    replays.every((r) => r.body.error),
    JSON.stringify(replays.map((r) => r.body)),
  );
  assert.equal(recordedCalls(opts.recordFile).filter((c) => c.arguments.note === note).length, 1, 'executed once');
});

test('an API key revoked from the CLI is refused by every replica', async (t) => {
  if (!(await usable(t))) return;
  const sids = await Promise.all(replicas.map((r) => session(r.url, 'agent')));
  for (const [i, r] of replicas.entries())
    assert.ok((await call(r.url, 'agent', sids[i], 'rec__record', { note: `before-${r.name}` })).body.result);
  const revoked = await runCli(['keys', 'revoke', 'agent', '--by', 'drill', '-c', replicas[0].file], {
    env: { GATEHOUSE_SECRETS_KEY: opts.secretsKey },
  });
  assert.equal(revoked.code, 0, revoked.stderr);
  for (const [i, r] of replicas.entries()) {
    await waitFor(
      `${r.name} to refuse the revoked key`,
      async () => (await call(r.url, 'agent', sids[i], 'rec__record', { note: `after-${r.name}` })).status === 401,
      2000,
    );
  }
  assert.equal(recordedCalls(opts.recordFile).filter((c) => String(c.arguments.note).startsWith('after-')).length, 0);
});

test('a person revoked from the CLI (principals revoke) is refused by every replica, API keys acting for them included', async (t) => {
  if (!(await usable(t))) return;
  keys.helper = await createKey(replicas[1].file, {
    name: 'helper',
    tenant: 'acme',
    person: 'helper-person',
    roles: 'agent',
    scopes: 'x',
    env: { GATEHOUSE_SECRETS_KEY: opts.secretsKey },
  });
  const sids = await Promise.all(replicas.map((r) => session(r.url, 'helper')));
  const revoked = await runCli(
    ['principals', 'revoke', '--subject', 'helper-person', '--reason', 'drill', '-c', replicas[2].file],
    { env: { GATEHOUSE_SECRETS_KEY: opts.secretsKey } },
  );
  assert.equal(revoked.code, 0, revoked.stderr);
  const t0 = Date.now();
  for (const [i, r] of replicas.entries()) {
    await waitFor(
      `${r.name} to refuse the revoked person`,
      async () => (await call(r.url, 'helper', sids[i], 'rec__record', { note: `revoked-${r.name}` })).status === 401,
      2000,
    );
  }
  t.diagnostic(`refused on all three within ${Date.now() - t0} ms of the command's return`);
});
