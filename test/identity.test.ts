/**
 * Identity end to end: a real OpenID provider (oidc-provider) on loopback, the gateway as an OAuth
 * 2.1 resource server, real SDK clients doing their own OAuth flows (client credentials, and
 * authorization code + PKCE with a resource indicator), and a recording upstream that proves what
 * reached it. Hostile tokens, spoofed identity, hijacked sessions, API keys and the admin api.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, importJWK, generateKeyPair, base64url } from 'jose';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformation, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { ROOT, createKey, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { logTo } from './support/logs.ts';
import { rawRequest as rawHttp } from './support/http.ts';
import { freePort } from './support/processes.ts';
import { legacyHttp, type TestServer } from './fixtures/upstreams/sdk-http-servers.ts';
import { ApiKeys } from '../src/identity/api-keys.ts';
import { followToRedirectUri, startOidcProvider, type OidcFixture } from './fixtures/oidc/provider.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-identity-'));
const rec = join(tmp, 'rec.jsonl');
const logs: string[] = [];
let oidc: OidcFixture;
let t: TestGateway;
let resource = '';
let web: TestServer;
const client = (id: string) => oidc.clients.find((c) => c.id === id)!;
const token = (id: string, scope = 'mcp:tools mcp:read', res?: string) =>
  oidc.clientCredentialsToken(id, client(id).secret, scope, res ? { resource: res } : undefined);
const recorded = () => readFileSync(rec, 'utf8');
const calls = () =>
  recorded()
    .split('\n')
    .filter((l) => l.includes('"tools/call"')).length;

before(async () => {
  const port = await freePort();
  resource = `http://127.0.0.1:${port}/mcp`;
  oidc = await startOidcProvider({ resource, scopes: ['mcp:tools', 'mcp:read', 'mcp:write', 'mcp:admin'] });
  web = await legacyHttp();
  const log = logTo('debug', (c) => logs.push(c));
  t = await startGateway(
    stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(rec)} }\n    tools: { record: { class: READ }, other: { class: WRITE } }\n` +
      `  - { name: web, transport: http, url: ${JSON.stringify(web.url)}, tools: { echo: { class: READ } } }\n`,
    {
      port,
      log,
      top:
        `identity:\n  resource: ${resource}\n  issuers: [{ issuer: ${JSON.stringify(oidc.issuer)} }]\n` +
        '  requiredScopes: { mcp: [mcp:tools], READ: [mcp:read], WRITE: [mcp:write], DESTRUCTIVE: [mcp:write] }\n  adminRoles: [admin]\n',
    },
  );
});
after(async () => {
  await t?.close();
  await oidc?.stop();
  await web?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const INIT = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};
function post(body: unknown, headers: Record<string, string> = {}, path = '/mcp'): Promise<Response> {
  return fetch(`${t.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(body),
  });
}
const bearer = (tok: string) => ({ authorization: `Bearer ${tok}` });
const call = (name: string, id = 2) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: { note: 'hi' } },
});
/** A legacy session for this token; its id. */
async function session(tok: string, extra: Record<string, string> = {}): Promise<string> {
  const r = await post(INIT, { ...bearer(tok), ...extra });
  assert.equal(r.status, 200, await r.clone().text());
  return r.headers.get('mcp-session-id')!;
}

test('protected resource metadata at both well-known forms; 401 with the challenge when the token is missing', async () => {
  for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
    const r = await fetch(`${t.url}${path}`);
    assert.equal(r.status, 200, path);
    assert.deepEqual(await r.json(), {
      resource,
      authorization_servers: [oidc.issuer],
      scopes_supported: ['mcp:tools', 'mcp:read', 'mcp:write'],
      bearer_methods_supported: ['header'],
      resource_name: 'Gatehouse',
    });
  }
  const r = await post(INIT);
  assert.equal(r.status, 401);
  assert.equal(
    r.headers.get('www-authenticate'),
    `Bearer resource_metadata="http://127.0.0.1:${new URL(resource).port}/.well-known/oauth-protected-resource/mcp"`,
  );
});

