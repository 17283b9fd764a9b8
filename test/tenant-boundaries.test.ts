/**
 * Tenant and authority boundaries, tried as a hostile tenant would: two tenants' identity providers
 * (the real oidc-provider, bound to acme and globex by the tenant claim, and a second issuer with its
 * own signing key, bound to initech alone), API keys, and the admin api. A token that names a tenant
 * its issuer does not serve is refused and recorded; token principals are revoked like API keys;
 * admins see their own tenant; destructive audit operations need two people.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, importJWK } from 'jose';
import { ROOT, createKey, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { linesWith } from './support/lines.ts';
import { postModernCall, replyOf, type Reply } from './support/rpc.ts';
import { freePort } from './support/processes.ts';
import { eventually } from './support/eventually.ts';
import { startOidcProvider, type OidcFixture } from './fixtures/oidc/provider.ts';
import { startSecondIssuer, type SecondIssuer } from './fixtures/oidc/second-issuer.ts';
import { Authenticator } from '../src/identity/authenticator.ts';
import type { AuditEvent } from '../src/model/audit-event.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-boundaries-'));
const rec = join(tmp, 'rec.jsonl');
writeFileSync(rec, '');
let oidc: OidcFixture;
let idp2: SecondIssuer;
let t: TestGateway;
let resource = '';
const SCOPE = 'mcp:tools mcp:read';
const SCRAPE = 'scrape-0123456789abcdef0123';
const secret = (id: string) => oidc.clients.find((c) => c.id === id)!.secret;
const oidcToken = (id: string) => oidc.clientCredentialsToken(id, secret(id), SCOPE);
const calls = () => linesWith(rec, '"tools/call"');

before(async () => {
  const port = await freePort();
  resource = `http://127.0.0.1:${port}/mcp`;
  oidc = await startOidcProvider({ resource, scopes: ['mcp:tools', 'mcp:read'] });
  idp2 = await startSecondIssuer(resource);
  t = await startGateway(
    stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(rec)} }\n    tools: { record: { class: READ }, other: { class: READ } }\n`,
    {
      port,
      gateway: `  metricsToken: ${SCRAPE}\n`,
      top:
        `identity:\n  resource: ${resource}\n  issuers:\n` +
        `    - { issuer: ${JSON.stringify(oidc.issuer)}, tenants: [acme, globex] }\n` +
        `    - { issuer: ${JSON.stringify(idp2.issuer)}, tenant: initech }\n` +
        '  requiredScopes: { mcp: [mcp:tools] }\n  adminRoles: [admin]\n',
    },
  );
});
after(async () => {
  await t?.close();
  await oidc?.stop();
  await idp2?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** A modern tools/call with this bearer token: the HTTP status and the body. */
async function call(token: string, note = 'hi'): Promise<{ status: number; body: Reply; challenge: string | null }> {
  const r = await postModernCall(t.url, 'rec__record', { note }, { token });
  return { status: r.status, body: await replyOf(r), challenge: r.headers.get('www-authenticate') };
}
const audit = async (q: Parameters<TestGateway['gw']['store']['audit']['read']>[0]): Promise<AuditEvent[]> =>
  (await t.gw.store.audit.read({ limit: 10_000, ...q })).map((r) => r.event);

