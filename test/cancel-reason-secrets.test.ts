/**
 * A caller's cancel reason goes upstream (`notifications/cancelled`'s `reason`) only when it carries no
 * credential: walk V finding F3. Before, only the injected values of the gateway's tenants were cut
 * out of it (`[REDACTED:credential]`) and a GitHub token or an AWS key in it reached the upstream as
 * the caller wrote it. Now a reason carrying any credential the `secret:outbound` check knows is not
 * passed on at all: the upstream is told the generic text, and the call's outcome record says why
 * (the kinds, never the value).
 *
 * Real parts: one gateway in front of the recording stdio server (every message it receives is
 * appended to a file), two tenants with a canary credential each (env API_TOKEN), an SDK v1
 * (2025-11-25) client aborting its call with a reason, raw 2025-11-25 notifications, a 2026-07-28
 * caller over HTTP (it cancels by closing its stream: no reason of its own goes) and over the stdio
 * listener (it sends notifications/cancelled with a reason).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ROOT, createKey, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { localSecrets } from './support/secrets.ts';
import { eventually } from './support/eventually.ts';
import { modernMeta, openLegacySession, postLegacy, postModern, postModernCall } from './support/rpc.ts';
import { stdioClient } from './support/stdio.ts';

const CANARY = {
  acme: `cancel-canary-acme-${randomBytes(6).toString('hex')}`,
  globex: `cancel-canary-globex-${randomBytes(6).toString('hex')}`,
};
const GHP = `ghp_${'Q1w2E3r4T5'.repeat(4)}`;
const AKIA = 'AKIAIOSFODNN7EXAMPLE';
const SECRETS = [CANARY.globex, CANARY.acme, GHP, AKIA, GHP.slice(4, 24)];
const GENERIC = 'cancelled by the client';
const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-cancel-reason-'));
const rec = join(tmp, 'rec.jsonl');
let t: TestGateway;
const keys: Record<string, string> = {};
const stdio = stdioClient<{ id?: number; result?: unknown; error?: unknown }>();

before(async () => {
  t = await startGateway(
    `${stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts'))}    env: { RECORD_FILE: ${JSON.stringify(rec)} }\n` +
      '    credentials: { env: { API_TOKEN: "local:cancel-key-{tenant}" }, discoveryTenant: acme }\n' +
      '    tools: { slow: { class: READ }, record: { class: READ } }\n',
    {
      top: 'identity: { apiKeys: true }\ninventory: { newTools: accept }\n',
      before: async (stateDir) => {
        const secrets = await localSecrets(stateDir);
        for (const [tenant, value] of Object.entries(CANARY)) await secrets.set(`cancel-key-${tenant}`, value);
        // The stdio listener's caller is of the default tenant.
        await secrets.set('cancel-key-default', `cancel-canary-default-${randomBytes(6).toString('hex')}`);
      },
    },
  );
  for (const tenant of ['acme', 'globex']) keys[tenant] = await createKey(t.file, { name: tenant, tenant });
  // Both tenants' connections run (each holds its canary): every value is one the gateway knows.
  for (const tenant of ['globex', 'acme']) {
    const r = await postModernCall(t.url, 'rec__record', { note: 'x' }, { token: keys[tenant] });
    assert.equal(r.status, 200, await r.text());
  }
  stdio.serve(() => t.gw.endpoint);
});
after(async () => {
  await stdio.close();
  await t?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** The lines the upstream received, parsed. */
const received = () =>
  readFileSync(rec, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { id?: unknown; method?: string; params?: Record<string, unknown> });

/** Wait until the upstream received a `slow` call of `ms` (each test its own), and return its id. */
async function slowArrived(ms: number): Promise<unknown> {
  const m = await eventually(
    () => received().find((x) => x.method === 'tools/call' && (x.params?.arguments as { ms?: number })?.ms === ms),
    { timeoutMs: 10_000 },
  );
  return m.id;
}

/** What the upstream was told of its request `id` being cancelled. */
async function toldOf(id: unknown): Promise<string> {
  const m = await eventually(
    () => received().find((x) => x.method === 'notifications/cancelled' && x.params?.requestId === id),
    { timeoutMs: 10_000 },
  );
  return String(m.params?.reason);
}

