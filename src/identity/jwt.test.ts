// TokenVerifier against a REAL OpenID provider (oidc-provider on loopback), plus forged and hostile tokens.
// Introspection (opaque tokens) is tested in introspection.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createPublicKey } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, importJWK } from 'jose';
import type { CryptoKey, JWTHeaderParameters, JWTPayload } from 'jose';
import { TokenVerifier } from './jwt.ts';
import { startOidcProvider } from '../../test/fixtures/oidc/provider.ts';
import type { OidcFixture } from '../../test/fixtures/oidc/provider.ts';
import { json, loopback } from '../../test/fixtures/oidc/loopback.ts';
import type { Loopback } from '../../test/fixtures/oidc/loopback.ts';

const RESOURCE = 'https://gateway.example.com/mcp';
const now = () => Math.floor(Date.now() / 1000);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A reason is short, lowercase, fixed text: never the token or any part of it. */
function assertRefused(result: Awaited<ReturnType<TokenVerifier['verify']>>, reason: string, token?: string): void {
  assert.equal(result.ok, false, `expected refusal (${reason})`);
  if (result.ok) return;
  assert.equal(result.reason, reason);
  assert.match(result.reason, /^[a-z0-9 ]{1,40}$/);
  if (token) for (const part of token.split('.')) if (part.length > 8) assert.ok(!result.reason.includes(part));
}

let op: OidcFixture;
let verifier: TokenVerifier;
let issuerKey: CryptoKey;
let attackerKey: CryptoKey;
let attacker: Loopback; // serves the attacker's JWKS/certs for jku/x5u: must never be hit
let claims: () => JWTPayload;
const forge = (payload: JWTPayload, header: Partial<JWTHeaderParameters> = {}, key: CryptoKey = issuerKey) =>
  new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: op.signingKey.kid, ...header }).sign(key);

before(async () => {
  op = await startOidcProvider({ resource: RESOURCE });
  verifier = new TokenVerifier({ issuers: [{ issuer: op.issuer }], audience: RESOURCE }); // jwks_uri by discovery
  issuerKey = (await importJWK(op.signingKey.privateJwk, 'ES256')) as CryptoKey;
  const pair = await generateKeyPair('ES256', { extractable: true });
  attackerKey = pair.privateKey;
  const attackerJwk = { ...(await exportJWK(pair.publicKey)), kid: 'evil', alg: 'ES256' };
  attacker = await loopback((_req, res) => json(res, 200, { keys: [attackerJwk] }));
  claims = () => ({
    iss: op.issuer,
    sub: 'agent-a',
    aud: RESOURCE,
    iat: now(),
    exp: now() + 300,
    client_id: 'agent-a',
    tenant: 'acme',
  });
});
after(async () => {
  await op?.stop();
  await attacker?.close();
});

