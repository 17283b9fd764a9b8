/**
 * The upstream OAuth client against hostile authorization servers (plain node:http on loopback):
 * metadata that points the browser at `javascript:` or `file:`, a token endpoint in plain http on
 * another host, metadata naming another issuer, megabytes of metadata or of token response, and an
 * issuer with a path (RFC 8414 inserts the well-known segment before it).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { MAX_OAUTH_RESPONSE_BYTES, UpstreamOAuth, endpointProblem } from './upstream-oauth.ts';
import type { HttpServerConfig } from '../config/schema.ts';
import type { UpstreamTokenStore } from '../storage/types.ts';
import { withLoopDelay } from '../../test/support/loop-delay.ts';
import { seal, unseal } from '../util/seal.ts';
import { SecretsKeys } from './key-watch.ts';

type Handler = (
  path: string,
  body: string,
  base: string,
) => { status?: number; json?: unknown; raw?: string } | undefined;
const servers: Server[] = [];
const seen: Array<{ path: string; body: string; auth?: string }> = [];
after(() => {
  for (const s of servers) s.close();
});

async function as(handler: Handler): Promise<string> {
  const s = createServer(async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    seen.push({ path: req.url ?? '', body, auth: req.headers.authorization });
    const base = `http://127.0.0.1:${(s.address() as { port: number }).port}`;
    const out = handler(req.url ?? '', body, base);
    if (!out) return void res.writeHead(404).end();
    const text = out.raw ?? JSON.stringify(out.json);
    res.writeHead(out.status ?? 200, { 'content-type': 'application/json' }).end(text);
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as { port: number }).port}`;
}

function memoryStore(): UpstreamTokenStore {
  const pending = new Map<
    string,
    { state: string; server: string; tenant: string; sealedVerifier: string; createdAt: number }
  >();
  const tokens = new Map<string, string>();
  return {
    put: async (s, t, sealed) => void tokens.set(`${s}/${t}`, sealed),
    get: async (s, t) => tokens.get(`${s}/${t}`),
    delete: async (s, t) => tokens.delete(`${s}/${t}`),
    list: async () => [],
    addPending: async (p) => void pending.set(p.state, p),
    takePending: async (state) => {
      const p = pending.get(state);
      pending.delete(state);
      return p;
    },
    listPending: async () => [...pending.values()].map((p) => ({ state: p.state, sealedVerifier: p.sealedVerifier })),
    resealPending: async (state, from, to) => {
      const p = pending.get(state);
      if (p?.sealedVerifier !== from) return false;
      p.sealedVerifier = to;
      return true;
    },
  };
}

const client = () => new UpstreamOAuth(memoryStore(), randomBytes(32));
const server = (issuer: string): HttpServerConfig =>
  ({
    name: 'remote',
    transport: 'http',
    url: 'https://mcp.example/mcp',
    oauth: { issuer, clientId: 'gh', clientSecret: 'the-client-secret', scopes: ['mcp'] },
  }) as unknown as HttpServerConfig;
const meta = (issuer: string, over: Record<string, unknown> = {}) => ({
  issuer,
  authorization_endpoint: `${issuer}/authorize`,
  token_endpoint: `${issuer}/token`,
  ...over,
});

test('endpoints must be https; plain http only on loopback', () => {
  assert.equal(endpointProblem('https://as.example/token', 'x'), undefined);
  assert.equal(endpointProblem('http://127.0.0.1:9/token', 'x'), undefined);
  assert.equal(endpointProblem('http://[::1]:9/token', 'x'), undefined);
  for (const bad of [
    'http://as.example/token',
    'javascript:alert(1)',
    'file:///etc/passwd',
    'data:text/html,x',
    'ftp://as.example/',
    'not a url',
  ]) {
    assert.match(endpointProblem(bad, 'x') ?? '', /must be https|is not a url/, bad);
  }
});

test('a javascript: or file: authorization endpoint is refused, never printed as a url to open', async () => {
  for (const evil of ['javascript:alert(document.cookie)//', 'file:///etc/passwd']) {
    const issuer = await as((path, _b, base) =>
      path === '/.well-known/oauth-authorization-server'
        ? { json: meta(base, { authorization_endpoint: evil }) }
        : undefined,
    );
    await assert.rejects(
      client().authorizeUrl(server(issuer), 'acme', 'http://127.0.0.1:1/cb'),
      /the authorization endpoint .* must be https/,
    );
  }
});

test('a plain-http token endpoint on another host is refused before any secret or verifier is sent', async () => {
  const issuer = await as((path, _b, base) =>
    path === '/.well-known/oauth-authorization-server'
      ? { json: meta(base, { token_endpoint: 'http://collector.example/token' }) }
      : undefined,
  );
  await assert.rejects(
    client().authorizeUrl(server(issuer), 'acme', 'http://127.0.0.1:1/cb'),
    /the token endpoint .* must be https/,
  );
  await assert.rejects(client().exchange(server(issuer), 'subject-token'), /must be https/);
  assert.ok(
    !seen.some(
      (s) =>
        s.body.includes('subject-token') || s.auth?.includes(Buffer.from('gh:the-client-secret').toString('base64')),
    ),
  );
});

test('metadata naming another issuer is refused (no mix-up)', async () => {
  const issuer = await as((path) =>
    path.startsWith('/.well-known/') ? { json: meta('https://other.example') } : undefined,
  );
  await assert.rejects(
    client().authorizeUrl(server(issuer), 'acme', 'http://127.0.0.1:1/cb'),
    /no usable authorization server metadata/,
  );
});

test('an issuer with a path is discovered per RFC 8414 (well-known inserted before the path)', async () => {
  const issuer = `${await as((path, _b, base) => (path === '/.well-known/oauth-authorization-server/tenants/acme' ? { json: meta(`${base}/tenants/acme`) } : undefined))}`;
  const url = new URL(await client().authorizeUrl(server(`${issuer}/tenants/acme`), 'acme', 'http://127.0.0.1:1/cb'));
  assert.equal(url.pathname, '/tenants/acme/authorize');
  assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(url.searchParams.get('resource'), 'https://mcp.example/mcp');
});

test('megabytes of metadata or of token response are refused without blocking the event loop', async () => {
  const huge = `{"pad":"${'x'.repeat(8 * MAX_OAUTH_RESPONSE_BYTES)}"}`;
  const a = await as((path) => (path.startsWith('/.well-known/') ? { raw: huge } : undefined));
  const { value, maxDelayMs } = await withLoopDelay(() =>
    client()
      .authorizeUrl(server(a), 'acme', 'http://127.0.0.1:1/cb')
      .then(
        () => 'ok',
        (e: Error) => e.message,
      ),
  );
  assert.match(value, /larger than/);
  assert.ok(maxDelayMs < 1000, `event loop blocked ${maxDelayMs} ms`);

  const b = await as((path, _b, base) => {
    if (path === '/.well-known/oauth-authorization-server') return { json: meta(base) };
    if (path === '/token') return { raw: huge };
    return undefined;
  });
  await assert.rejects(client().exchange(server(b), 'subject-token'), /refused: .*larger than/);
});

test('storedTokens: every stored token, then only the rows changed since (whatever the writer clock); rows another key sealed are left out', async () => {
  const rows = new Map<string, { sealed: string; at: number }>();
  const store: UpstreamTokenStore = {
    ...memoryStore(),
    put: async (s, t, sealed, at) => void rows.set(`${s}\u0000${t}`, { sealed, at }),
    get: async (s, t) => rows.get(`${s}\u0000${t}`)?.sealed,
    list: async () =>
      [...rows].map(([k, r]) => ({ server: k.split('\u0000')[0], tenant: k.split('\u0000')[1], updatedAt: r.at })),
  };
  const key = randomBytes(32);
  const put = (tenant: string, t: object, at: number, k = key) =>
    store.put('remote', tenant, seal(k, `remote\u0000${tenant}`, JSON.stringify(t)), at);
  await put('acme', { access_token: 'A1', refresh_token: 'R1' }, 5);
  await put('globex', { access_token: 'G1' }, 5);
  await put('initech', { access_token: 'X1' }, 5, randomBytes(32));
  const oauth = new UpstreamOAuth(store, key);
  const seen = new Map<string, number>();
  assert.deepEqual((await oauth.storedTokens(seen)).sort(), ['A1', 'G1', 'R1']);
  assert.deepEqual(await oauth.storedTokens(seen), [], 'nothing changed');
  await put('globex', { access_token: 'G2' }, 3); // refreshed by a replica whose clock is behind
  assert.deepEqual(await oauth.storedTokens(seen), ['G2']);
  assert.deepEqual((await oauth.storedTokens()).sort(), ['A1', 'G2', 'R1'], 'a new map: all of them');
});

test('resealStale: rows sealed under a replaced key are sealed under the current one (update time kept); others, and a row replaced meanwhile, are left', async () => {
  const rows = new Map<string, { sealed: string; at: number }>();
  let replaceOnRead: string | undefined; // a refresh elsewhere between the two reads of this tenant's row
  const store: UpstreamTokenStore = {
    ...memoryStore(),
    put: async (s, t, sealed, at) => void rows.set(`${s}\u0000${t}`, { sealed, at }),
    get: async (s, t) => {
      const r = rows.get(`${s}\u0000${t}`);
      if (t === replaceOnRead && r) {
        replaceOnRead = undefined;
        rows.set(`${s}\u0000${t}`, { sealed: seal(next, `${s}\u0000${t}`, '{"access_token":"N"}'), at: 9 });
      }
      return r?.sealed;
    },
    list: async () =>
      [...rows].map(([k, r]) => ({ server: k.split('\u0000')[0], tenant: k.split('\u0000')[1], updatedAt: r.at })),
  };
  const [old, next, foreign] = [randomBytes(32), randomBytes(32), randomBytes(32)];
  const put = (tenant: string, access: string, k: Buffer) =>
    store.put('remote', tenant, seal(k, `remote\u0000${tenant}`, JSON.stringify({ access_token: access })), 5);
  await put('acme', 'A', old);
  await put('globex', 'G', next);
  await put('initech', 'X', foreign);
  await put('umbrella', 'U', old);
  replaceOnRead = 'umbrella';
  const keys = new SecretsKeys(old);
  keys.adopt(next);
  assert.equal(await new UpstreamOAuth(store, keys).resealStale(), 1);
  const opened = (tenant: string, k: Buffer) =>
    unseal(k, `remote\u0000${tenant}`, rows.get(`remote\u0000${tenant}`)!.sealed);
  assert.equal(opened('acme', next), '{"access_token":"A"}');
  assert.equal(rows.get('remote\u0000acme')!.at, 5, 'the update time is kept');
  assert.equal(opened('globex', next), '{"access_token":"G"}');
  assert.equal(opened('initech', foreign), '{"access_token":"X"}', 'another key’s row is untouched');
  assert.equal(opened('umbrella', next), '{"access_token":"N"}', 'the refresh made meanwhile is kept');
  // Only the new key now: every row this gateway had opens with it.
  const after = new UpstreamOAuth(store, next);
  assert.deepEqual((await after.storedTokens()).sort(), ['A', 'G', 'N']);
});