test("the SDK client's own client-credentials flow discovers the metadata and calls through", async () => {
  const provider = new ClientCredentialsProvider({
    clientId: 'agent-a',
    clientSecret: client('agent-a').secret,
    scope: 'mcp:tools mcp:read',
    expectedIssuer: oidc.issuer,
  });
  const c = new Client({ name: 'cc', version: '1' });
  await c.connect(new StreamableHTTPClientTransport(new URL(resource), { authProvider: provider }));
  const r = await c.callTool({ name: 'rec__record', arguments: { note: 'via client credentials' } });
  assert.match(JSON.stringify(r.content), /via client credentials/);
  await c.close();
});

test('authorization code + PKCE with a resource indicator, driven by the SDK client', async () => {
  class AuthCode implements OAuthClientProvider {
    code = '';
    #tokens: OAuthTokens | undefined;
    #verifier = '';
    get redirectUrl() {
      return oidc.publicClient.redirectUri;
    }
    get clientMetadata() {
      return {
        redirect_uris: [oidc.publicClient.redirectUri],
        client_name: 'agent-ui',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code'],
        response_types: ['code'],
      };
    }
    clientInformation(): OAuthClientInformation {
      return { client_id: oidc.publicClient.id };
    }
    tokens() {
      return this.#tokens;
    }
    saveTokens(tokens: OAuthTokens) {
      this.#tokens = tokens;
    }
    async redirectToAuthorization(url: URL) {
      assert.equal(url.searchParams.get('resource'), resource, 'the resource indicator is sent');
      this.code = await followToRedirectUri(url.href, oidc.publicClient.redirectUri);
    }
    saveCodeVerifier(v: string) {
      this.#verifier = v;
    }
    codeVerifier() {
      return this.#verifier;
    }
  }
  const provider = new AuthCode();
  const first = new StreamableHTTPClientTransport(new URL(resource), { authProvider: provider });
  await assert.rejects(new Client({ name: 'ac', version: '1' }).connect(first), /Unauthorized/);
  await first.finishAuth(provider.code);
  const c = new Client({ name: 'ac', version: '1' });
  await c.connect(new StreamableHTTPClientTransport(new URL(resource), { authProvider: provider }));
  const r = await c.callTool({ name: 'rec__record', arguments: { note: 'via auth code' } });
  assert.match(JSON.stringify(r.content), /via auth code/);
  await c.close();
});

