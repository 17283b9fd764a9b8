// Vault KV v2 provider against a fake Vault speaking the real HTTP API (test/fixtures/secrets).
// The server's and the provider's clocks are one fake clock, so token expiry needs no sleeping.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { VaultProvider } from './vault.ts';
import type { VaultProviderOptions } from './vault.ts';
import { SecretResolver } from './resolver.ts';
import { parseReference } from './types.ts';
import { startVaultServer } from '../../test/fixtures/secrets/vault-server.ts';
import type { VaultServer } from '../../test/fixtures/secrets/vault-server.ts';
import { serve } from '../../test/fixtures/secrets/http.ts';
import { expectCredentialError } from '../../test/support/credential-errors.ts';

const SECRET = 'CANARY-SECRET-vault-7d1f';
const ROOT = 'CANARY-TOKEN-root-3e9a';
const SECRET_ID = 'CANARY-SECRETID-approle-55c1';
const JWT = 'CANARY-JWT-eyJhbGciOi.payload.sig';
const REF = 'vault://secret/mcp/acme/github#token';

let clock = 1_700_000_000_000;
const now = () => clock;

/** Assert a CredentialError with `code` whose message leaks none of the canaries. */
const rejectsWith = (p: Promise<unknown>, code: string) =>
  expectCredentialError(p, code, [SECRET, ROOT, SECRET_ID, JWT, 'hvs.']);

