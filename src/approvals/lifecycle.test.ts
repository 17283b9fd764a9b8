import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, expire, maySee, newRequest, pendingCapReached, use } from './lifecycle.ts';
import type { Transition } from './lifecycle.ts';
import type { ApprovalRequest, Approver, ApproversRule, BoundCall } from '../model/approval.ts';

const T0 = Date.UTC(2026, 0, 1);
const TTL = 15 * 60_000;
const call: BoundCall = {
  tenant: 'acme',
  principalKey: 'key:alice',
  client: 'claude',
  server: 'files',
  tool: 'files__delete_file',
  args: { path: '/srv/a.txt' },
  pin: 'sha256:pin1',
  policyRevision: 'rev1',
};

function request(rule: ApproversRule = { roles: ['approver'], count: 1 }): ApprovalRequest {
  return newRequest({
    id: 'apr_x',
    now: T0,
    ttlMs: TTL,
    call,
    subject: 'alice',
    toolClass: 'DESTRUCTIVE',
    shownArgs: call.args,
    rule: 'r1',
    approversRule: rule,
    resource: 'path:/srv/a.txt',
    summary: 'Delete file /srv/a.txt (files)',
  });
}

const bob: Approver = { key: 'key:bob', subject: 'bob', tenant: 'acme', roles: ['approver'] };
const carol: Approver = { key: 'key:carol', subject: 'carol', tenant: 'acme', roles: ['approver'] };

function ok(t: Transition): ApprovalRequest {
  assert.ok(t.ok, t.ok ? '' : `${t.code}: ${t.message}`);
  return t.request;
}
function refused(t: Transition, code: string): void {
  assert.equal(t.ok, false);
  if (!t.ok) assert.equal(t.code, code);
}

test('one allowed approver approves a count-1 request', () => {
  const r = ok(decide(request(), bob, 'approve', 'looks fine', T0 + 1));
  assert.equal(r.status, 'approved');
  assert.deepEqual(
    r.decisions.map((d) => [d.by.subject, d.decision, d.reason]),
    [['bob', 'approve', 'looks fine']],
  );
});

test('refusals: self-approval, cross-tenant, missing role, anonymous', () => {
  refused(
    decide(
      request(),
      { key: 'key:alice', subject: 'alice', tenant: 'acme', roles: ['approver'] },
      'approve',
      undefined,
      T0,
    ),
    'self_approval',
  );
  // The same human through another credential (same subject and tenant) is still the requester.
  refused(
    decide(
      request(),
      { key: 'key:alice-apikey', subject: 'alice', tenant: 'acme', roles: ['approver'] },
      'approve',
      undefined,
      T0,
    ),
    'self_approval',
  );
  refused(decide(request(), { ...bob, tenant: 'globex' }, 'approve', undefined, T0), 'cross_tenant');
  refused(decide(request(), { ...bob, roles: ['developer'] }, 'approve', undefined, T0), 'not_an_approver');
  refused(decide(request(), { ...bob, key: '' }, 'approve', undefined, T0), 'anonymous');
  // Neither roles nor subjects: nobody may decide (fails closed).
  refused(decide(request({ count: 1 }), bob, 'approve', undefined, T0), 'not_an_approver');
});

test('approvers named by subject are allowed without the role', () => {
  const r = ok(
    decide(
      request({ subjects: ['dave'], count: 1 }),
      { key: 'key:dave', subject: 'dave', tenant: 'acme', roles: [] },
      'approve',
      undefined,
      T0,
    ),
  );
  assert.equal(r.status, 'approved');
});

test('count 2 needs two DISTINCT approvers; the same approver twice is still one', () => {
  const one = ok(decide(request({ roles: ['approver'], count: 2 }), bob, 'approve', undefined, T0));
  assert.equal(one.status, 'pending');
  refused(decide(one, bob, 'approve', undefined, T0 + 1), 'already_decided');
  refused(decide(one, { ...bob, key: 'key:bob-2' }, 'approve', undefined, T0 + 1), 'already_decided');
  const two = ok(decide(one, carol, 'approve', undefined, T0 + 2));
  assert.equal(two.status, 'approved');
  assert.equal(two.decisions.length, 2);
});

test('deny wins: one deny by an allowed approver denies, even after an approval', () => {
  const one = ok(decide(request({ roles: ['approver'], count: 2 }), bob, 'approve', undefined, T0));
  const denied = ok(decide(one, carol, 'deny', 'no', T0 + 1));
  assert.equal(denied.status, 'denied');
  refused(
    decide(
      denied,
      { key: 'key:erin', subject: 'erin', tenant: 'acme', roles: ['approver'] },
      'approve',
      undefined,
      T0 + 2,
    ),
    'not_pending',
  );
  refused(decide(request(), { ...bob, roles: [] }, 'deny', undefined, T0), 'not_an_approver');
});