test("a tenant's issuer cannot mint principals for another tenant: 401, nothing upstream, recorded", async () => {
  const before = calls();
  // initech's identity provider signs a perfectly valid token that says it is acme's.
  const hostile = await idp2.mint({ tenant: 'acme', scope: SCOPE, client_id: 'initech-bot' }, { subject: 'mallory' });
  const r = await call(hostile, 'cross-tenant');
  assert.equal(r.status, 401);
  assert.match(r.challenge ?? '', /invalid_token/);
  assert.match(r.challenge ?? '', /tenant not served by this issuer/);
  // The tenant-set issuer too: a token of the real provider, correctly signed, naming initech.
  const key = await importJWK(oidc.signingKey.privateJwk, 'ES256');
  const now = Math.floor(Date.now() / 1000);
  const forged = await new SignJWT({ tenant: 'initech', scope: SCOPE, client_id: 'agent-a' })
    .setProtectedHeader({ alg: 'ES256', kid: oidc.signingKey.kid, typ: 'at+jwt' })
    .setIssuer(oidc.issuer)
    .setAudience(resource)
    .setSubject('agent-a')
    .setIssuedAt(now)
    .setExpirationTime(now + 300)
    .sign(key);
  assert.equal((await call(forged)).status, 401);
  assert.equal(calls(), before, 'nothing reached the upstream');

  const refused = await eventually(
    async () => {
      const rows = (await audit({ kind: 'call.refused' })).filter(
        (e) => e.stage === 'authenticate' && e.detail?.reason === 'tenant not served by this issuer',
      );
      return rows.length >= 2 && rows;
    },
    { timeoutMs: 3000 },
  );
  const m = refused.find((e) => e.actor?.subject === 'mallory')!;
  assert.deepEqual(
    [m.actor?.issuer, m.actor?.tenant, m.error, m.outcome],
    [idp2.issuer, 'acme', 'E_INVALID_TOKEN', 'refused'],
  );
  assert.ok(refused.some((e) => e.actor?.issuer === oidc.issuer && e.actor?.tenant === 'initech'));
});

test('each issuer serves its own tenants: the fixed tenant without a claim, the claim within the set', async () => {
  const before = calls();
  assert.equal((await call(await idp2.mint({ scope: SCOPE }, { subject: 'ivy' }), 'initech-call')).status, 200);
  assert.equal((await call(await idp2.mint({ scope: SCOPE, tenant: 'initech' }, { subject: 'ivy' }))).status, 200);
  assert.equal((await call(await oidcToken('agent-a'), 'acme-call')).status, 200);
  assert.equal((await call(await oidcToken('agent-b'), 'globex-call')).status, 200);
  assert.equal(calls(), before + 4);
  const intents = await audit({ kind: 'call.intent' });
  assert.ok(
    intents.some((e) => e.actor?.subject === 'ivy' && e.actor.tenant === 'initech' && e.actor.issuer === idp2.issuer),
  );
  assert.ok(intents.some((e) => e.actor?.subject === 'agent-b' && e.actor.tenant === 'globex'));
});

test('issuers must be bound once there are several: an unbound one fails at start', () => {
  const base = {
    resource,
    resourceName: 'x',
    claims: { tenant: 'tenant', roles: 'roles', clientId: 'client_id' },
    requiredScopes: {},
    adminRoles: ['admin'],
    platformAdminRoles: ['p'],
    apiKeys: true,
    clockToleranceSec: 30,
  };
  assert.throws(
    () =>
      new Authenticator(
        { ...base, issuers: [{ issuer: oidc.issuer }, { issuer: idp2.issuer, tenant: 'initech' }] } as never,
        'never',
        t.gw.store.apiKeys,
      ),
    /not bound to a tenant/,
  );
  assert.throws(
    () =>
      new Authenticator(
        { ...base, issuers: [{ issuer: oidc.issuer, tenant: 'a', platform: true }] } as never,
        'never',
        t.gw.store.apiKeys,
      ),
    /more than one way/,
  );
});

