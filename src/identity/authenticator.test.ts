import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import type { ApiKeyStore, PrincipalRevocation } from '../storage/types.ts';
import type { GatehouseError } from '../protocol/errors.ts';
import { Authenticator } from './authenticator.ts';
import { PrincipalRevocations, anonymousMeaning } from './revocations.ts';

const loopback = { headers: {}, url: '/mcp', socket: { remoteAddress: '127.0.0.1' } } as unknown as IncomingMessage;
const revocation = (value: string, issuer = ''): PrincipalRevocation => ({
  kind: 'subject',
  value,
  issuer,
  reason: 'r',
  revokedBy: 'test',
  revokedAt: 1,
});

function withoutIdentity(list: PrincipalRevocation[]): Authenticator {
  const revocations = new PrincipalRevocations({
    list: async () => list,
    revoke: async () => {},
    restore: async () => false,
  });
  revocations.apply(list);
  return new Authenticator(undefined, 'loopback', {} as ApiKeyStore, { revocations });
}

test('without identity, a revoked `anonymous` refuses every caller without a credential', async () => {
  assert.equal((await withoutIdentity([]).authenticate(loopback)).subject, 'anonymous');
  await assert.rejects(
    withoutIdentity([revocation('anonymous')]).authenticate(loopback),
    (err: GatehouseError) =>
      err.code === 'E_UNAUTHENTICATED' && /principal revoked: every caller without a credential/.test(err.message),
  );
  // Revoked for one issuer only: anonymous callers have none, so they are not that issuer's.
  assert.equal(
    (await withoutIdentity([revocation('anonymous', 'https://idp')]).authenticate(loopback)).subject,
    'anonymous',
  );
  assert.equal((await withoutIdentity([revocation('alice')]).authenticate(loopback)).subject, 'anonymous');
});

test('revoking `anonymous` at every issuer is said to mean every caller without a credential', () => {
  assert.match(anonymousMeaning(revocation('anonymous'), false) ?? '', /every caller without a credential/);
  assert.equal(anonymousMeaning(revocation('anonymous', 'https://idp'), false), undefined);
  assert.equal(anonymousMeaning(revocation('alice'), false), undefined);
  // With identity every caller presents a credential already (walk O): said so, not "every caller".
  assert.match(
    anonymousMeaning(revocation('anonymous'), true) ?? '',
    /refuses only tokens whose subject is `anonymous`/,
  );
});

test('a caller without a credential admitted before its revocation is refused when checked again (walk O)', async () => {
  const list: PrincipalRevocation[] = [];
  const revocations = new PrincipalRevocations({
    list: async () => list,
    revoke: async () => {},
    restore: async () => false,
  });
  revocations.apply(list);
  const auth = new Authenticator(undefined, 'loopback', {} as ApiKeyStore, { revocations });
  const anonymous = await auth.authenticate(loopback);
  // The local user of `gatehouse stdio`: no listener authenticates it, so only these checks see it.
  const local = { ...anonymous, subject: 'local', key: 'local', via: 'local' as const };
  await auth.recheck(anonymous, 0);
  assert.equal(auth.revokedWithoutCredential(local), undefined);
  revocations.apply([revocation('anonymous'), revocation('local')]);
  await assert.rejects(auth.recheck(anonymous, 60_000), /principal revoked: every caller without a credential/);
  assert.equal(auth.revokedWithoutCredential(local), 'principal revoked');
});
