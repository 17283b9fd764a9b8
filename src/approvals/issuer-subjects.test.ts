// Approver rules name people by issuer: two issuers (real signed tokens, their own keys) with the same
// `sub` are two people, and only the named issuer's one may decide.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Authenticator } from '../identity/authenticator.ts';
import type { Principal } from '../identity/principal.ts';
import type { IdentityConfig } from '../config/schema.ts';
import type { ApiKeyStore } from '../storage/types.ts';
import { startSecondIssuer, type SecondIssuer } from '../../test/fixtures/oidc/second-issuer.ts';
import { decide, isAllowedApprover } from './lifecycle.ts';
import { fixtureRequest } from './fixtures.test-util.ts';
import type { Approver, ApproversRule } from '../model/approval.ts';

const RESOURCE = 'https://gateway.example.com/mcp';
let idpA: SecondIssuer;
let idpB: SecondIssuer;
let auth: Authenticator;

before(async () => {
  [idpA, idpB] = await Promise.all([startSecondIssuer(RESOURCE), startSecondIssuer(RESOURCE)]);
  const cfg = {
    resource: RESOURCE,
    resourceName: 'x',
    issuers: [
      { issuer: idpA.issuer, tenant: 'acme' },
      { issuer: idpB.issuer, tenant: 'acme' },
    ],
    claims: { tenant: 'tenant', roles: 'roles', clientId: 'client_id' },
    requiredScopes: {},
    adminRoles: ['admin'],
    platformAdminRoles: ['p'],
    apiKeys: false,
    clockToleranceSec: 30,
  } as unknown as IdentityConfig;
  auth = new Authenticator(cfg, 'never', {} as ApiKeyStore);
});
after(async () => {
  await idpA?.stop();
  await idpB?.stop();
});

const approverOf = (p: Principal): Approver => ({
  key: p.key,
  subject: p.subject,
  tenant: p.tenant,
  roles: p.roles,
  issuer: p.issuer,
  person: auth.isPerson(p),
});
const person = async (idp: SecondIssuer, subject: string) =>
  approverOf(await auth.authenticateToken(await idp.mint({ roles: [] }, { subject })));

test("the same sub from two issuers: only the named issuer's alice may approve", async () => {
  const [aliceA, aliceB] = [await person(idpA, 'alice'), await person(idpB, 'alice')];
  assert.equal(aliceA.subject, aliceB.subject);
  assert.notEqual(aliceA.key, aliceB.key);
  const rule: ApproversRule = { subjects: [{ issuer: idpA.issuer, subject: 'alice' }], count: 1 };
  const req = fixtureRequest('files__write_file', { path: '/a' }, { approversRule: rule });
  const requester = { ...req.requester, subject: 'bob', key: 'key:bob' };
  const pending = { ...req, requester };
  const now = req.createdAt + 1000;

  const byB = decide(pending, aliceB, 'approve', undefined, now);
  assert.deepEqual(byB.ok ? 'approved' : byB.code, 'not_an_approver');
  const denyByB = decide(pending, aliceB, 'deny', undefined, now);
  assert.deepEqual(denyByB.ok ? 'denied' : denyByB.code, 'not_an_approver', 'nor can she stop it');
  const byA = decide(pending, aliceA, 'approve', undefined, now);
  assert.ok(byA.ok, JSON.stringify(byA));
  assert.equal(byA.request.status, 'approved');
});

test('issuer and subject must both match; a bare subject is any issuer’s (which is why the config refuses it with several)', async () => {
  const [aliceA, aliceB, malloryA] = [
    await person(idpA, 'alice'),
    await person(idpB, 'alice'),
    await person(idpA, 'mallory'),
  ];
  const named = { subjects: [{ issuer: idpA.issuer, subject: 'alice' }], count: 1 } as const;
  assert.deepEqual(
    [aliceA, aliceB, malloryA].map((a) => isAllowedApprover(named, a)),
    [true, false, false],
  );
  // An approver whose issuer is unknown (the operator at the CLI) matches no issuer-qualified entry.
  assert.equal(isAllowedApprover(named, { ...aliceA, issuer: undefined }), false);
  const bare = { subjects: ['alice'], count: 1 } as const;
  assert.deepEqual(
    [aliceA, aliceB, malloryA].map((a) => isAllowedApprover(bare, a)),
    [true, true, false],
  );
  // API keys' people are issuer `gatehouse`.
  const key = { key: 'k', subject: 'alice', tenant: 'acme', roles: [], issuer: 'gatehouse' };
  assert.equal(isAllowedApprover({ subjects: [{ issuer: 'gatehouse', subject: 'alice' }], count: 1 }, key), true);
  assert.equal(isAllowedApprover(named, key), false);
  assert.equal(isAllowedApprover(bare, key), false, 'a bare subject is never a key’s person');
  // The operator at the CLI (no issuer) is matched by a bare subject.
  assert.equal(isAllowedApprover(bare, { ...aliceA, issuer: undefined }), true);
});