test('token principals are revoked by subject and by token id, on the running gateway at its next revocation poll', async () => {
  const ivy = await idp2.mint({ scope: SCOPE }, { subject: 'ivy' });
  const other = await idp2.mint({ scope: SCOPE }, { subject: 'ian' });
  assert.equal((await call(ivy)).status, 200);
  const started = Date.now();
  const r = await runCli([
    'principals',
    'revoke',
    '--subject',
    'ivy',
    '--issuer',
    idp2.issuer,
    '--reason',
    'laptop stolen',
    '--by',
    'sec-team',
    '-c',
    t.file,
  ]);
  assert.equal(r.code, 0, r.stderr);
  // Gateways poll revocations every 500 ms: applied within a few polls of the command returning.
  await eventually(async () => (await call(ivy)).status === 401, { timeoutMs: 3000 });
  const refused = await call(await idp2.mint({ scope: SCOPE }, { subject: 'ivy' }));
  assert.equal(refused.status, 401, 'a fresh token of the same subject is refused too');
  assert.match(refused.challenge ?? '', /principal revoked/);
  assert.equal((await call(other)).status, 200, 'another subject of the same issuer is not');
  const listed = JSON.parse((await runCli(['principals', 'list', '--json', '-c', t.file])).stdout).revoked;
  assert.deepEqual(
    listed.map((x: { kind: string; value: string; revokedBy: string }) => [x.kind, x.value, x.revokedBy]),
    [['subject', 'ivy', 'sec-team']],
  );
  const recorded = (await audit({ kind: 'admin.action', since: started - 1000 })).find(
    (e) => e.detail?.action === 'principals.revoke',
  );
  assert.deepEqual(
    [recorded?.actor?.subject, recorded?.detail?.value, recorded?.detail?.reason],
    ['sec-team', 'ivy', 'laptop stolen'],
  );
  assert.equal(
    (await runCli(['principals', 'restore', '--subject', 'ivy', '--issuer', idp2.issuer, '-c', t.file])).code,
    0,
  );
  await eventually(async () => (await call(ivy)).status === 200, { timeoutMs: 1500 });

  // One token, by its id: the other tokens of the person keep working.
  const one = await idp2.mint({ scope: SCOPE }, { subject: 'ivy', jti: 'tok-1' });
  const two = await idp2.mint({ scope: SCOPE }, { subject: 'ivy', jti: 'tok-2' });
  assert.equal(
    (await runCli(['principals', 'revoke', '--token-id', 'tok-1', '--reason', 'leaked in a log', '-c', t.file])).code,
    0,
  );
  await eventually(async () => (await call(one)).status === 401, { timeoutMs: 1500 });
  assert.equal((await call(two)).status, 200);
  // A real provider's token (its jti is its own) revoked by id.
  const real = await oidcToken('agent-a');
  const jti = JSON.parse(Buffer.from(real.split('.')[1], 'base64url').toString()).jti as string;
  assert.equal(
    (await runCli(['principals', 'revoke', '--token-id', jti, '--issuer', oidc.issuer, '--reason', 'x', '-c', t.file]))
      .code,
    0,
  );
  await eventually(async () => (await call(real)).status === 401, { timeoutMs: 1500 });
  assert.equal((await call(await oidcToken('agent-a'))).status, 200, 'a new token of the same client is fine');
  assert.equal(
    (await runCli(['principals', 'revoke', '-c', t.file, '--reason', 'x'])).code,
    2,
    'a subject or a token id is required',
  );
});

test('a subject revoked for every issuer also stops the API keys that act for that person', async () => {
  const made = JSON.parse(
    (
      await runCli([
        'keys',
        'create',
        '-n',
        'ida-laptop',
        '-t',
        'initech',
        '-p',
        'ida',
        '-s',
        'mcp:tools,mcp:read',
        '--json',
        '-c',
        t.file,
      ])
    ).stdout,
  );
  assert.equal(made.person, 'ida');
  assert.equal((await call(made.key)).status, 200);
  assert.equal(
    (await runCli(['principals', 'revoke', '--subject', 'ida', '--reason', 'left the company', '-c', t.file])).code,
    0,
  );
  await eventually(async () => (await call(made.key)).status === 401, { timeoutMs: 1500 });
});

test('authentication failures are recorded aggregated: a flood of bad tokens is a few records that count it', async () => {
  // A window an earlier test's failures opened could end in the middle of the flood (a third record):
  // its summary is written now, before the flood, and is not counted below.
  t.gw.authFailures.flush();
  await new Promise((r) => setTimeout(r, 50));
  const since = Date.now();
  const bad = await idp2.mint({ scope: SCOPE }, { audience: 'http://127.0.0.1:1/elsewhere', subject: 'flood' });
  const results = await Promise.all(Array.from({ length: 60 }, () => call(bad)));
  assert.ok(results.every((r) => r.status === 401));
  t.gw.authFailures.flush();
  const rows = await eventually(
    async () => {
      const r = (await audit({ kind: 'call.refused', since })).filter(
        (e) => e.stage === 'authenticate' && e.detail?.reason === 'wrong audience',
      );
      return r.reduce((n, e) => n + Number(e.detail?.count), 0) === 60 && r;
    },
    { timeoutMs: 3000 },
  );
  assert.ok(rows.length <= 2, `${rows.length} records for 60 failures`);
});

