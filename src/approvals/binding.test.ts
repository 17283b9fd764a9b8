import { test } from 'node:test';
import assert from 'node:assert/strict';
import { argsHashOf, bindingOf, isApprovalId, matches, mismatch, newApprovalId } from './binding.ts';
import { newRequest } from './lifecycle.ts';
import type { BoundCall } from '../model/approval.ts';

const call: BoundCall = {
  tenant: 'acme',
  principalKey: '["jwt","https://idp","alice","acme"]',
  client: 'claude',
  server: 'github',
  tool: 'github__create_issue',
  args: { owner: 'acme', repo: 'web', title: 'Fix login', labels: ['bug'] },
  pin: `sha256:${'a'.repeat(64)}`,
  policyRevision: '0123456789abcdef',
};

const changes: Array<[string, Partial<BoundCall>]> = [
  ['tenant', { tenant: 'other' }],
  ['principalKey', { principalKey: '["jwt","https://idp","mallory","acme"]' }],
  ['client', { client: 'cursor' }],
  ['server', { server: 'gitlab' }],
  ['tool', { tool: 'github__delete_repo' }],
  ['args', { args: { owner: 'acme', repo: 'web', title: 'Fix login!', labels: ['bug'] } }],
  ['args (nested)', { args: { owner: 'acme', repo: 'web', title: 'Fix login', labels: ['bug', 'p1'] } }],
  ['pin', { pin: `sha256:${'b'.repeat(64)}` }],
  ['policyRevision', { policyRevision: 'fedcba9876543210' }],
];

test('the binding changes when any bound field changes', () => {
  const base = bindingOf(call).binding;
  assert.match(base, /^sha256:[0-9a-f]{64}$/);
  for (const [name, change] of changes) assert.notEqual(bindingOf({ ...call, ...change }).binding, base, name);
});

test('key order does not change the args hash or the binding', () => {
  const reordered = { ...call, args: { labels: ['bug'], title: 'Fix login', repo: 'web', owner: 'acme' } };
  assert.equal(bindingOf(reordered).binding, bindingOf(call).binding);
  assert.equal(bindingOf(call).argsHash, argsHashOf(call.args));
  assert.match(bindingOf(call).argsHash, /^sha256:[0-9a-f]{64}$/);
});

test('matches only the identical call', () => {
  const req = newRequest({
    id: newApprovalId(),
    now: 0,
    ttlMs: 1000,
    call,
    subject: 'alice',
    toolClass: 'WRITE',
    shownArgs: { redacted: true },
    rule: 'r1',
    approversRule: { roles: ['lead'], count: 1 },
    summary: 's',
  });
  assert.equal(matches(req, call), true, 'shown (redacted) args are not used for matching');
  for (const [name, change] of changes) assert.equal(matches(req, { ...call, ...change }), false, name);
  assert.equal(mismatch(req, { ...call, pin: 'x' }), 'pin');
  assert.equal(mismatch(req, { ...call, args: {} }), 'arguments');
});

test('ids are url-safe, unguessable and distinct', () => {
  const ids = new Set(Array.from({ length: 200 }, () => newApprovalId()));
  assert.equal(ids.size, 200);
  for (const id of ids) assert.ok(isApprovalId(id), id);
  assert.equal(isApprovalId('apr_../../etc'), false);
});
