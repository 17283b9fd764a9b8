// RFC 7662 introspection for opaque tokens, through TokenVerifier and the Introspector directly, against
// a small loopback introspection endpoint.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenVerifier } from './jwt.ts';
import type { VerifyResult } from './jwt.ts';
import { Introspector, tokenHash } from './introspection.ts';
import { json, loopback } from '../../test/fixtures/oidc/loopback.ts';
import type { Loopback } from '../../test/fixtures/oidc/loopback.ts';

const RESOURCE = 'https://gateway.example.com/mcp';
const ISSUER = 'https://idp.example.com';
const now = () => Math.floor(Date.now() / 1000);

function assertRefused(result: VerifyResult, reason: string): void {
  assert.equal(result.ok, false, `expected refusal (${reason})`);
  if (!result.ok) assert.equal(result.reason, reason);
}

describe('introspection (RFC 7662) for opaque tokens', () => {
  const answers = new Map<string, Record<string, unknown>>();
  let idp: Loopback;
  let v: TokenVerifier;
  const config = () => ({ url: `${idp.url}/introspect`, clientId: 'gatehouse', clientSecret: 's3cret:/' });
  before(async () => {
    idp = await loopback((req, res, body) => {
      const expected = `Basic ${Buffer.from('gatehouse:s3cret%3A%2F').toString('base64')}`;
      if (req.method !== 'POST' || req.headers.authorization !== expected)
        return json(res, 401, { error: 'invalid_client' });
      const token = new URLSearchParams(body).get('token') ?? '';
      json(res, 200, answers.get(token) ?? { active: false });
    });
    v = new TokenVerifier({ issuers: [{ issuer: ISSUER }], audience: RESOURCE, introspection: config() });
    const active = {
      active: true,
      sub: 'svc-1',
      client_id: 'agent-a',
      scope: 'mcp:tools mcp:read',
      aud: RESOURCE,
      iss: ISSUER,
      exp: now() + 600,
      tenant: 'acme',
      roles: ['agent'],
    };
    answers.set('opaque-good', active);
    answers.set('opaque-good-2', { ...active, aud: [RESOURCE], sub: 'svc-2' });
    answers.set('opaque-two-aud', { ...active, aud: [RESOURCE, 'http://evil.example'], sub: 'svc-3' });
    answers.set('opaque-two-aud-same', { ...active, aud: [RESOURCE, RESOURCE], sub: 'svc-4' });
    answers.set('opaque-inactive', { ...active, active: false });
    answers.set('opaque-truthy', { ...active, active: 'true' });
    answers.set('opaque-wrong-aud', { ...active, aud: `${RESOURCE}/` });
    answers.set('opaque-wrong-iss', { ...active, iss: 'https://evil.example' });
    answers.set('opaque-expired', { ...active, exp: now() - 120 });
    answers.set('opaque-no-exp', { ...active, exp: undefined });
    answers.set('opaque-no-sub', { ...active, sub: undefined });
    answers.set('opaque-key-sub', { ...active, sub: 'apikey:deploy-bot' });
  });
  after(() => idp?.close());

  test('an active answer becomes a principal, and is cached', async () => {
    idp.hits.length = 0;
    const r = await v.verify('opaque-good');
    assert.ok(r.ok, JSON.stringify(r));
    const { expiresAt: _, tokenId: _t, ...rest } = r.principal;
    assert.deepEqual(rest, {
      subject: 'svc-1',
      tenant: 'acme',
      clientId: 'agent-a',
      roles: ['agent'],
      scopes: ['mcp:tools', 'mcp:read'],
      issuer: ISSUER,
      via: 'introspection',
    });
    assert.equal(idp.hits.length, 1);
    assert.equal((await v.verify('opaque-good')).ok, true);
    assert.equal(idp.hits.length, 1, 'second verify of the same token is served from cache');
    assert.equal((await v.verify('opaque-good-2')).ok, true);
    assert.equal(idp.hits.length, 2, 'a different token is introspected');
  });

  test('refusals: inactive, wrong aud, unknown iss, expired, missing claims, bad client auth', async () => {
    assertRefused(await v.verify('opaque-inactive'), 'token inactive');
    assertRefused(await v.verify('opaque-truthy'), 'token inactive');
    assertRefused(await v.verify('opaque-unknown'), 'token inactive');
    assertRefused(await v.verify('opaque-wrong-aud'), 'wrong audience');
    assertRefused(await v.verify('opaque-two-aud'), 'wrong audience'); // walk S: ours and another
    assertRefused(await v.verify('opaque-two-aud-same'), 'wrong audience');
    assertRefused(await v.verify('opaque-wrong-iss'), 'wrong issuer');
    assertRefused(await v.verify('opaque-expired'), 'token expired');
    assertRefused(await v.verify('opaque-no-exp'), 'missing exp claim');
    assertRefused(await v.verify('opaque-no-sub'), 'missing sub claim');
    assertRefused(await v.verify('opaque-key-sub'), 'reserved sub claim');
    const before = idp.hits.length;
    assertRefused(await v.verify('opaque-inactive'), 'token inactive');
    assert.equal(idp.hits.length, before, 'negative answers are cached too');
    assertRefused(await v.verify('has space'), 'malformed token');
    assert.equal(idp.hits.length, before, 'a token that is not a b64token is never sent');
    const wrongSecret = new TokenVerifier({
      issuers: [{ issuer: ISSUER }],
      audience: RESOURCE,
      introspection: { ...config(), clientSecret: 'nope' },
    });
    assertRefused(await wrongSecret.verify('opaque-good'), 'introspection failed');
  });

  test('the cache keys on SHA-256 of the token, caps at 30 s and never outlives exp', async () => {
    let clock = Date.now();
    const i = new Introspector(config(), {
      audience: RESOURCE,
      issuers: new Set([ISSUER]),
      claims: {},
      clockToleranceSec: 0,
      fetchTimeoutMs: 2000,
      cacheTtlMs: 3_600_000,
      now: () => clock,
    });
    answers.set('opaque-short', { active: true, sub: 's', aud: RESOURCE, exp: Math.floor(clock / 1000) + 5 });
    idp.hits.length = 0;
    assert.equal((await i.verify('opaque-good')).ok, true);
    assert.equal((await i.verify('opaque-short')).ok, true);
    assert.deepEqual(i.cacheKeys().sort(), [tokenHash('opaque-good'), tokenHash('opaque-short')].sort());
    assert.ok(i.cacheKeys().every((k) => !k.includes('opaque')));
    clock += 6_000; // past opaque-short's exp, inside the 30 s cap
    assert.equal((await i.verify('opaque-good')).ok, true);
    assert.equal(idp.hits.length, 2);
    assertRefused(await i.verify('opaque-short'), 'token expired');
    assert.equal(idp.hits.length, 3);
    clock += 30_000; // past the 30 s cap even though cacheTtlMs asked for an hour
    assert.equal((await i.verify('opaque-good')).ok, true);
    assert.equal(idp.hits.length, 4);
  });

  test('a flood of one bad token costs one introspection call; the refusal is cached 10 s, bounded', async () => {
    let clock = Date.now();
    const i = new Introspector(config(), {
      audience: RESOURCE,
      issuers: new Set([ISSUER]),
      claims: {},
      clockToleranceSec: 0,
      fetchTimeoutMs: 2000,
      cacheEntries: 20,
      now: () => clock,
    });
    idp.hits.length = 0;
    const results = await Promise.all(Array.from({ length: 500 }, () => i.verify('opaque-bad-flood')));
    assert.ok(results.every((r) => !r.ok));
    assert.equal(idp.hits.length, 1, '500 concurrent lookups, one call');
    assertRefused(await i.verify('opaque-bad-flood'), 'token inactive');
    assert.equal(idp.hits.length, 1, 'served from the negative cache');
    assert.equal(i.negativeEntries, 1);
    clock += 10_001;
    assertRefused(await i.verify('opaque-bad-flood'), 'token inactive');
    assert.equal(idp.hits.length, 2, 'asked again once the refusal expired');
    for (let n = 0; n < 30; n++) await i.verify(`opaque-distinct-${n}`);
    assert.equal(i.negativeEntries, 20, 'bounded');
  });
});