test('an expired request is refused and marked expired', () => {
  const t = decide(request(), bob, 'approve', undefined, T0 + TTL);
  refused(t, 'expired');
  assert.equal(!t.ok && t.request?.status, 'expired');
  assert.equal(expire(request(), T0 + TTL - 1).status, 'pending');
  assert.equal(expire(request(), T0 + TTL).status, 'expired');
  const approved = ok(decide(request(), bob, 'approve', undefined, T0));
  assert.equal(expire(approved, T0 + TTL).status, 'expired');
  const used = ok(use(approved, call, T0 + 1));
  assert.equal(expire(used, T0 + TTL).status, 'used', 'a used request stays used');
});

test('use: only approved, unexpired, once, and only for the identical call', () => {
  const pending = request();
  refused(use(pending, call, T0), 'not_approved');
  const approved = ok(decide(pending, bob, 'approve', undefined, T0));
  for (const change of [
    { args: { path: '/srv/b.txt' } },
    { pin: 'sha256:pin2' },
    { policyRevision: 'rev2' },
    { principalKey: 'key:mallory' },
    { client: 'other' },
  ]) {
    refused(use(approved, { ...call, ...change }, T0 + 1), 'binding_mismatch');
  }
  const used = ok(use(approved, call, T0 + 1));
  assert.equal(used.status, 'used');
  assert.equal(used.usedAt, T0 + 1);
  assert.equal(used.usedBy, 'key:alice');
  refused(use(used, call, T0 + 2), 'already_used');
  const late = use(approved, call, T0 + TTL);
  refused(late, 'expired');
  assert.equal(!late.ok && late.request?.status, 'expired');
  refused(use(ok(decide(request(), bob, 'deny', undefined, T0)), call, T0 + 1), 'not_approved');
});

test('transitions are pure: the input request is not changed', () => {
  const r = request();
  const before = structuredClone(r);
  ok(decide(r, bob, 'approve', undefined, T0));
  assert.deepEqual(r, before);
});

test('pending cap', () => {
  assert.equal(pendingCapReached(2, 3), false);
  assert.equal(pendingCapReached(3, 3), true);
  const rs = [request(), request(), { ...request(), status: 'approved' as const }];
  assert.equal(pendingCapReached(rs, 2), true);
  assert.equal(pendingCapReached(rs, 3), false);
  assert.equal(pendingCapReached(rs, 2, T0 + TTL), false, 'expired pending requests do not count');
});

test('who sees a request: a person of its tenant whom its rule names, never the requester (any of her credentials)', () => {
  const r = request();
  const person = { person: true };
  assert.equal(maySee(r, { ...bob, ...person }), true);
  // The requester holds the approver role too: her request does not exist for her, by key or by subject.
  assert.equal(
    maySee(r, { key: 'key:alice', subject: 'alice', tenant: 'acme', roles: ['approver'], ...person }),
    false,
  );
  assert.equal(
    maySee(r, { key: 'key:alice-sso', subject: 'alice', tenant: 'acme', roles: ['approver'], ...person }),
    false,
  );
  assert.equal(maySee(r, { ...bob, person: false }), false, 'a service key');
  assert.equal(maySee(r, bob), false, 'a credential of unknown kind');
  assert.equal(maySee(r, { ...bob, tenant: 'globex', ...person }), false, 'another tenant');
  assert.equal(maySee(r, { ...bob, roles: [], ...person }), false, 'no approver role');
});

test('a service key and an identity provider user whose `sub` reads `apikey:<name>` are not confused', () => {
  const idpKey = JSON.stringify(['jwt', 'https://idp.example.com', 'apikey:deploy-bot', 'acme']);
  const impostor: Approver = {
    key: idpKey,
    subject: 'apikey:deploy-bot',
    tenant: 'acme',
    roles: [],
    issuer: 'https://idp.example.com',
    person: true,
  };
  // A rule (or a request stored before the policy compiled it so) naming the key bare: the key only.
  for (const named of ['apikey:deploy-bot', { issuer: 'gatehouse', subject: 'apikey:deploy-bot' }]) {
    const r = request({ subjects: [named], count: 1 });
    refused(decide(r, impostor, 'approve', undefined, T0 + 1), 'not_an_approver');
    assert.equal(maySee(r, impostor), false);
  }
  // The two-person rule stays on the safe side: the same subject in one tenant is taken for one person,
  // so such a user can never count as a second approver beside, or decide the request of, that key.
  const bot = JSON.stringify(['api-key', 'gatehouse', 'apikey:deploy-bot', 'acme']);
  const byBot = {
    ...request({ roles: ['approver'], count: 1 }),
    requester: { ...request().requester, key: bot, subject: 'apikey:deploy-bot' },
  };
  refused(decide(byBot, { ...impostor, roles: ['approver'] }, 'approve', undefined, T0 + 1), 'self_approval');
});