function noSecretReached(): void {
  // As the upstream would read it: whatever mark split a token, the token is what it shows.
  const got = readFileSync(rec, 'utf8').replace(/\\u(034f|fe0f|200b|d800)|[\u034f\ufe0f\u200b]/gi, '');
  for (const s of SECRETS) assert.ok(!got.includes(s), `the upstream received ${s.slice(0, 8)}…`);
}

/** The outcome record of the `slow` call of `ms`, once written. */
async function outcomeOf(ms: number) {
  return eventually(
    async () => {
      const records = (await t.gw.store.audit.read({ kind: 'call.outcome', limit: 10_000 })).map((r) => r.event);
      // Each test's call has arguments of its own: their hash (RFC 8785 JSON, here JSON.stringify's) finds it.
      const hash = `sha256:${createHash('sha256').update(JSON.stringify({ ms })).digest('hex')}`;
      return records.find((e) => e.tool === 'rec__slow' && e.argsHash === hash);
    },
    { timeoutMs: 10_000 },
  );
}
const reasonsOf = (e: { decision?: unknown }) => (e.decision as { reasons?: string[] } | undefined)?.reasons ?? [];
const WITHHELD = /the client's cancel reason carries a credential \(([^)]*)\): not passed on \(secret:outbound\)/;

test('an SDK v1 client aborting its call with a reason holding a GitHub token, an AWS key and another tenant canary: the upstream is told the generic text; the outcome record says why', async () => {
  const x = new Client({ name: 'cancel-acme', version: '1' });
  await x.connect(
    new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${keys.acme}` } },
    }),
  );
  try {
    const ctl = new AbortController();
    const call = x.callTool({ name: 'rec__slow', arguments: { ms: 5001 } }, undefined, { signal: ctl.signal });
    const id = await slowArrived(5001);
    ctl.abort(`token ${GHP} other ${CANARY.globex} aws ${AKIA}`);
    await assert.rejects(call);
    assert.equal(await toldOf(id), GENERIC);
    noSecretReached();
    const e = await outcomeOf(5001);
    const why = reasonsOf(e).find((r) => WITHHELD.test(r));
    assert.ok(why, JSON.stringify(reasonsOf(e)));
    assert.match(why, /github-token/);
    assert.match(why, /aws-access-key/);
    assert.match(why, /injected credential/);
    for (const s of SECRETS) assert.ok(!JSON.stringify(e).includes(s), JSON.stringify(e));
  } finally {
    await x.close();
  }
});

for (const [what, reason, ms] of [
  ['a GitHub token', `stop: ${GHP}`, 5002],
  ['an AWS key', `aws ${AKIA} please`, 5003],
  ["another tenant's canary", `other ${CANARY.globex}`, 5004],
  ["the caller's own tenant's canary, base64", Buffer.from(CANARY.acme).toString('base64'), 5005],
  ['a GitHub token split by a zero-width space', `t ${GHP.slice(0, 14)}\u200b${GHP.slice(14)}`, 5006],
  ['a GitHub token split by U+034F (a combining mark)', `t ${GHP.slice(0, 14)}\u034f${GHP.slice(14)}`, 5010],
  ['an AWS key split by a variation selector', `aws AKIA\ufe0f${AKIA.slice(4)}`, 5011],
  ['a GitHub token split by a lone surrogate', `t ${GHP.slice(0, 14)}\ud800${GHP.slice(14)}`, 5012],
] as const)
  test(`a raw 2025-11-25 notifications/cancelled whose reason holds ${what}: not passed on`, async () => {
    const sid = await openLegacySession(t.url, 'raw-acme', { token: keys.acme, initialized: true });
    const rid = `slow-${ms}`;
    const call = postLegacy(
      t.url,
      { jsonrpc: '2.0', id: rid, method: 'tools/call', params: { name: 'rec__slow', arguments: { ms } } },
      { sid, token: keys.acme },
    ).then((r) => r.text());
    const id = await slowArrived(ms);
    const n = await postLegacy(
      t.url,
      { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: rid, reason } },
      { sid, token: keys.acme },
    );
    assert.equal(n.status, 202, await n.text());
    assert.equal(await toldOf(id), GENERIC);
    noSecretReached();
    assert.ok(reasonsOf(await outcomeOf(ms)).some((r) => WITHHELD.test(r)));
    await call.catch(() => {});
  });

test('a plain reason still reaches the upstream as the caller wrote it (and the outcome record adds nothing)', async () => {
  const sid = await openLegacySession(t.url, 'plain-acme', { token: keys.acme, initialized: true });
  const call = postLegacy(
    t.url,
    { jsonrpc: '2.0', id: 'plain', method: 'tools/call', params: { name: 'rec__slow', arguments: { ms: 5007 } } },
    { sid, token: keys.acme },
  ).then((r) => r.text());
  const id = await slowArrived(5007);
  await postLegacy(
    t.url,
    { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'plain', reason: 'user pressed stop' } },
    { sid, token: keys.acme },
  );
  assert.equal(await toldOf(id), 'user pressed stop');
  assert.ok(!reasonsOf(await outcomeOf(5007)).some((r) => WITHHELD.test(r)));
  await call.catch(() => {});
});

test('tools/call arguments holding a GitHub token or an AWS key split by an invisible mark are refused (secret:outbound), for both tenants; the plain text still goes', async () => {
  for (const tenant of ['acme', 'globex'])
    for (const note of [
      `t ${GHP.slice(0, 14)}\u034f${GHP.slice(14)}`,
      `aws AKIA\ufe0f${AKIA.slice(4)}`,
      `aws AKIA\u200b\u0301${AKIA.slice(4)}`,
    ]) {
      const r = await postModernCall(t.url, 'rec__record', { note }, { token: keys[tenant] });
      const reply = JSON.parse(await r.text());
      assert.equal(reply.error?.code, -32001, JSON.stringify(reply));
      assert.match(reply.error.message, /secret:outbound/);
    }
  noSecretReached();
  const ok = await postModernCall(t.url, 'rec__record', { note: 'café, nai\u0308ve \u034f' }, { token: keys.acme });
  assert.equal(JSON.parse(await ok.text()).error, undefined);
  assert.ok(readFileSync(rec, 'utf8').includes('café, nai\u0308ve \u034f'), 'forwarded as written');
});

test('a reason holding a lone UTF-16 surrogate reaches the upstream with U+FFFD in its place (a notification cannot be refused)', async () => {
  const sid = await openLegacySession(t.url, 'lone-acme', { token: keys.acme, initialized: true });
  const call = postLegacy(
    t.url,
    { jsonrpc: '2.0', id: 'lone', method: 'tools/call', params: { name: 'rec__slow', arguments: { ms: 5013 } } },
    { sid, token: keys.acme },
  ).then((r) => r.text());
  const id = await slowArrived(5013);
  await postLegacy(
    t.url,
    { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'lone', reason: 'stop \ud800 now' } },
    { sid, token: keys.acme },
  );
  assert.equal(await toldOf(id), 'stop \ufffd now');
  assert.doesNotMatch(readFileSync(rec, 'utf8'), /\\ud[89a-f][0-9a-f]{2}|[\ud800-\udfff]/i);
  await call.catch(() => {});
});

test('2026-07-28 over HTTP: the caller cancels by closing its stream; a notifications/cancelled it posts with a token reaches nothing', async () => {
  const ctl = new AbortController();
  const call = postModernCall(
    t.url,
    'rec__slow',
    { ms: 5008 },
    { token: keys.globex, id: 'modern-slow', signal: ctl.signal },
  );
  const id = await slowArrived(5008);
  const n = await postModern(
    t.url,
    'notifications/cancelled',
    { requestId: 'modern-slow', reason: `token ${GHP}`, _meta: modernMeta() },
    { token: keys.globex },
  );
  await n.text();
  ctl.abort();
  await call.catch(() => {});
  assert.equal(await toldOf(id), GENERIC);
  noSecretReached();
});

test('2026-07-28 over the stdio listener: notifications/cancelled with a GitHub token in its reason tells the upstream the generic text', async () => {
  stdio.input.write(
    `${JSON.stringify({ jsonrpc: '2.0', id: 40, method: 'tools/call', params: { name: 'rec__slow', arguments: { ms: 5009 }, _meta: modernMeta() } })}\n`,
  );
  const id = await slowArrived(5009);
  stdio.input.write(
    `${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 40, reason: `token ${GHP} ${AKIA}` } })}\n`,
  );
  assert.equal(await toldOf(id), GENERIC);
  noSecretReached();
  assert.ok(reasonsOf(await outcomeOf(5009)).some((r) => WITHHELD.test(r)));
});