/** A key made with the CLI: `gatehouse keys create` with these arguments. */
function key(name: string, tenant: string, roles: string, person?: string): Promise<string> {
  return createKey(t.file, { name, tenant, roles, person, scopes: 'mcp:tools,mcp:read' });
}
const admin = (path: string, token: string, init: RequestInit = {}) =>
  fetch(`${t.url}/admin/v1/${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
  });

test("admins are scoped: a tenant admin reads its own tenant's audit records only, and no gateway-wide operation", async () => {
  // Records in both tenants first.
  assert.equal((await call(await oidcToken('agent-a'), 'acme-secret-plan')).status, 200);
  assert.equal((await call(await oidcToken('agent-b'), 'globex-secret-plan')).status, 200);
  const globexRun = (await audit({ kind: 'call.intent', tenant: 'globex' })).at(-1)!.runId!;
  const acmeAdmin = await key('acme-admin', 'acme', 'admin', 'ann');
  const fromIdp = await oidcToken('admin'); // the real provider's admin client: role admin, tenant acme
  // initech's own issuer cannot make platform admins, whatever roles it writes.
  const initechBoss = await idp2.mint(
    { scope: SCOPE, roles: ['gatehouse-platform-admin', 'admin'] },
    { subject: 'boss' },
  );
  for (const [who, tok, tenant] of [
    ['acme key', acmeAdmin, 'acme'],
    ['acme idp admin', fromIdp, 'acme'],
    ['initech idp', initechBoss, 'initech'],
  ] as const) {
    const mine = await admin('audit/search?limit=5000', tok);
    assert.equal(mine.status, 200, who);
    const records = ((await mine.json()) as { records: AuditEvent[] }).records;
    assert.ok(
      records.every((e) => e.actor?.tenant === tenant),
      `${who}: only ${tenant}'s records`,
    );
    assert.ok(!JSON.stringify(records).includes('agent-b'), `${who}: nothing of globex's`);
    assert.equal(
      (await admin('audit/search?tenant=globex', tok)).status,
      403,
      `${who}: asking for another tenant is refused`,
    );
    assert.equal(
      (await admin(`audit/runs/${globexRun}`, tok)).status,
      404,
      `${who}: another tenant's run does not exist`,
    );
    assert.equal((await admin('audit/verify', tok)).status, 403, who);
    assert.equal((await admin('credentials', tok)).status, 403, who);
    assert.equal(
      (
        await admin('credentials/revoke', tok, {
          method: 'POST',
          body: JSON.stringify({ ref: 'local:x', reason: 'y' }),
        })
      ).status,
      403,
      who,
    );
    assert.equal(
      (
        await admin('audit/prune', tok, {
          method: 'POST',
          body: JSON.stringify({ olderThan: '2000-01-01T00:00:00Z', reason: 'y' }),
        })
      ).status,
      403,
      who,
    );
  }
  const acmeSearch = ((await (await admin('audit/search?limit=5000', acmeAdmin)).json()) as { records: AuditEvent[] })
    .records;
  assert.ok(
    acmeSearch.some((e) => JSON.stringify(e).includes('agent-a')),
    'its own records are there',
  );
  // A platform admin sees both tenants.
  const platform = await key('platform-pat', 'ops', 'gatehouse-platform-admin', 'pat');
  const all = ((await (await admin('audit/search?limit=5000', platform)).json()) as { records: AuditEvent[] }).records;
  assert.ok(all.some((e) => e.actor?.tenant === 'acme') && all.some((e) => e.actor?.tenant === 'globex'));
  assert.equal((await admin(`audit/runs/${globexRun}`, platform)).status, 200);
  assert.equal((await admin('audit/verify', platform)).status, 200);
  // Agents are not admins at all.
  assert.equal((await admin('inventory', await oidcToken('agent-a'))).status, 403);
});