describe('vault provider', () => {
  let vault: VaultServer;
  const provider = (o: Partial<VaultProviderOptions> = {}) =>
    new VaultProvider({ address: vault.url, auth: { method: 'token', token: ROOT }, now, ...o });
  const resolve = (p: VaultProvider, ref = REF) => p.resolve(parseReference(ref));

  before(async () => {
    vault = await startVaultServer({
      rootTokens: [ROOT],
      approle: { roleId: 'gatehouse', secretId: SECRET_ID },
      jwt: { role: 'mcp', jwt: JWT },
      tokenTtl: 60,
      tokenMaxTtl: 600,
      now,
    });
    vault.setSecret('secret/mcp/acme/github', { token: SECRET, user: 'bot', port: 8443 });
    vault.setSecret('secret/mcp/team/db', { password: 'ns-value' }, 'team-a');
  });
  after(() => vault.close());
  beforeEach(() => {
    vault.requests.length = 0;
    vault.failRenewals = false;
  });

  test('static token: reads .data.data.<field> from KV v2 through the real HTTP API', async () => {
    const v = await resolve(provider());
    assert.equal(v.value, SECRET);
    assert.equal(v.version, '1');
    assert.equal(v.fetchedAt, clock);
    assert.equal(v.expiresAt, clock + 60_000, 'KV v2 has no lease: the configured TTL (default 60 s) applies');
    assert.deepEqual(
      vault.requests.map((r) => `${r.method} ${r.path} ${r.status}`),
      ['GET /v1/secret/data/mcp/acme/github 200'],
    );
    assert.equal(
      (await resolve(provider(), 'vault://secret/mcp/acme/github#port')).value,
      '8443',
      'non-string fields are serialised',
    );
  });

  test('a new version is returned with its version number', async () => {
    const ver = vault.setSecret('secret/mcp/acme/rotating', { token: 'v1' });
    assert.equal(ver, 1);
    vault.setSecret('secret/mcp/acme/rotating', { token: 'v2' });
    const v = await resolve(provider(), 'vault://secret/mcp/acme/rotating#token');
    assert.deepEqual([v.value, v.version], ['v2', '2']);
  });

  test('missing secret (404) and missing field are E_SECRET_NOT_FOUND', async () => {
    const e = await rejectsWith(resolve(provider(), 'vault://secret/mcp/acme/nothing#token'), 'E_SECRET_NOT_FOUND');
    assert.match(e.message, /^vault:\/\/secret\/mcp\/acme\/nothing#token: secret not found \(HTTP 404\)$/);
    await rejectsWith(resolve(provider(), 'vault://secret/mcp/acme/github#nope'), 'E_SECRET_NOT_FOUND');
  });

  test('a bad token is E_PROVIDER_AUTH, and the message has no token', async () => {
    await rejectsWith(resolve(provider({ auth: { method: 'token', token: `${ROOT}-wrong` } })), 'E_PROVIDER_AUTH');
  });

  test('namespace header: the secret is only visible in its namespace', async () => {
    const ref = 'vault://secret/mcp/team/db#password';
    await rejectsWith(resolve(provider(), ref), 'E_SECRET_NOT_FOUND');
    assert.equal((await resolve(provider({ namespace: 'team-a' }), ref)).value, 'ns-value');
    assert.equal(vault.requests.at(-1)?.namespace, 'team-a');
  });

  test('AppRole login, then the client token is reused', async () => {
    const p = provider({ auth: { method: 'approle', roleId: 'gatehouse', secretId: SECRET_ID } });
    assert.equal((await resolve(p)).value, SECRET);
    assert.equal((await resolve(p)).value, SECRET);
    assert.equal(vault.count('/v1/auth/approle/login'), 1);
    assert.equal(vault.count('/v1/secret/data/'), 2);
  });

  test('AppRole and JWT with wrong credentials are E_PROVIDER_AUTH without echoing them', async () => {
    await rejectsWith(
      resolve(provider({ auth: { method: 'approle', roleId: 'gatehouse', secretId: `${SECRET_ID}x` } })),
      'E_PROVIDER_AUTH',
    );
    await rejectsWith(resolve(provider({ auth: { method: 'jwt', role: 'mcp', jwt: `${JWT}x` } })), 'E_PROVIDER_AUTH');
  });

  test('JWT login (the JWT may come from a function, fetched per login)', async () => {
    let calls = 0;
    const countedJwt = () => {
      calls++;
      return JWT;
    };
    const p = provider({ auth: { method: 'jwt', role: 'mcp', jwt: countedJwt } });
    assert.equal((await resolve(p)).value, SECRET);
    assert.equal(vault.count('/v1/auth/jwt/login'), 1);
    assert.equal(calls, 1);
  });

  test('token renewal before expiry (renew-self), re-login when renewal fails', async () => {
    const p = provider({ auth: { method: 'approle', roleId: 'gatehouse', secretId: SECRET_ID } });
    await resolve(p);
    const first = vault.issued.at(-1);
    clock += 30_000; // 30 of 60 s left: more than a third, no renewal yet
    await resolve(p);
    assert.equal(vault.count('/v1/auth/token/renew-self'), 0);
    clock += 15_000; // 15 s left: renew
    await resolve(p);
    assert.equal(vault.count('/v1/auth/token/renew-self'), 1);
    assert.equal(vault.count('/v1/auth/approle/login'), 1);
    clock += 30_000; // past the original expiry, but the renewed lease still holds
    assert.equal((await resolve(p)).value, SECRET);
    assert.equal(vault.issued.at(-1), first, 'still the first token');
    vault.failRenewals = true;
    clock += 15_000; // near expiry again; renewal refused -> fresh login
    assert.equal((await resolve(p)).value, SECRET);
    assert.equal(vault.count('/v1/auth/token/renew-self'), 2);
    assert.equal(vault.count('/v1/auth/approle/login'), 2);
    assert.notEqual(vault.issued.at(-1), first);
  });

  test('an expired token is replaced by a fresh login (no renewal attempt)', async () => {
    const p = provider({ auth: { method: 'jwt', role: 'mcp', jwt: JWT } });
    await resolve(p);
    clock += 120_000;
    assert.equal((await resolve(p)).value, SECRET);
    assert.equal(vault.count('/v1/auth/jwt/login'), 2);
    assert.equal(vault.count('/v1/auth/token/renew-self'), 0);
  });

  test('a token revoked server-side: 403 -> one re-login and retry', async () => {
    const p = provider({ auth: { method: 'approle', roleId: 'gatehouse', secretId: SECRET_ID } });
    await resolve(p);
    vault.revokeTokens();
    assert.equal((await resolve(p)).value, SECRET);
    assert.deepEqual(
      vault.requests.map((r) => r.status),
      [200, 200, 403, 200, 200],
    );
  });

  test('concurrent first uses share one login', async () => {
    const p = provider({ auth: { method: 'approle', roleId: 'gatehouse', secretId: SECRET_ID } });
    await Promise.all([resolve(p), resolve(p), resolve(p)]);
    assert.equal(vault.count('/v1/auth/approle/login'), 1);
  });

  test('through the resolver: cache TTL honoured, rotation picked up after TTL, concurrent resolves share one read', async () => {
    vault.setSecret('secret/mcp/acme/cached', { token: 'one' });
    const r = new SecretResolver({ providers: [provider({ cacheTtlMs: 10_000 })], now });
    const ref = 'vault://secret/mcp/{tenant}/cached#token';
    const ctx = { context: { tenant: 'acme' } };
    const values = await Promise.all([r.resolve(ref, ctx), r.resolve(ref, ctx), r.resolve(ref, ctx)]);
    assert.deepEqual(
      values.map((v) => v.value),
      ['one', 'one', 'one'],
    );
    assert.equal(vault.count('/v1/secret/data/'), 1, 'one read for three concurrent resolves');
    vault.setSecret('secret/mcp/acme/cached', { token: 'two' });
    clock += 9_000;
    assert.equal((await r.resolve(ref, ctx)).value, 'one', 'within TTL: cached');
    assert.equal(vault.count('/v1/secret/data/'), 1);
    clock += 2_000;
    assert.equal((await r.resolve(ref, ctx)).value, 'two', 'after TTL: re-read, rotated value');
    assert.equal(vault.count('/v1/secret/data/'), 2);
    r.purge('vault://secret/mcp/acme/cached#token');
    await r.resolve(ref, ctx);
    assert.equal(vault.count('/v1/secret/data/'), 3, 'purge forces a re-read');
  });

  test('server down, hanging server and oversize answers are E_PROVIDER_UNAVAILABLE', async () => {
    const gone = await serve((_q, res) => void res.end());
    await gone.close();
    const e = await rejectsWith(resolve(provider({ address: gone.url })), 'E_PROVIDER_UNAVAILABLE');
    assert.match(e.message, /unreachable/);
    const hang = await serve(() => {});
    const t0 = Date.now();
    try {
      await rejectsWith(resolve(provider({ address: hang.url, timeoutMs: 200 })), 'E_PROVIDER_UNAVAILABLE');
      assert.ok(Date.now() - t0 < 2_000);
    } finally {
      await hang.close();
    }
    const big = await serve((_q, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ data: { data: { token: 'x'.repeat(5000) } } }));
    });
    try {
      const e2 = await rejectsWith(resolve(provider({ address: big.url, maxBytes: 1000 })), 'E_PROVIDER_UNAVAILABLE');
      assert.match(e2.message, /larger than 1000 bytes/);
    } finally {
      await big.close();
    }
  });

  test('plain http is refused except on loopback', () => {
    assert.throws(
      () => new VaultProvider({ address: 'http://vault.internal:8200', auth: { method: 'token', token: ROOT } }),
      /https/,
    );
    assert.ok(new VaultProvider({ address: 'https://vault.internal:8200', auth: { method: 'token', token: ROOT } }));
    assert.ok(new VaultProvider({ address: 'http://localhost:8200', auth: { method: 'token', token: ROOT } }));
    assert.ok(new VaultProvider({ address: 'http://[::1]:8200', auth: { method: 'token', token: ROOT } }));
  });
});