describe('real tokens from the OpenID provider', () => {
  test('client_credentials token verifies to the right principal', async () => {
    const [a] = op.clients;
    const token = await op.clientCredentialsToken(a.id, a.secret, 'mcp:tools mcp:read');
    const result = await verifier.verify(token);
    assert.ok(result.ok, JSON.stringify(result));
    const { expiresAt, tokenId, ...rest } = result.principal;
    assert.equal(typeof tokenId, 'string', 'oidc-provider access tokens carry a jti');
    assert.deepEqual(rest, {
      subject: 'agent-a',
      tenant: 'acme',
      clientId: 'agent-a',
      roles: ['agent'],
      scopes: ['mcp:tools', 'mcp:read'],
      issuer: op.issuer,
      via: 'jwt',
    });
    assert.ok(Math.abs(expiresAt - (Date.now() + 600_000)) < 10_000);
    assert.ok(Object.isFrozen(result.principal));
  });

  test('each client gets its own tenant and roles', async () => {
    const by = (id: string) => op.clients.find((c) => c.id === id)!;
    const b = await verifier.verify(await op.clientCredentialsToken('agent-b', by('agent-b').secret, 'mcp:read'));
    assert.ok(b.ok);
    assert.deepEqual(
      [b.principal.subject, b.principal.tenant, b.principal.roles, b.principal.scopes],
      ['agent-b', 'globex', ['agent'], ['mcp:read']],
    );
    const admin = await verifier.verify(await op.clientCredentialsToken('admin', by('admin').secret, 'mcp:admin'));
    assert.ok(admin.ok);
    assert.deepEqual(admin.principal.roles, ['admin']);
  });

  test('authorization code + PKCE token verifies (user subject, public client)', async () => {
    const result = await verifier.verify(await op.authorizationCodeToken({ loginHint: 'alice' }));
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.principal.subject, 'alice');
    assert.equal(result.principal.clientId, 'agent-ui');
    assert.deepEqual(result.principal.scopes, ['mcp:tools']);
  });

  test('an explicitly configured jwksUri works too', async () => {
    const v = new TokenVerifier({
      issuers: [{ issuer: op.issuer, jwksUri: op.jwksUri, algorithms: ['ES256'] }],
      audience: RESOURCE,
    });
    const [a] = op.clients;
    assert.equal((await v.verify(await op.clientCredentialsToken(a.id, a.secret, 'mcp:tools'))).ok, true);
  });

  test('real tokens for look-alike audiences are refused (exact match only)', async () => {
    const [a] = op.clients;
    for (const resource of [
      'https://gateway.example.com.evil.test/mcp',
      'https://gateway.example.com/mcp/',
      'https://gateway.example.com/mcp2',
      'https://GATEWAY.example.com/mcp',
    ]) {
      const token = await op.clientCredentialsToken(a.id, a.secret, 'mcp:tools', { resource });
      assertRefused(await verifier.verify(token), 'wrong audience', token);
    }
  });
});