/** A request with its target sent exactly as written (fetch would resolve `.` and `..` first): status and JSON body. */
function rawAt(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const u = new URL(t.url);
    const req = request(
      { host: u.hostname, port: u.port, method, path, headers: { host: u.host, ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('the admin api answers at its own spelling only: no other spelling of a path gets round its checks', async () => {
  const platform = await key('spelling-platform', 'ops', 'gatehouse-platform-admin', 'sol');
  const acme = await key('spelling-acme', 'acme', 'admin', 'sam');
  const as = (tok: string) => ({ authorization: `Bearer ${tok}` });
  const error = (code: string, message: string) => ({ error: { code, message } });
  const forbidden = error(
    'forbidden',
    'forbidden: this needs a platform admin; your admin role covers tenant `acme` only',
  );
  const unauthenticated = error('unauthenticated', 'authentication required: send a bearer token');
  // Its own spelling: each check in turn, each in the admin API's shape.
  const own = '/admin/v1/credentials';
  assert.deepEqual(await rawAt('GET', own, {}), { status: 401, body: unauthenticated });
  assert.deepEqual(await rawAt('GET', own, as(acme)), { status: 403, body: forbidden });
  const served = await rawAt('GET', own, as(platform));
  assert.equal(served.status, 200);
  assert.ok(Array.isArray((served.body as { revoked: unknown }).revoked));
  assert.deepEqual(await rawAt('GET', own, { ...as(platform), host: 'evil.example' }), {
    status: 403,
    body: error('host', 'host not allowed'),
  });
  // Under the prefix but resolving elsewhere: the admin API (authenticated first), and no resource —
  // not `credentials` reached past a proxy that guards `/admin/v1/credentials` by its spelling.
  for (const path of [
    '/admin/v1/inventory/../credentials',
    '/admin/v1/./credentials',
    '/admin/v1/%2e%2e/v1/credentials',
    '/admin/v1//credentials',
  ]) {
    assert.deepEqual(await rawAt('GET', path, {}), { status: 401, body: unauthenticated }, path);
    for (const tok of [acme, platform])
      assert.deepEqual(await rawAt('GET', path, as(tok)), { status: 404, body: error('not_found', 'not found') }, path);
  }
  // Not under the prefix: not the admin API at all (a plain 404, whoever asks), and the Host check
  // every GET passes still applies.
  for (const path of [
    '//admin/v1/credentials',
    '/admin//v1/credentials',
    '/./admin/v1/credentials',
    '/x/../admin/v1/credentials',
  ]) {
    for (const headers of [{}, as(acme), as(platform)])
      assert.deepEqual(await rawAt('GET', path, headers), { status: 404, body: { error: 'not found' } }, path);
    assert.equal((await rawAt('GET', path, { ...as(platform), host: 'evil.example' })).status, 403, path);
  }
  // An action by another spelling, from a page of another site: refused, and nothing revoked.
  const revoke = JSON.stringify({ ref: 'local:spelling', reason: 'by another spelling' });
  const post = { ...as(platform), 'content-type': 'application/json', origin: 'https://evil.example' };
  assert.deepEqual(await rawAt('POST', '/admin/v1/credentials/revoke', post, revoke), {
    status: 403,
    body: error('origin', 'origin not allowed'),
  });
  const sameSite = { ...post, origin: new URL(t.url).origin };
  assert.deepEqual(await rawAt('POST', '/admin/v1/x/../credentials/revoke', sameSite, revoke), {
    status: 405,
    body: error('method_not_allowed', 'method not allowed'),
  });
  assert.deepEqual(await rawAt('POST', '//admin/v1/credentials/revoke', sameSite, revoke), {
    status: 405,
    body: { error: 'method not allowed' },
  });
  assert.ok(!(await t.gw.store.revocations.list()).some((r) => r.ref === 'local:spelling'), 'nothing revoked');
});

test('pruning the audit trail needs two distinct people (not two credentials), through the api and the cli, and is recorded', async () => {
  const pat = await key('prune-pat', 'ops', 'gatehouse-platform-admin', 'pat2');
  const patAgain = await key('prune-pat-laptop', 'ops', 'gatehouse-platform-admin', 'pat2');
  const service = await key('prune-bot', 'ops', 'gatehouse-platform-admin');
  const pia = await key('prune-pia', 'ops', 'gatehouse-platform-admin', 'pia');
  const ask = await admin('audit/prune', pat, {
    method: 'POST',
    body: JSON.stringify({ olderThan: '2000-01-01T00:00:00Z', reason: 'retention cleanup' }),
  });
  assert.equal(ask.status, 202);
  const { request } = (await ask.json()) as { request: string };
  const confirm = (tok: string) => admin(`audit/prune/${request}/confirm`, tok, { method: 'POST' });
  assert.equal((await confirm(pat)).status, 403, 'the asker cannot confirm');
  assert.equal((await confirm(patAgain)).status, 403, 'nor can the same person with another key');
  assert.equal((await confirm(service)).status, 403, 'a service key is nobody');
  assert.equal(
    (await admin('audit/prune', service, { method: 'POST', body: JSON.stringify({ olderThan: '30d', reason: 'x' }) }))
      .status,
    403,
  );
  const done = await confirm(pia);
  assert.equal(done.status, 200);
  assert.deepEqual((await done.json()) as { requestedBy: string; confirmedBy: string }, {
    request,
    removed: 0,
    before: '2000-01-01T00:00:00.000Z',
    requestedBy: 'pat2',
    confirmedBy: 'pia',
  });
  assert.equal((await confirm(pia)).status, 403, 'once');
  const pruned = (await audit({ kind: 'audit.pruned' })).find((e) => e.detail?.request === request);
  assert.deepEqual(
    [pruned?.detail?.requestedBy, pruned?.detail?.confirmedBy, pruned?.actor?.subject],
    ['pat2', 'pia', 'pia'],
  );
  assert.ok(
    (await audit({ kind: 'admin.action' })).some(
      (e) =>
        e.detail?.action === 'audit.prune.requested' && e.detail.request === request && e.actor?.subject === 'pat2',
    ),
  );
  assert.ok(
    (await audit({ kind: 'admin.action' })).some(
      (e) => e.detail?.action === 'audit.prune.refused' && e.detail.request === request,
    ),
  );

  // The CLI: the same rule between the names given.
  const asked = await runCli([
    'audit',
    'prune',
    '--older-than',
    '2000-01-01T00:00:00Z',
    '--reason',
    'cleanup',
    '--by',
    'alice',
    '--json',
    '-c',
    t.file,
  ]);
  assert.equal(asked.code, 0, asked.stderr);
  const id = JSON.parse(asked.stdout).request as string;
  assert.equal((await runCli(['audit', 'prune', '--older-than', '30d', '-c', t.file])).code, 2, 'a reason is required');
  const self = await runCli(['audit', 'prune', '--confirm', id, '--by', 'alice', '-c', t.file]);
  assert.equal(self.code, 2);
  assert.match(self.stderr, /a second person must confirm/);
  const pending = JSON.parse((await runCli(['audit', 'prune', '--pending', '--json', '-c', t.file])).stdout).pending;
  assert.ok(pending.some((p: { id: string }) => p.id === id));
  const ok = await runCli(['audit', 'prune', '--confirm', id, '--by', 'bob', '--json', '-c', t.file]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual([JSON.parse(ok.stdout).requestedBy, JSON.parse(ok.stdout).confirmedBy], ['alice', 'bob']);
  assert.ok(
    (await audit({ kind: 'admin.action' })).some(
      (e) => e.detail?.action === 'audit.pruned' && e.detail.request === id && e.detail.confirmedBy === 'bob',
    ),
  );
});

test('shortening the audit retention needs two people: one person editing the config cannot make the gateway prune more', async () => {
  const guard = t.gw.audit.retentionGuard!;
  assert.equal(await guard(365), 365, 'the retention first seen is the baseline');
  assert.equal(await guard(3), 365, 'a shorter configured retention is held at the approved one');
  assert.equal(await guard(0), 0, 'longer (forever) is always fine');
  assert.equal(await guard(400), 400);
  const rita = await key('ret-rita', 'ops', 'gatehouse-platform-admin', 'rita');
  const raj = await key('ret-raj', 'ops', 'gatehouse-platform-admin', 'raj');
  const acmeAdmin = await key('ret-acme', 'acme', 'admin', 'ann2');
  assert.equal(
    (await admin('audit/retention', acmeAdmin, { method: 'POST', body: JSON.stringify({ days: 3, reason: 'x' }) }))
      .status,
    403,
    'not a tenant admin',
  );
  assert.equal(
    (await admin('audit/retention', rita, { method: 'POST', body: JSON.stringify({ days: -1, reason: 'x' }) })).status,
    400,
  );
  const ask = await admin('audit/retention', rita, {
    method: 'POST',
    body: JSON.stringify({ days: 30, reason: 'storage costs' }),
  });
  assert.equal(ask.status, 202);
  const { request } = (await ask.json()) as { request: string };
  assert.equal(await guard(3), 365, 'asked is not approved');
  assert.equal((await admin(`audit/retention/${request}/confirm`, rita, { method: 'POST' })).status, 403);
  assert.equal(
    (await admin(`audit/prune/${request}/confirm`, raj, { method: 'POST' })).status,
    403,
    'a retention request does not confirm a prune',
  );
  const ok = await admin(`audit/retention/${request}/confirm`, raj, { method: 'POST' });
  assert.equal(ok.status, 200);
  assert.equal(await guard(3), 30, 'now the floor is 30 days');
  assert.equal(await guard(365), 365, 'the config may still keep more');
  assert.ok(
    (await audit({ kind: 'admin.action' })).some(
      (e) =>
        e.detail?.action === 'audit.retention' &&
        e.detail.request === request &&
        e.detail.requestedBy === 'rita' &&
        e.detail.confirmedBy === 'raj',
    ),
  );
  // The CLI, the same way.
  const asked = JSON.parse(
    (await runCli(['audit', 'retention', '--days', '7', '--reason', 'r', '--by', 'carl', '--json', '-c', t.file]))
      .stdout,
  ).request as string;
  assert.equal((await runCli(['audit', 'retention', '--confirm', asked, '--by', 'carl', '-c', t.file])).code, 2);
  assert.equal((await runCli(['audit', 'retention', '--confirm', asked, '--by', 'dana', '-c', t.file])).code, 0);
  assert.equal(await guard(3), 7);
});

test('/metrics and /readyz need the scrape token; no user credential opens them; /healthz stays open', async () => {
  for (const path of ['/metrics', '/readyz']) {
    assert.equal((await fetch(`${t.url}${path}`)).status, 401, `${path} without a credential`);
    assert.equal(
      (await fetch(`${t.url}${path}`, { headers: { authorization: 'Bearer scrape-0123456789abcdef0124' } })).status,
      401,
      `${path} with a wrong token`,
    );
    assert.equal(
      (await fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${await oidcToken('admin')}` } })).status,
      401,
      `${path} with an admin's access token`,
    );
    const ok = await fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${SCRAPE}` } });
    assert.equal(ok.status, 200, path);
  }
  assert.match(
    await (await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${SCRAPE}` } })).text(),
    /gatehouse_/,
  );
  assert.equal((await fetch(`${t.url}/healthz`)).status, 200);
});

test('the CLI with --as acts as that verified credential: a tenant admin sees its own tenant, and the people rules hold', async () => {
  const cli = (...args: string[]) => runCli([...args, '-c', t.file]);
  const ann = await key('cli-acme-admin', 'acme', 'admin', 'ann3');
  const search = await cli('audit', 'search', '--json', '-n', '5000', '--as', ann);
  assert.equal(search.code, 0, search.stderr);
  const records = JSON.parse(search.stdout).records as AuditEvent[];
  assert.ok(records.length && records.every((e) => e.actor?.tenant === 'acme'), 'only acme');
  assert.equal((await cli('audit', 'search', '--tenant', 'globex', '--as', ann)).code, 2);
  const globexRun = (await audit({ kind: 'call.intent', tenant: 'globex' })).at(-1)!.runId!;
  assert.equal((await cli('audit', 'run', globexRun, '--as', ann)).code, 2, "another tenant's run does not exist");
  assert.equal((await cli('audit', 'run', globexRun)).code, 0, 'the operator sees it');
  assert.match((await cli('audit', 'verify', '--as', ann)).stderr, /needs a platform admin/);
  const exported = await cli('audit', 'export', '--as', ann);
  assert.ok(
    exported.stdout
      .trim()
      .split('\n')
      .every((l) => JSON.parse(l).actor?.tenant === 'acme'),
  );
  const listed = JSON.parse((await cli('keys', 'list', '--json', '--as', ann)).stdout).keys as Array<{
    tenant: string;
  }>;
  assert.ok(listed.length && listed.every((k) => k.tenant === 'acme'));
  assert.match((await cli('audit', 'search', '--as', await oidcToken('agent-a'))).stderr, /no admin role/);
  assert.match(
    (await cli('audit', 'search', '--as', 'ghk_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).stderr,
    /credential was refused/,
  );
  // Two people, verified: one person's second key is not a second person; a service key is nobody.
  const quinn = await key('cli-quinn', 'ops', 'gatehouse-platform-admin', 'quinn');
  const quinn2 = await key('cli-quinn-2', 'ops', 'gatehouse-platform-admin', 'quinn');
  const bot = await key('cli-bot', 'ops', 'gatehouse-platform-admin');
  const rita = await key('cli-rosa', 'ops', 'gatehouse-platform-admin', 'rosa');
  const asked = await cli(
    'audit',
    'prune',
    '--older-than',
    '2000-01-01T00:00:00Z',
    '--reason',
    'cli two people',
    '--by',
    'someone-else',
    '--json',
    '--as',
    quinn,
  );
  assert.equal(asked.code, 0, asked.stderr);
  const id = JSON.parse(asked.stdout).request as string;
  assert.match(
    (await cli('audit', 'prune', '--confirm', id, '--by', 'not-quinn', '--as', quinn2)).stderr,
    /a second person must confirm/,
    '--by cannot pretend',
  );
  assert.match((await cli('audit', 'prune', '--confirm', id, '--as', bot)).stderr, /service key/);
  assert.equal((await cli('audit', 'prune', '--confirm', id, '--as', ann)).code, 2, 'a tenant admin cannot');
  const ok = await cli('audit', 'prune', '--confirm', id, '--json', '--as', rita);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual([JSON.parse(ok.stdout).requestedBy, JSON.parse(ok.stdout).confirmedBy], ['quinn', 'rosa']);
});

test('a revocation applies on every gateway sharing the store, at their next revocation poll', async () => {
  const dir = mkdtempSync(join(tmp, 'shared-'));
  const storage = `storage: { sqlitePath: ${JSON.stringify(join(dir, 'shared.db'))} }\n`;
  const start = async () => {
    const port = await freePort();
    const res = `http://127.0.0.1:${port}/mcp`;
    const g = await startGateway(
      stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
        `    env: { RECORD_FILE: ${JSON.stringify(join(dir, `${port}.jsonl`))} }\n    tools: { record: { class: READ } }\n`,
      {
        port,
        storage,
        top: `identity:\n  resource: ${res}\n  issuers: [{ issuer: ${JSON.stringify(idp2.issuer)}, tenant: initech }]\n`,
      },
    );
    return { g, res };
  };
  const gateways = [await start(), await start()];
  try {
    const callOn = async (g: TestGateway, token: string) =>
      (await postModernCall(g.url, 'rec__record', { note: 'x' }, { token, id: 1 })).status;
    const tokens = await Promise.all(
      gateways.map(({ res }) => idp2.mint({ scope: SCOPE }, { subject: 'ivan', audience: res })),
    );
    for (const [i, { g }] of gateways.entries()) assert.equal(await callOn(g, tokens[i]), 200);
    assert.equal(
      (await runCli(['principals', 'revoke', '--subject', 'ivan', '--reason', 'x', '-c', gateways[0].g.file])).code,
      0,
    );
    await Promise.all(
      gateways.map(({ g }, i) => eventually(async () => (await callOn(g, tokens[i])) === 401, { timeoutMs: 3000 })),
    );
  } finally {
    for (const { g } of gateways) await g.close();
  }
});
