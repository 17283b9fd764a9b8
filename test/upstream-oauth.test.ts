/**
 * Gatehouse as the OAuth client of an upstream MCP server that requires OAuth (a real oidc-provider as
 * its authorization server): `gatehouse upstream authorize` per tenant (authorization code + PKCE +
 * resource indicator, completed at the gateway's callback), tokens sealed in the store, one
 * connection per tenant with that tenant's token, refresh when due, revocation, and the tokens
 * nowhere else: not in responses, logs, or the store in clear.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createKey, runCli, startGateway, type TestGateway } from './support/gateway.ts';
import { logTo } from './support/logs.ts';
import { modernMeta, postModern, type Reply } from './support/rpc.ts';
import { freePort } from './support/processes.ts';
import { followToRedirect, gatewayClient, startOidcProvider, type OidcFixture } from './fixtures/oidc/provider.ts';
import { startProtectedServer, type ProtectedServer } from './fixtures/upstreams/protected-http.ts';
import { eventually } from './support/eventually.ts';
import { TestClock } from './support/clock.ts';

const CLIENT_SECRET = `gh-client-${randomUUID()}`;
const logs: string[] = [];
let oidc: OidcFixture;
let upstream: ProtectedServer;
let t: TestGateway;
let callback = '';
const clock = new TestClock();
const keys: Record<string, string> = {};

before(async () => {
  const [gwPort, upPort] = [await freePort(), await freePort()];
  callback = `http://127.0.0.1:${gwPort}/oauth/callback`;
  const resource = `http://127.0.0.1:${upPort}/mcp`;
  oidc = await startOidcProvider({
    resource,
    scopes: ['mcp:tools'],
    accessTokenTtl: 36, // refreshed 30 s before expiry: due 6 s after it was issued
    extraClients: [gatewayClient(callback, CLIENT_SECRET)],
  });
  upstream = await startProtectedServer(oidc.issuer, upPort);
  const log = logTo('debug', (c) => logs.push(c));
  t = await startGateway(
    `  - name: remote\n    transport: http\n    url: ${JSON.stringify(resource)}\n    oauth: { issuer: ${JSON.stringify(oidc.issuer)}, clientId: gatehouse, clientSecret: ${JSON.stringify(CLIENT_SECRET)}, scopes: [mcp:tools] }\n    credentials: { discoveryTenant: acme }\n    tools: { whoami: { class: READ }, echo: { class: READ } }\n` +
      `  - name: personal\n    transport: http\n    url: ${JSON.stringify(resource)}\n    oauth: { issuer: ${JSON.stringify(oidc.issuer)}, clientId: gatehouse, clientSecret: ${JSON.stringify(CLIENT_SECRET)}, scopes: [mcp:tools], per: user }\n    credentials: { discoveryTenant: acme }\n    tools: { whoami: { class: READ } }\n`,
    // The gateway's clock: the refresh test moves it forward instead of waiting for a token to come due.
    { port: gwPort, log, top: 'identity: { apiKeys: true }\n', waitMs: 500, clock },
  );
  for (const tenant of ['acme', 'globex'])
    keys[tenant] = await createKey(t.file, { name: tenant, tenant, scopes: 'x' });
  for (const user of ['alice', 'carol', 'dave'])
    keys[user] = await createKey(t.file, { name: user, tenant: 'acme', scopes: 'x' });
});
after(async () => {
  await t?.close();
  await upstream?.close();
  await oidc?.stop();
});

/** A 2026-07-28 request of `who` (stateless: its headers name the method and the target). */
async function post(who: string, method: string, params: Record<string, unknown>, name?: string): Promise<unknown> {
  const r = await postModern(t.url, method, { ...params, _meta: modernMeta() }, { token: keys[who], name });
  return r.json();
}
async function whoami(who: string, server = 'remote'): Promise<Reply> {
  const name = `${server}__whoami`;
  return (await post(who, 'tools/call', { name, arguments: {} }, name)) as Reply;
}
/** The tools `who` is shown. */
async function toolNames(who: string): Promise<string[]> {
  const body = (await post(who, 'tools/list', {})) as { result?: { tools: Array<{ name: string }> } };
  assert.ok(body.result, JSON.stringify(body));
  return body.result.tools.map((x) => x.name);
}

