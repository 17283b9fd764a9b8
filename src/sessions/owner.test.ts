import { test } from 'node:test';
import assert from 'node:assert/strict';
import { principalKey } from '../identity/principal.ts';
import { sessionOwnedBy } from './owner.ts';

test('a session belongs to its tenant, or to its tenant and subject for per-user connections', () => {
  const alice = principalKey({ via: 'jwt', issuer: 'https://idp', subject: 'alice', tenant: 'acme' });
  assert.equal(sessionOwnedBy(alice, 'acme'), true);
  assert.equal(sessionOwnedBy(alice, 'acme/alice'), true);
  assert.equal(sessionOwnedBy(alice, 'acme/bob'), false);
  assert.equal(sessionOwnedBy(alice, 'globex'), false);
  // A subject with a slash: the tenant ends at the first one (tenant names hold none).
  const odd = principalKey({ via: 'jwt', issuer: 'https://idp', subject: 'org/alice', tenant: 'acme' });
  assert.equal(sessionOwnedBy(odd, 'acme/org/alice'), true);
  assert.equal(sessionOwnedBy(odd, 'acme/org'), false);
});

test('the anonymous loopback caller is subject `anonymous` of tenant `default`; an unreadable key is nobody', () => {
  for (const key of ['anonymous', null]) {
    assert.equal(sessionOwnedBy(key, 'default'), true);
    assert.equal(sessionOwnedBy(key, 'default/anonymous'), true);
    assert.equal(sessionOwnedBy(key, 'acme'), false);
  }
  assert.equal(sessionOwnedBy('not json', 'default'), false);
});