describe('hostile and broken tokens', () => {
  test('missing, empty, oversized and malformed tokens', async () => {
    assertRefused(await verifier.verify(''), 'missing token');
    assertRefused(await verifier.verify(undefined as unknown as string), 'missing token');
    assertRefused(await verifier.verify('x'.repeat(20_000)), 'token too large');
    assertRefused(await verifier.verify('abc.def'), 'malformed token');
    assertRefused(await verifier.verify('!!!.???.***'), 'malformed token');
    assertRefused(await verifier.verify(`${b64({ alg: 'ES256' })}.notjson.sig`), 'malformed token');
    assertRefused(await verifier.verify('opaque-token-but-no-introspection'), 'malformed token');
  });

  test('expiry and not-before, with the 30 s leeway', async () => {
    assertRefused(await verifier.verify(await forge({ ...claims(), exp: now() - 120 })), 'token expired');
    assert.equal((await verifier.verify(await forge({ ...claims(), exp: now() - 10 }))).ok, true);
    assertRefused(await verifier.verify(await forge({ ...claims(), nbf: now() + 120 })), 'token not yet valid');
    assert.equal((await verifier.verify(await forge({ ...claims(), nbf: now() + 10 }))).ok, true);
  });

  test('iat in the future (beyond the 30 s leeway) is refused', async () => {
    for (const iat of [now() + 120, now() + 3600, now() + 10 * 365 * 86_400]) {
      const token = await forge({ ...claims(), iat, exp: iat + 300 });
      assertRefused(await verifier.verify(token), 'token issued in the future', token);
    }
    assert.equal((await verifier.verify(await forge({ ...claims(), iat: now() + 10 }))).ok, true, 'within the leeway');
  });

  test('a lifetime beyond the limit (default 24 h) is refused, with iat or without', async () => {
    const tenYears = await forge({ ...claims(), iat: now(), exp: now() + 10 * 365 * 86_400 });
    assertRefused(await verifier.verify(tenYears), 'token lifetime too long', tenYears);
    // Issued long ago for a long life: what counts is the life it was given, not what is left of it.
    const old = await forge({ ...claims(), iat: now() - 20 * 86_400, exp: now() + 3600 });
    assertRefused(await verifier.verify(old), 'token lifetime too long');
    const { iat: _, ...noIat } = claims();
    assertRefused(await verifier.verify(await forge({ ...noIat, exp: now() + 2 * 86_400 })), 'token lifetime too long');
    assert.equal((await verifier.verify(await forge({ ...noIat, exp: now() + 3600 }))).ok, true);
    const n = now();
    assert.equal(
      (await verifier.verify(await forge({ ...claims(), iat: n, exp: n + 86_400 }))).ok,
      true,
      'exactly 24 h',
    );
    assertRefused(
      await verifier.verify(await forge({ ...claims(), iat: n, exp: n + 86_401 })),
      'token lifetime too long',
    );
    assert.equal((await verifier.verify(await forge({ ...claims(), iat: now() - 3600 }))).ok, true);
  });

  test('the lifetime limit is configurable, per issuer over the default, and checked at configuration', async () => {
    const hour = (opts: { issuer?: number; all?: number }) =>
      new TokenVerifier({
        issuers: [{ issuer: op.issuer, maxTokenLifetimeSec: opts.issuer }],
        audience: RESOURCE,
        maxTokenLifetimeSec: opts.all,
      });
    const twoHours = await forge({ ...claims(), exp: now() + 7200 });
    assertRefused(await hour({ all: 3600 }).verify(twoHours), 'token lifetime too long');
    assertRefused(await hour({ all: 86_400, issuer: 3600 }).verify(twoHours), 'token lifetime too long');
    assert.equal((await hour({ all: 3600, issuer: 7200 }).verify(twoHours)).ok, true, 'the issuer’s own limit wins');
    const week = await forge({ ...claims(), exp: now() + 7 * 86_400 });
    assert.equal((await hour({ issuer: 7 * 86_400 }).verify(week)).ok, true);
    for (const bad of [0, -1, 1.5, 366 * 86_400, Number.NaN])
      assert.throws(() => hour({ issuer: bad }), /maxTokenLifetimeSec for .* must be a whole number of seconds/);
    assert.throws(() => hour({ all: 0 }), /maxTokenLifetimeSec for identity must be/);
  });

  test('issuer: only configured issuers, and iss is required', async () => {
    assertRefused(await verifier.verify(await forge({ ...claims(), iss: 'https://evil.example' })), 'unknown issuer');
    assertRefused(await verifier.verify(await forge({ ...claims(), iss: `${op.issuer}/` })), 'unknown issuer');
    const { iss: _, ...noIss } = claims();
    assertRefused(await verifier.verify(await forge(noIss)), 'missing iss claim');
  });

  test('audience: forged look-alikes, arrays other than exactly ours, and absence', async () => {
    for (const aud of [
      'https://gateway.example.com.evil.test/mcp',
      `${RESOURCE}/`,
      [`${RESOURCE}/`, 'x'],
      'gateway.example.com',
      // walk S: ours among others is not exactly ours (a token meant for another resource too).
      ['other', RESOURCE],
      [RESOURCE, 'http://evil'],
      [RESOURCE, RESOURCE],
      [],
    ]) {
      assertRefused(await verifier.verify(await forge({ ...claims(), aud })), 'wrong audience');
    }
    const { aud: _, ...noAud } = claims();
    assertRefused(await verifier.verify(await forge(noAud)), 'wrong audience');
    assert.equal((await verifier.verify(await forge({ ...claims(), aud: [RESOURCE] }))).ok, true);
  });

  test("a sub that names one of the gateway's own principals is refused: a service key's, anonymous, local (walk P)", async () => {
    const own = 'reserved sub claim';
    for (const sub of ['apikey:deploy-bot', 'apikey:', 'anonymous', 'local', 'APIKEY:deploy-bot', ' apikey:x'])
      assertRefused(await verifier.verify(await forge({ ...claims(), sub })), own);
    for (const sub of ['apikey', 'Anonymous', 'local-admin', 'alice:apikey:x'])
      assert.equal((await verifier.verify(await forge({ ...claims(), sub }))).ok, true, sub);
  });

  test('sub and exp are required', async () => {
    const { sub: _s, ...noSub } = claims();
    assertRefused(await verifier.verify(await forge(noSub)), 'missing sub claim');
    assertRefused(await verifier.verify(await forge({ ...claims(), sub: '' })), 'invalid sub claim');
    assertRefused(
      await verifier.verify(await forge({ ...claims(), sub: 42 } as unknown as JWTPayload)),
      'invalid sub claim',
    );
    assertRefused(
      await verifier.verify(await forge({ ...claims(), exp: 'soon' } as unknown as JWTPayload)),
      'invalid claims',
    );
    const { exp: _e, ...noExp } = claims();
    assertRefused(await verifier.verify(await forge(noExp)), 'missing exp claim');
  });

  test('alg none is refused', async () => {
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`;
    assertRefused(await verifier.verify(token), 'algorithm not allowed', token);
  });

  test('HS256 signed with the issuer public key as HMAC secret is refused', async () => {
    const pem = createPublicKey({ key: op.signingKey.publicJwk as never, format: 'jwk' }).export({
      type: 'spki',
      format: 'pem',
    });
    for (const secret of [pem, JSON.stringify(op.signingKey.publicJwk)]) {
      const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: op.signingKey.kid })}.${b64(claims())}`;
      const token = `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
      assertRefused(await verifier.verify(token), 'algorithm not allowed', token);
    }
    // and a configuration cannot opt into it
    for (const alg of ['HS256', 'none']) {
      assert.throws(
        () => new TokenVerifier({ issuers: [{ issuer: op.issuer, algorithms: [alg] }], audience: RESOURCE }),
        TypeError,
      );
    }
  });

  test('a path-traversal kid simply matches no key', async () => {
    assertRefused(await verifier.verify(await forge(claims(), { kid: '../../etc/passwd' })), 'no matching key');
    assertRefused(
      await verifier.verify(await forge(claims(), { kid: '../../etc/passwd' }, attackerKey)),
      'no matching key',
    );
  });

  test('a token signed with another key is refused', async () => {
    assertRefused(await verifier.verify(await forge(claims(), {}, attackerKey)), 'bad signature');
    assertRefused(await verifier.verify(await forge(claims(), { kid: undefined }, attackerKey)), 'bad signature');
  });

  test('jku, x5u and jwk headers are ignored: no fetch to them', async () => {
    const attackerPublic = ((await fetch(`${attacker.url}/jwks`).then((r) => r.json())) as { keys: object[] }).keys[0];
    attacker.hits.length = 0; // that fetch was ours
    const headers: Partial<JWTHeaderParameters>[] = [
      { kid: 'evil', jku: `${attacker.url}/jwks` },
      { kid: op.signingKey.kid, jku: `${attacker.url}/jwks` },
      { kid: 'evil', x5u: `${attacker.url}/cert.pem` },
      { kid: 'evil', jwk: attackerPublic as JWTHeaderParameters['jwk'] },
      { kid: op.signingKey.kid, jwk: attackerPublic as JWTHeaderParameters['jwk'] },
    ];
    for (const header of headers) {
      const result = await verifier.verify(await forge(claims(), header, attackerKey));
      assert.equal(result.ok, false);
      assert.ok(!result.ok && ['no matching key', 'bad signature'].includes(result.reason), JSON.stringify(result));
    }
    assert.deepEqual(attacker.hits, []);
  });

  test('plain-http JWKS or issuer off loopback are refused at configuration', () => {
    assert.throws(
      () =>
        new TokenVerifier({
          issuers: [{ issuer: 'https://idp.example.com', jwksUri: 'http://idp.example.com/jwks' }],
          audience: RESOURCE,
        }),
      TypeError,
    );
    assert.throws(
      () => new TokenVerifier({ issuers: [{ issuer: 'http://idp.example.com' }], audience: RESOURCE }),
      TypeError,
    );
    assert.throws(() => new TokenVerifier({ issuers: [], audience: RESOURCE }), TypeError);
    assert.doesNotThrow(
      () =>
        new TokenVerifier({
          issuers: [{ issuer: 'https://idp.example.com', jwksUri: 'http://[::1]:9/jwks' }],
          audience: RESOURCE,
        }),
    );
  });

  test('a discovered jwks_uri that is plain http off loopback, or names another issuer, is not used', async () => {
    let doc: Record<string, unknown> = {};
    const idp = await loopback((_req, res) => json(res, 200, doc));
    try {
      doc = { issuer: idp.url, jwks_uri: 'http://idp.example.com/jwks' };
      const v1 = new TokenVerifier({ issuers: [{ issuer: idp.url }], audience: RESOURCE });
      assertRefused(await v1.verify(await forge({ ...claims(), iss: idp.url })), 'issuer keys unavailable');
      doc = { issuer: 'https://other.example', jwks_uri: op.jwksUri };
      const v2 = new TokenVerifier({ issuers: [{ issuer: idp.url }], audience: RESOURCE });
      assertRefused(await v2.verify(await forge({ ...claims(), iss: idp.url })), 'issuer keys unavailable');
      assert.ok(idp.hits.includes('/.well-known/oauth-authorization-server'), 'falls back to RFC 8414');
    } finally {
      await idp.close();
    }
  });

  test('an unreachable jwks_uri is a refusal, not a crash', async () => {
    const dead = await loopback(() => {});
    const url = `${dead.url}/jwks`;
    await dead.close(); // nothing listens there any more
    const v = new TokenVerifier({
      issuers: [{ issuer: op.issuer, jwksUri: url }],
      audience: RESOURCE,
      fetchTimeoutMs: 1000,
    });
    assertRefused(await v.verify(await forge(claims())), 'issuer keys unavailable');
  });

  test('an issuer whose keys cannot be fetched is reported with the issuer and why, never the token', async () => {
    const dead = await loopback(() => {});
    const url = `${dead.url}/jwks`;
    const down = dead.url;
    await dead.close();
    const told: Array<[string, string]> = [];
    const onKeysUnavailable = (issuer: string, reason: string) => void told.push([issuer, reason]);
    const jwks = new TokenVerifier({
      issuers: [{ issuer: op.issuer, jwksUri: url }],
      audience: RESOURCE,
      fetchTimeoutMs: 1000,
      onKeysUnavailable,
    });
    const token = await forge(claims());
    assertRefused(await jwks.verify(token), 'issuer keys unavailable');
    // Discovery that finds nothing: each location tried, and why.
    const discovery = new TokenVerifier({
      issuers: [{ issuer: down }],
      audience: RESOURCE,
      fetchTimeoutMs: 1000,
      onKeysUnavailable,
    });
    assertRefused(await discovery.verify(await forge({ ...claims(), iss: down })), 'issuer keys unavailable');
    assertRefused(await discovery.verify(await forge({ ...claims(), iss: down })), 'issuer keys unavailable');
    assert.deepEqual(
      told.map(([issuer]) => issuer),
      [op.issuer, down, down],
    );
    assert.match(told[0][1], new RegExp(`^${url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ECONNREFUSED`));
    assert.match(told[1][1], /^no usable discovery document \(.*\/\.well-known\/openid-configuration: ECONNREFUSED/);
    assert.match(told[2][1], /not retried for 10 s/);
    for (const [, reason] of told) for (const part of token.split('.')) assert.ok(!reason.includes(part));
  });

  test('claims mapping: roles path, string roles, scp, azp fallback, no prototype walking', async () => {
    const v = new TokenVerifier({
      issuers: [{ issuer: op.issuer, jwksUri: op.jwksUri }],
      audience: RESOURCE,
      claims: { roles: 'realm_access.roles', tenant: 'org.id' },
    });
    const { client_id: _c, tenant: _t, ...base } = claims();
    const r = await v.verify(
      await forge({
        ...base,
        azp: 'web',
        scp: ['a', 'b', 'a'],
        realm_access: { roles: 'x y' },
        org: { id: 'initech' },
      }),
    );
    assert.ok(r.ok);
    assert.deepEqual(
      [r.principal.clientId, r.principal.scopes, r.principal.roles, r.principal.tenant],
      ['web', ['a', 'b'], ['x', 'y'], 'initech'],
    );
    const p = new TokenVerifier({
      issuers: [{ issuer: op.issuer, jwksUri: op.jwksUri }],
      audience: RESOURCE,
      claims: { roles: '__proto__.constructor', tenant: 'constructor' },
    });
    const r2 = await p.verify(await forge({ ...base, roles: ['admin'] }));
    assert.ok(r2.ok);
    assert.deepEqual([r2.principal.roles, r2.principal.tenant, r2.principal.clientId], [[], null, null]);
  });
});