/** A person of the tenant opens the URL, logs in as `user` and consents; the browser lands on the gateway. */
async function authorize(tenant: string, user: string, server = 'remote', subject?: string): Promise<string> {
  const r = await runCli([
    'upstream',
    'authorize',
    server,
    '--tenant',
    tenant,
    ...(subject ? ['--subject', subject] : []),
    '--json',
    '-c',
    t.file,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const { url, redirectUri } = JSON.parse(r.stdout);
  assert.equal(redirectUri, callback);
  const u = new URL(url);
  assert.equal(u.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(u.searchParams.get('resource'), upstream.url);
  u.searchParams.set('login_hint', user);
  // The browser lands on the gateway with everything the authorization server put in the redirect.
  const back = await fetch(await followToRedirect(u.href, callback));
  return back.text();
}

test('per tenant: authorized by a person of each tenant, each tenant calls with its own token', async () => {
  const before = await whoami('acme');
  assert.ok(before.error, 'not authorized yet');
  assert.match(await authorize('acme', 'alice-acme'), /now authorized to call server remote for tenant acme/);
  // The connection for acme is retried once the authorization completes.
  await eventually(
    async () => {
      const r = await whoami('acme');
      assert.equal(r.result?.content[0].text, 'subject=alice-acme', JSON.stringify(r));
      return true;
    },
    { intervalMs: 100 },
  );
  // Tools are what a tenant's own connection lists (src/pipeline/own-definitions.ts): none before it can be made.
  assert.ok((await toolNames('acme')).includes('remote__whoami'));
  assert.ok(!(await toolNames('globex')).includes('remote__whoami'));
  const g = await whoami('globex');
  assert.match(
    g.error!.message,
    /server `remote` is not authorized for tenant `globex` yet: run `gatehouse upstream authorize remote --tenant globex`/,
  );
  await authorize('globex', 'bob-globex');
  assert.equal((await whoami('globex')).result?.content[0].text, 'subject=bob-globex');
  assert.ok((await toolNames('globex')).includes('remote__whoami'));
  assert.equal((await whoami('acme')).result?.content[0].text, 'subject=alice-acme');
  // A state works once.
  const replay = await fetch(`${callback}?code=x&state=${encodeURIComponent('not-a-state')}`);
  assert.notEqual(replay.status, 200);
});

test('tokens are sealed in the store and appear in no response or log line; refresh when due; revocation', async () => {
  const rows = await t.gw.store.upstreamTokens.list();
  assert.deepEqual(rows.map((r) => [r.server, r.tenant]).sort(), [
    ['remote', 'acme'],
    ['remote', 'globex'],
  ]);
  const sealed = await Promise.all(rows.map((r) => t.gw.store.upstreamTokens.get(r.server, r.tenant)));
  const seen = [...upstream.tokens];
  assert.ok(seen.length >= 2);
  for (const tok of seen) {
    for (const s of sealed)
      assert.ok(!s!.includes(tok) && !s!.includes(tok.split('.')[1]), 'not in clear in the store');
    assert.ok(!logs.join('').includes(tok.split('.')[2]), 'not in the logs');
  }
  const before = upstream.tokens.size;

  clock.advance(7_000); // the access tokens (36 s, refreshed 30 s before expiry) are due
  assert.equal((await whoami('acme')).result?.content[0].text, 'subject=alice-acme');
  assert.ok(upstream.tokens.size > before, 'a refreshed token was used');
  const rev = await runCli([
    'credentials',
    'revoke',
    'oauth:remote:globex',
    '--reason',
    'offboarding',
    '--json',
    '-c',
    t.file,
  ]);
  assert.equal(JSON.parse(rev.stdout).confirmed, true);
  assert.match((await whoami('globex')).error!.message, /authorization of server `remote` is revoked/);
  assert.equal((await whoami('acme')).result?.content[0].text, 'subject=alice-acme', 'the other tenant is untouched');
});

test("another tenant's upstream token is refused in a call's arguments, though no connection of this gateway ever held it", async () => {
  // initech authorizes the server and never calls: no connection of this gateway resolved its token.
  await authorize('initech', 'pat-initech');
  assert.ok(!t.gw.credentials.pool.describe().some((h) => h.tenant === 'initech'), 'initech never connected');
  const cfg = t.gw.config.servers.find((s) => s.name === 'remote');
  assert.ok(cfg && cfg.transport !== 'stdio');
  const token = await t.gw.credentials.broker.oauth!.accessToken(cfg, 'initech');
  // The gateway looks for the tokens authorized since it last looked within seconds.
  await eventually(() => t.gw.credentials.pool.values().includes(token), { timeoutMs: 10_000 });
  const before = upstream.echoed.length;
  const r = (await post(
    'acme',
    'tools/call',
    { name: 'remote__echo', arguments: { text: token } },
    'remote__echo',
  )) as Reply;
  assert.match(r.error?.message ?? '', /secret:outbound/, JSON.stringify(r).slice(0, 300));
  assert.equal(upstream.echoed.length, before, 'nothing reached the server');
  const trail = JSON.stringify(await t.gw.store.audit.read({ tenant: 'acme', limit: 1000 }));
  assert.ok(trail.includes('remote__echo') && !trail.includes(token), 'recorded, without the token');
  const fine = (await post(
    'acme',
    'tools/call',
    { name: 'remote__echo', arguments: { text: 'hello' } },
    'remote__echo',
  )) as Reply;
  assert.equal(fine.result?.content[0].text, 'hello', JSON.stringify(fine));
});

test('per user: each user of a tenant authorizes for themselves and calls with their own token', async () => {
  await authorize('acme', 'discovery-acme', 'personal');
  await authorize('acme', 'alice', 'personal', 'apikey:alice');
  await authorize('acme', 'carol', 'personal', 'apikey:carol');
  await eventually(
    async () => {
      const r = await whoami('alice', 'personal');
      assert.equal(r.result?.content[0].text, 'subject=alice', JSON.stringify(r));
      return true;
    },
    { intervalMs: 100 },
  );
  assert.equal((await whoami('carol', 'personal')).result?.content[0].text, 'subject=carol');
  assert.match(
    (await whoami('dave', 'personal')).error!.message,
    /not authorized for user `apikey:dave` of tenant `acme` yet: run `gatehouse upstream authorize personal --tenant acme --subject apikey:dave`/,
  );
});

test("the callback shows nothing a link's author wrote: a fixed message for an unknown state, only a registered error code for a known one (walk S, F6)", async () => {
  const spoof = '<img src=x>Click https://evil.test to retry';
  const junk = await fetch(`${callback}?${new URLSearchParams({ error: spoof, state: 'junk' })}`);
  assert.equal(junk.status, 400);
  const junkPage = await junk.text();
  assert.match(junkPage, /Not authorized: this authorization is unknown or expired/);
  assert.doesNotMatch(junkPage, /evil|Click|img/);

  // A real authorization, which the authorization server answers with an error (and text of its own).
  const started = async () => {
    const r = await runCli(['upstream', 'authorize', 'remote', '--tenant', 'globex', '--json', '-c', t.file]);
    assert.equal(r.code, 0, r.stderr);
    return new URL(JSON.parse(r.stdout).url).searchParams.get('state')!;
  };
  const state = await started();
  const q = { error: 'access_denied', error_description: spoof, error_uri: 'https://evil.test/help', state };
  const denied = await (await fetch(`${callback}?${new URLSearchParams(q)}`)).text();
  assert.match(denied, /the authorization server answered `access_denied` for server remote, tenant globex/);
  assert.doesNotMatch(denied, /evil|Click|img/);
  // The state is spent: the same link again is unknown.
  assert.match(await (await fetch(`${callback}?${new URLSearchParams(q)}`)).text(), /unknown or expired/);
  const odd = await (
    await fetch(`${callback}?${new URLSearchParams({ error: spoof, state: await started() })}`)
  ).text();
  assert.match(odd, /sent no code \(its answer is not shown here\) for server remote, tenant globex/);
  assert.doesNotMatch(odd, /evil|Click|img/);
});
