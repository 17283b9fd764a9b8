/**
 * RFC 8693 token exchange: a caller authenticated with an OAuth access token from the identity
 * provider calls an upstream that trusts the same provider; Gatehouse exchanges the caller's token
 * for one whose audience is the upstream (the upstream sees the caller's subject, acting through
 * Gatehouse), and the caller's own token never reaches the upstream.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { runCli, startGateway, type TestGateway } from './support/gateway.ts';
import { postModernCall, type Reply } from './support/rpc.ts';
import { freePort } from './support/processes.ts';
import { eventually } from './support/eventually.ts';
import {
  TOKEN_EXCHANGE,
  followToRedirect,
  gatewayClient,
  startOidcProvider,
  type OidcFixture,
} from './fixtures/oidc/provider.ts';
import { startProtectedServer, type ProtectedServer } from './fixtures/upstreams/protected-http.ts';

const SECRET = `gh-${randomUUID()}`;
let oidc: OidcFixture;
let upstream: ProtectedServer;
let t: TestGateway;
let resource = '';

before(async () => {
  const [gwPort, upPort] = [await freePort(), await freePort()];
  resource = `http://127.0.0.1:${gwPort}/mcp`;
  const callback = `http://127.0.0.1:${gwPort}/oauth/callback`;
  const upstreamUrl = `http://127.0.0.1:${upPort}/mcp`;
  oidc = await startOidcProvider({
    resource,
    scopes: ['mcp:tools'],
    tokenExchange: { audiences: [upstreamUrl] },
    extraClients: [
      { ...gatewayClient(callback, SECRET), grant_types: ['authorization_code', 'refresh_token', TOKEN_EXCHANGE] },
    ],
  });
  upstream = await startProtectedServer(oidc.issuer, upPort);
  t = await startGateway(
    `  - name: remote\n    transport: http\n    url: ${JSON.stringify(upstreamUrl)}\n    oauth: { issuer: ${JSON.stringify(oidc.issuer)}, clientId: gatehouse, clientSecret: ${JSON.stringify(SECRET)}, scopes: [mcp:tools], tokenExchange: true }\n    credentials: { discoveryTenant: acme }\n    tools: { whoami: { class: READ } }\n`,
    {
      port: gwPort,
      waitMs: 500,
      top: `identity:\n  resource: ${resource}\n  issuers: [{ issuer: ${JSON.stringify(oidc.issuer)} }]\n`,
    },
  );
  // The tenant's own authorization lists the tools (discovery); calls use the exchanged tokens.
  const r = JSON.parse(
    (await runCli(['upstream', 'authorize', 'remote', '--tenant', 'acme', '--json', '-c', t.file])).stdout,
  );
  const u = new URL(r.url);
  u.searchParams.set('login_hint', 'discoverer');
  await fetch(await followToRedirect(u.href, callback));
});
after(async () => {
  await t?.close();
  await upstream?.close();
  await oidc?.stop();
});

async function whoami(token: string): Promise<Reply> {
  const r = await postModernCall(t.url, 'remote__whoami', {}, { token });
  return (await r.json()) as Reply;
}

test("the caller's token is exchanged for the upstream's audience: the upstream sees the caller, never the caller's token", async () => {
  const a = await oidc.clientCredentialsToken(
    'agent-a',
    oidc.clients.find((c) => c.id === 'agent-a')!.secret,
    'mcp:tools',
  );
  await eventually(async () => {
    const r = await whoami(a);
    assert.equal(r.result?.content[0].text, 'subject=agent-a', JSON.stringify(r));
    return true;
  });
  const b = await oidc.clientCredentialsToken(
    'agent-b',
    oidc.clients.find((c) => c.id === 'agent-b')!.secret,
    'mcp:tools',
  );
  assert.equal((await whoami(b)).result?.content[0].text, 'subject=agent-b');
  assert.ok(!upstream.tokens.has(a) && !upstream.tokens.has(b), "the callers' own tokens never reached the upstream");
  const audit = JSON.stringify(await t.gw.store.audit.read({ limit: 10_000 }));
  assert.ok(!audit.includes(a.split('.')[2]) && !audit.includes(b.split('.')[2]), 'nor the audit trail');
  const exchanged = [...upstream.tokens].map((tok) =>
    JSON.parse(Buffer.from(tok.split('.')[1], 'base64url').toString()),
  );
  assert.ok(
    exchanged.some((c) => c.sub === 'agent-a' && c.aud === upstream.url && c.act?.sub === 'gatehouse'),
    'audience is the upstream; Gatehouse acts for the caller',
  );
});