/** Hostile tokens: each refused with 401 invalid_token, and nothing reaches the upstream. */
test('forged, expired, misdirected and malformed tokens are refused with 401 and nothing upstream', async (tc) => {
  const key = await importJWK(oidc.signingKey.privateJwk, 'ES256');
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    sub: 'agent-a',
    tenant: 'acme',
    roles: ['agent'],
    scope: 'mcp:tools mcp:read',
    client_id: 'agent-a',
  };
  const sign = (
    over: Record<string, unknown> = {},
    header: Record<string, unknown> = {},
    k: Parameters<SignJWT['sign']>[0] = key,
  ) =>
    new SignJWT({ ...claims, ...over })
      .setProtectedHeader({ alg: 'ES256', kid: oidc.signingKey.kid, ...header })
      .setIssuer(String(over.iss ?? oidc.issuer))
      .setAudience(Array.isArray(over.aud) ? over.aud : String(over.aud ?? resource))
      .setIssuedAt(now - 5)
      .setExpirationTime(Number(over.exp ?? now + 300))
      .sign(k);
  const unsigned = (header: Record<string, unknown>, payload: Record<string, unknown>) =>
    `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(payload))}.`;
  const { privateKey: otherKey } = await generateKeyPair('ES256');
  const hits: string[] = [];
  const attacker = createServer((req, res) => {
    hits.push(req.url ?? '');
    res.end('{"keys":[]}');
  });
  await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', r));
  tc.after(() => new Promise<void>((r) => attacker.close(() => r())));
  const evil = `http://127.0.0.1:${(attacker.address() as { port: number }).port}`;
  const payload = { ...claims, iss: oidc.issuer, aud: resource, exp: now + 300 };
  const { createHmac } = await import('node:crypto');
  const hsHeader = base64url.encode(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: oidc.signingKey.kid }));
  const hsBody = base64url.encode(JSON.stringify(payload));
  const hs256 = `${hsHeader}.${hsBody}.${createHmac('sha256', JSON.stringify(oidc.signingKey.publicJwk)).update(`${hsHeader}.${hsBody}`).digest('base64url')}`;
  const before = calls();
  const cases: Array<[string, string, RegExp]> = [
    ['expired', await sign({ exp: now - 600 }), /token expired/],
    ['not yet valid', await sign({ nbf: now + 600 }), /not yet valid/],
    ['wrong issuer', await sign({ iss: 'http://127.0.0.1:1' }), /unknown issuer/],
    [
      'wrong audience',
      await token('agent-a', 'mcp:tools mcp:read', 'https://gateway.example.com/mcp'),
      /wrong audience/,
    ],
    [
      'look-alike audience',
      await token('agent-a', 'mcp:tools mcp:read', resource.replace('127.0.0.1', '127.0.0.1.evil.test')),
      /wrong audience/,
    ],
    [
      'same server, other name',
      await token('agent-a', 'mcp:tools mcp:read', resource.replace('127.0.0.1', 'localhost')),
      /wrong audience/,
    ],
    ['trailing-slash audience', await token('agent-a', 'mcp:tools mcp:read', `${resource}/`), /wrong audience/],
    // walk S: ours and another (the README promises an exact audience), or ours twice.
    ['audience array with another', await sign({ aud: [resource, 'http://evil'] }), /wrong audience/],
    ['audience array, another first', await sign({ aud: ['http://evil', resource] }), /wrong audience/],
    ['audience array, ours twice', await sign({ aud: [resource, resource] }), /wrong audience/],
    ['signed by another key', await sign({}, {}, otherKey), /bad signature|no matching key/],
    ['alg none', unsigned({ alg: 'none', typ: 'JWT' }, payload), /algorithm not allowed|malformed/],
    ['HS256 with the public key', hs256, /algorithm not allowed/],
    ['kid path traversal', await sign({}, { kid: '../../../../etc/passwd' }), /no matching key/],
    ['jku elsewhere', await sign({}, { jku: `${evil}/jwks`, kid: 'evil' }), /no matching key/],
    ['x5u elsewhere', await sign({}, { x5u: `${evil}/cert.pem`, kid: 'evil' }), /no matching key/],
    ["the upstream's own token", 'ghp_0123456789abcdefghijklmnopqrstuvwxyzAB', /malformed|invalid token/],
    ['a forged api key', 'ghk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', /unknown api key/],
  ];
  for (const [what, tok, reason] of cases) {
    const r = await post(call('rec__record'), { ...bearer(tok), 'mcp-protocol-version': '2026-07-28' });
    assert.equal(r.status, 401, what);
    const challenge = r.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /^Bearer resource_metadata="[^"]+", error="invalid_token"/, what);
    assert.match(await r.text(), reason, what);
  }
  // An array of exactly our resource is our audience.
  assert.equal((await post(INIT, bearer(await sign({ aud: [resource] })))).status, 200, 'aud: [resource]');
  const q = await fetch(`${t.url}/mcp?access_token=${await token('agent-a')}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify(INIT),
  });
  assert.equal(q.status, 401, 'a token in the query string');
  assert.match(q.headers.get('www-authenticate')!, /error="invalid_request"/);
  assert.equal(calls(), before, 'nothing reached the upstream');
  assert.deepEqual(hits, [], 'no fetch to jku or x5u');
});

test('scopes: the mcp scope for any request (403 insufficient_scope names it); a tool whose class scope the token lacks is unknown and unlisted', async () => {
  const none = await post(INIT, bearer(await token('agent-a', 'mcp:read')));
  assert.equal(none.status, 403);
  assert.match(none.headers.get('www-authenticate')!, /error="insufficient_scope", scope="mcp:tools"/);
  const readOnly = await token('agent-a', 'mcp:tools mcp:read');
  const sid = await session(readOnly);
  const before = calls();
  const headers = { ...bearer(readOnly), 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
  // Visibility before everything: the WRITE tool looks exactly like one that does not exist.
  const w = await post(call('rec__other'), headers);
  const missing = await post(call('rec__no_such_tool'), headers);
  assert.equal(w.status, 200);
  const [we, me] = [
    ((await w.json()) as { error: { code: number; message: string } }).error,
    ((await missing.json()) as { error: { code: number; message: string } }).error,
  ];
  assert.equal(we.code, me.code);
  assert.equal(we.message.replace('rec__other', 'X'), me.message.replace('rec__no_such_tool', 'X'));
  assert.equal(calls(), before, 'the WRITE call did not reach the upstream');
  const list = (await (await post({ jsonrpc: '2.0', id: 9, method: 'tools/list', params: {} }, headers)).json()) as {
    result: { tools: Array<{ name: string }> };
  };
  const names = list.result.tools.map((x: { name: string }) => x.name);
  assert.ok(names.includes('rec__record') && !names.includes('rec__other'), names.join(','));
  const ok = await post(call('rec__record', 3), {
    ...bearer(readOnly),
    'mcp-session-id': sid,
    'mcp-protocol-version': '2025-11-25',
  });
  assert.equal(ok.status, 200);
  assert.equal(calls(), before + 1);
});

test('spoofed identity in headers, _meta and clientInfo changes nothing: the session belongs to the verified principal', async () => {
  const tok = await token('agent-a');
  const sid = await session(tok, {
    'x-forwarded-user': 'admin',
    'x-tenant-id': 'globex',
    'x-user': 'root',
    'x-remote-user': 'admin',
  });
  const r = await post(
    {
      ...INIT,
      params: {
        ...INIT.params,
        clientInfo: { name: 'admin', version: '1' },
        _meta: { tenant: 'globex', subject: 'root' },
      },
    },
    { ...bearer(tok), 'x-tenant-id': 'globex' },
  );
  const sid2 = r.headers.get('mcp-session-id')!;
  for (const id of [sid, sid2]) {
    const s = await t.gw.store.sessions.get(id);
    assert.deepEqual(
      JSON.parse(s!.principal!),
      ['jwt', oidc.issuer, 'agent-a', 'acme'],
      'verified subject and tenant only',
    );
  }
  // The audit record of a call with spoofed headers and _meta names the verified principal.
  const spoofed = {
    ...call('rec__record', 21),
    params: {
      name: 'rec__record',
      arguments: { note: 'spoof' },
      _meta: { tenant: 'globex', 'io.modelcontextprotocol/user': 'root' },
    },
  };
  const r2 = await post(spoofed, {
    ...bearer(tok),
    'mcp-session-id': sid,
    'mcp-protocol-version': '2025-11-25',
    'x-forwarded-user': 'admin',
    'x-tenant-id': 'globex',
  });
  assert.equal(r2.status, 200);
  const rows = await t.gw.store.audit.read({ kind: 'call.intent', limit: 10_000 });
  const rec2 = rows.map((x) => x.event).find((e) => e.sessionId === sid && e.requestId === '21')!;
  assert.deepEqual(rec2.actor, { subject: 'agent-a', tenant: 'acme', via: 'jwt', issuer: oidc.issuer });
  assert.equal(rec2.client, 'agent-a');
});

test("another principal's session id is 404, no credential is 401, and the owner's session carries on", async () => {
  const a = await token('agent-a');
  const sid = await session(a);
  const hdr = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
  const before = calls();
  const stolen = await post(call('rec__record'), { ...bearer(await token('agent-b')), ...hdr });
  assert.equal(stolen.status, 404);
  const anonymous = await post(call('rec__record'), hdr);
  assert.equal(anonymous.status, 401);
  const del = await fetch(`${t.url}/mcp`, { method: 'DELETE', headers: { ...bearer(await token('agent-b')), ...hdr } });
  assert.equal(del.status, 404, 'nor can it end the session');
  assert.equal(calls(), before);
  const own = await post(call('rec__record'), { ...bearer(a), ...hdr });
  assert.equal(own.status, 200);
  assert.equal(calls(), before + 1);
});

/** A request with each header line sent as given (fetch would join repeated headers into one). */
function rawRequest(
  method: string,
  path: string,
  headers: Array<[string, string]>,
  body?: string,
): Promise<{ status: number; challenge: string; text: string }> {
  const host: [string, string] = ['host', new URL(t.url).host]; // not added for raw headers
  return rawHttp(`${t.url}${path}`, method, [host, ...headers].flat(), body).then((r) => ({
    status: r.status,
    challenge: String(r.headers['www-authenticate'] ?? ''),
    text: r.text,
  }));
}

test('two authorization headers are refused on every door, whichever comes first, and nothing reaches the upstream', async () => {
  const a = await token('agent-a');
  const b = await token('agent-b');
  const admin = await token('admin');
  const key = await createKey(t.file, { name: 'twice', tenant: 'acme', roles: 'admin', scopes: 'mcp:tools,mcp:read' });
  const sid = await session(a);
  const mcp: Array<[string, string]> = [
    ['content-type', 'application/json'],
    ['accept', 'application/json, text/event-stream'],
    ['mcp-session-id', sid],
    ['mcp-protocol-version', '2025-11-25'],
  ];
  const auth = (...toks: string[]): Array<[string, string]> => toks.map((x) => ['authorization', `Bearer ${x}`]);
  const pairs = [
    [a, b],
    [b, a],
    [a, 'not-a-token'],
    ['not-a-token', a],
    [a, a],
    [admin, key],
    [key, admin],
  ];
  const refusedAs = (r: { status: number; challenge: string; text: string }, what: string) => {
    assert.equal(r.status, 401, `${what}: ${r.text}`);
    assert.match(r.text, /the request carries 2 authorization headers: send exactly one credential/, what);
    assert.match(r.challenge, /error="invalid_request"/, what);
  };
  const before = calls();
  for (const [x, y] of pairs) {
    const body = JSON.stringify(call('rec__record', 40));
    refusedAs(await rawRequest('POST', '/mcp', [...mcp, ...auth(x, y)], body), 'tools/call');
    refusedAs(
      await rawRequest('POST', '/mcp', [...mcp.slice(0, 2), ...auth(x, y)], JSON.stringify(INIT)),
      'initialize',
    );
    refusedAs(await rawRequest('GET', '/admin/v1/inventory', auth(x, y)), 'admin api');
    refusedAs(await rawRequest('GET', '/approvals', auth(x, y)), 'approval page');
  }
  assert.equal(calls(), before, 'nothing reached the upstream');
  // Each credential alone still works: the refusal is of the pair, not of either token.
  assert.equal(
    (await rawRequest('POST', '/mcp', [...mcp, ...auth(a)], JSON.stringify(call('rec__record', 41)))).status,
    200,
  );
  assert.equal((await rawRequest('GET', '/admin/v1/inventory', auth(admin))).status, 200);
  assert.equal((await rawRequest('GET', '/admin/v1/inventory', auth(key))).status, 200);
  assert.equal(calls(), before + 1);
});

test('api keys: created hashed, bound to tenant and roles; revocation applies on the next request', async () => {
  const made = await runCli([
    'keys',
    'create',
    '-n',
    'ci-agent',
    '-t',
    'acme',
    '-r',
    'agent',
    '-s',
    'mcp:tools,mcp:read',
    '--json',
    '-c',
    t.file,
  ]);
  assert.equal(made.code, 0, made.stderr);
  const { key, id } = JSON.parse(made.stdout);
  assert.match(key, /^ghk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  assert.doesNotMatch(
    JSON.stringify(await t.gw.store.apiKeys.list()),
    new RegExp(key.slice(22)),
    'the secret is not stored',
  );
  const sid = await session(key);
  const s = await t.gw.store.sessions.get(sid);
  assert.deepEqual(JSON.parse(s!.principal!), ['api-key', 'gatehouse', 'apikey:ci-agent', 'acme']);
  const hdr = { ...bearer(key), 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
  assert.equal((await post(call('rec__record'), hdr)).status, 200);
  const listed = JSON.parse((await runCli(['keys', 'list', '--json', '-c', t.file])).stdout).keys.find(
    (k: { id: string }) => k.id === id,
  );
  assert.deepEqual([listed.state, listed.tenant, listed.roles], ['active', 'acme', ['agent']]);
  assert.ok(listed.lastUsedAt, 'last used is recorded');
  assert.equal((await runCli(['keys', 'revoke', 'ci-agent', '--by', 'sec-team', '-c', t.file])).code, 0);
  const refused = await post(call('rec__record', 9), hdr);
  assert.equal(refused.status, 401);
  assert.match(await refused.text(), /api key revoked/);
  // Defaults: the scopes every request and READ calls need; an expiry, after which the key is refused.
  const short = JSON.parse(
    (await runCli(['keys', 'create', '-n', 'short', '-t', 'acme', '-e', '1m', '--json', '-c', t.file])).stdout,
  );
  assert.deepEqual(short.scopes, ['mcp:tools', 'mcp:read']);
  assert.equal(Date.parse(short.expiresAt) - Date.parse(short.createdAt), 60_000);
  const keys = new ApiKeys(t.gw.store.apiKeys);
  assert.deepEqual(await keys.verify(short.key, Date.parse(short.expiresAt) + 1), {
    ok: false,
    reason: 'api key expired',
  });
  assert.equal((await keys.verify(short.key)).ok, true);
});

test('the admin api needs an admin role: IdP admin and admin keys yes, agents no', async () => {
  const get = (tok?: string) => fetch(`${t.url}/admin/v1/inventory`, { headers: tok ? bearer(tok) : {} });
  const none = await get();
  assert.equal(none.status, 401);
  assert.match(none.headers.get('www-authenticate')!, /^Bearer resource_metadata=/);
  // The admin API's own error shape, never the MCP endpoint's JSON-RPC envelope.
  assert.deepEqual(await none.json(), {
    error: { code: 'unauthenticated', message: 'authentication required: send a bearer token' },
  });
  const agent = await get(await token('agent-a'));
  assert.equal(agent.status, 403);
  assert.deepEqual(await agent.json(), {
    error: { code: 'forbidden', message: 'forbidden: the admin api needs an admin role' },
  });
  assert.equal((await get(await token('admin'))).status, 200);
  const adminKey = await createKey(t.file, { name: 'ops', tenant: 'acme', roles: 'admin', scopes: 'mcp:tools' });
  const agentKey = await createKey(t.file, { name: 'bot', tenant: 'acme', roles: 'agent', scopes: 'mcp:tools' });
  assert.equal((await get(adminKey)).status, 200);
  assert.equal((await get(agentKey)).status, 403);
});

test('the caller’s token never reaches the upstream, the logs or the metrics', async () => {
  const tok = await token('agent-a');
  const sid = await session(tok);
  await post(call('rec__record', 11), { ...bearer(tok), 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' });
  const viaHttp = await post(
    { jsonrpc: '2.0', id: 12, method: 'tools/call', params: { name: 'web__echo', arguments: { text: 'hi' } } },
    { ...bearer(tok), 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' },
  );
  assert.match(await viaHttp.text(), /hi/, 'the HTTP upstream was called');
  assert.ok(
    web.seen.length > 0 && web.seen.every((r) => r.headers.authorization === undefined),
    'no authorization header went to the HTTP upstream',
  );
  await post(call('rec__record'), { ...bearer(`${tok}x`), 'mcp-protocol-version': '2026-07-28' });
  const metrics = await (await fetch(`${t.url}/metrics`)).text();
  const signature = tok.split('.')[2];
  for (const [where, text] of [
    ['upstream', recorded()],
    ['http upstream', JSON.stringify(web.seen)],
    ['logs', logs.join('')],
    ['metrics', metrics],
  ] as const) {
    assert.ok(!text.includes(signature) && !text.includes(tok.split('.')[1]), `no token in the ${where}`);
  }
  assert.ok(logs.length > 0, 'the logs were captured');
});
