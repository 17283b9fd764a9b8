/**
 * Caps per principal and per tenant, tried as a hostile tenant would: legacy sessions, pending
 * approvals, listen streams and held calls (a legacy upstream's question waiting for a modern caller's answer). Two tenants' identity providers (the real oidc-provider for acme and globex, a second
 * issuer with its own key for acme's SSO) and API keys. One principal cannot take its tenant's whole
 * share, one tenant cannot take another's, and the errors say which cap was reached.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ROOT, createKey, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import {
  initializeRequest,
  modernMeta,
  postLegacy,
  postModern,
  postModernCall,
  replyOf,
  type Reply,
} from './support/rpc.ts';
import { freePort } from './support/processes.ts';
import { eventually } from './support/eventually.ts';
import { startOidcProvider, type OidcFixture } from './fixtures/oidc/provider.ts';
import { startSecondIssuer, type SecondIssuer } from './fixtures/oidc/second-issuer.ts';
import { legacyHttp, type TestServer } from './fixtures/upstreams/sdk-http-servers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-caps-'));
let oidc: OidcFixture;
let sso: SecondIssuer;
let t: TestGateway;
let web: TestServer;
const tokens: Record<string, string> = {};

before(async () => {
  const rec = join(tmp, 'rec.jsonl');
  writeFileSync(rec, '');
  writeFileSync(
    join(tmp, 'policy.yaml'),
    'rules:\n  - id: writes-need-a-lead\n    tools: [rec__other]\n    effect: approve\n    approvers: { roles: [lead] }\n  - id: reads\n    tools: [rec__record, web__ask]\n    effect: allow\n',
  );
  web = await legacyHttp();
  const port = await freePort();
  const resource = `http://127.0.0.1:${port}/mcp`;
  oidc = await startOidcProvider({ resource, scopes: ['mcp:tools'] });
  sso = await startSecondIssuer(resource);
  t = await startGateway(
    stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(rec)} }\n    tools: { other: { class: WRITE }, record: { class: READ } }\n` +
      `  - { name: web, transport: http, url: ${JSON.stringify(web.url)}, tools: { ask: { class: READ } } }\n`,
    {
      port,
      gateway:
        '  maxSessionsPerPrincipal: 3\n  maxSessionsPerTenant: 5\n  maxHeldCallsPerPrincipal: 2\n  maxHeldCallsPerTenant: 3\n' +
        '  maxListenStreamsPerPrincipal: 2\n  maxListenStreamsPerTenant: 3\n',
      top:
        `identity:\n  resource: ${resource}\n  issuers:\n    - { issuer: ${JSON.stringify(oidc.issuer)}, tenants: [acme, globex] }\n    - { issuer: ${JSON.stringify(sso.issuer)}, tenant: acme }\n` +
        `policy: { files: [${JSON.stringify(join(tmp, 'policy.yaml'))}] }\napprovals: { maxPendingPerPrincipal: 2, maxPendingPerTenant: 3 }\n`,
    },
  );
  const cc = (id: string) =>
    oidc.clientCredentialsToken(id, oidc.clients.find((c) => c.id === id)!.secret, 'mcp:tools');
  tokens.acmeBot = await cc('agent-a');
  tokens.globexBot = await cc('agent-b');
  for (const who of ['ann', 'art', 'amy'])
    tokens[who] = await sso.mint({ scope: 'mcp:tools' }, { subject: who, ttlSec: 900 });
  for (const name of ['acme-key', 'globex-key']) {
    tokens[name] = await createKey(t.file, { name, tenant: name.split('-')[0], scopes: 'mcp:tools' });
  }
});
after(async () => {
  await t?.close();
  await oidc?.stop();
  await sso?.stop();
  await web?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function initialize(
  who: string,
  capabilities?: Record<string, unknown>,
): Promise<{ status: number; session: string | null; message?: string }> {
  const r = await postLegacy(t.url, initializeRequest('c', { capabilities }), { token: tokens[who] });
  const body = (await r.json()) as { error?: { message: string } };
  return { status: r.status, session: r.headers.get('mcp-session-id'), message: body.error?.message };
}
const end = (who: string, session: string) =>
  fetch(`${t.url}/mcp`, {
    method: 'DELETE',
    headers: { 'mcp-session-id': session, authorization: `Bearer ${tokens[who]}` },
  });

test('sessions: capped per principal and per tenant; another tenant is not affected; an ended session frees its place', async () => {
  const mine: string[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await initialize('ann');
    assert.equal(r.status, 200);
    mine.push(r.session!);
  }
  const fourth = await initialize('ann');
  assert.equal(fourth.status, 429);
  assert.match(fourth.message!, /too many open sessions for you \(at most 3\)/);
  assert.equal((await initialize('art')).status, 200);
  assert.equal((await initialize('acme-key')).status, 200);
  const full = await initialize('amy');
  assert.equal(full.status, 429, 'acme has its 5');
  assert.match(full.message!, /too many open sessions in tenant `acme` \(at most 5\)/);
  assert.equal((await initialize('acmeBot')).status, 429, "acme's other issuer shares acme's cap");
  for (const who of ['globexBot', 'globex-key'])
    assert.equal((await initialize(who)).status, 200, `${who}: globex is not affected`);
  assert.equal((await end('ann', mine[0])).status, 204);
  assert.equal((await initialize('amy')).status, 200, 'an ended session frees a place');
  // A client describing itself with a megabyte is refused before anything is kept.
  const big = await initialize('globexBot', { experimental: { pad: 'x'.repeat(1024 * 1024) } });
  assert.equal(big.status, 400);
  assert.match(big.message!, /larger than 64 KiB/);
});

async function write(who: string): Promise<Reply> {
  return replyOf(await postModernCall(t.url, 'rec__other', { note: randomUUID() }, { token: tokens[who] }));
}

test('pending approvals: capped per principal and per tenant, with errors that say which; another tenant still asks', async () => {
  assert.equal((await write('ann')).result?.resultType, 'input_required');
  assert.equal((await write('ann')).result?.resultType, 'input_required');
  const third = await write('ann');
  assert.match(third.error?.message ?? '', /too many of your calls are waiting for approval/);
  assert.equal((await write('art')).result?.resultType, 'input_required');
  const tenantFull = await write('amy');
  assert.match(
    tenantFull.error?.message ?? '',
    /too many calls of tenant `acme` are waiting for approval \(at most 3\)/,
  );
  assert.equal((await write('globexBot')).result?.resultType, 'input_required', 'globex still asks');
  assert.equal(await t.gw.store.approvals.countPendingTenant('acme', Date.now()), 3);
});

async function ask(who: string): Promise<{ status: number; body: Reply }> {
  const r = await postModernCall(t.url, 'web__ask', {}, { token: tokens[who], capabilities: { elicitation: {} } });
  return { status: r.status, body: await replyOf(r) };
}

test("held calls: one principal's unanswered questions, then one tenant's, reach their caps; another tenant's calls still wait", async () => {
  for (let i = 0; i < 2; i++) {
    const r = await ask('ann');
    assert.equal(r.body.result?.resultType, 'input_required', JSON.stringify(r));
  }
  const mine = await ask('ann');
  assert.equal(mine.status, 429);
  assert.match(mine.body.error.message, /too many of your calls are waiting for client input \(at most 2\)/);
  assert.equal((await ask('art')).body.result?.resultType, 'input_required');
  const tenant = await ask('amy');
  assert.equal(tenant.status, 429);
  assert.match(tenant.body.error.message, /too many calls of tenant `acme` are waiting for client input \(at most 3\)/);
  assert.equal((await ask('acmeBot')).status, 429, "acme's other issuer shares acme's cap");
  for (const who of ['globexBot', 'globex-key'])
    assert.equal((await ask(who)).body.result?.resultType, 'input_required', `${who}: globex still asks`);
});

/** Opens a 2026-07-28 `subscriptions/listen` stream as `who`: its status, error, and how to close it. */
async function listenAs(who: string): Promise<{ status: number; message?: string; close: () => void }> {
  const ac = new AbortController();
  const params = { notifications: { toolsListChanged: true }, _meta: modernMeta() };
  const r = await postModern(t.url, 'subscriptions/listen', params, { token: tokens[who], signal: ac.signal });
  if (r.headers.get('content-type')?.startsWith('text/event-stream')) {
    const reader = r.body!.getReader();
    await reader.read(); // the acknowledgement: the stream is open
    return { status: r.status, close: () => ac.abort() };
  }
  const body = (await r.json()) as { error?: { message: string } };
  return { status: r.status, message: body.error?.message, close: () => {} };
}

test('listen streams: capped per principal and per tenant; another tenant is not affected; a closed stream frees its place', async () => {
  const open: Array<{ close: () => void }> = [];
  try {
    for (let i = 0; i < 2; i++) open.push(await listenAs('ann'));
    const mine = await listenAs('ann');
    assert.equal(mine.status, 429);
    assert.match(mine.message ?? '', /too many open listen streams for you \(at most 2\)/);
    open.push(await listenAs('art'));
    const tenant = await listenAs('amy');
    assert.equal(tenant.status, 429);
    assert.match(tenant.message ?? '', /too many open listen streams in tenant `acme` \(at most 3\)/);
    const other = await listenAs('globexBot');
    assert.equal(other.status, 200, other.message);
    open.push(other);
    open.shift()?.close();
    await eventually(async () => {
      const again = await listenAs('amy');
      if (again.status !== 200) return false;
      open.push(again);
      return true;
    });
  } finally {
    for (const s of open) s.close();
  }
});
