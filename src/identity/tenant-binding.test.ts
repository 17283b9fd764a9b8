import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bindTenant, checkBindings, isPlatformIssuer } from './tenant-binding.ts';

test('a fixed-tenant issuer: its tenant, whatever the token leaves out; another tenant claim is refused', () => {
  const b = { tenant: 't2' };
  assert.deepEqual(bindTenant(b, 2, null, undefined), { ok: true, tenant: 't2' });
  assert.deepEqual(bindTenant(b, 2, 't2', undefined), { ok: true, tenant: 't2' });
  assert.deepEqual(bindTenant(b, 2, 't1', undefined), { ok: false, reason: 'tenant not served by this issuer' });
});

test('a claim-mapped issuer: only tenants of its set; the default tenant must be in the set too', () => {
  const b = { tenants: ['t1', 't3'] };
  assert.deepEqual(bindTenant(b, 2, 't3', undefined), { ok: true, tenant: 't3' });
  assert.equal(bindTenant(b, 2, 't2', undefined).ok, false);
  assert.equal(bindTenant(b, 2, null, 't2').ok, false);
  assert.deepEqual(bindTenant(b, 2, null, 't1'), { ok: true, tenant: 't1' });
  assert.deepEqual(bindTenant(b, 2, null, undefined), { ok: false, reason: 'no tenant claim' });
});

test('platform issuers take any tenant; an unbound issuer only when it is the only one', () => {
  assert.deepEqual(bindTenant({ platform: true }, 3, 'any', undefined), { ok: true, tenant: 'any' });
  assert.equal(isPlatformIssuer({ platform: true }, 3), true);
  assert.equal(isPlatformIssuer({}, 1), true);
  assert.equal(isPlatformIssuer({}, 2), false);
  assert.equal(isPlatformIssuer({ tenant: 'x' }, 1), false);
  assert.equal(bindTenant({}, 2, 't1', undefined).ok, false);
  assert.equal(bindTenant(undefined, 1, 't1', undefined).ok, false);
});

test('bindings are checked at start: one kind each, none missing when there are several issuers', () => {
  assert.doesNotThrow(() => checkBindings([{ issuer: 'a' }]));
  assert.throws(() => checkBindings([{ issuer: 'a' }, { issuer: 'b', tenant: 't' }]), /not bound to a tenant/);
  assert.throws(() => checkBindings([{ issuer: 'a', tenant: 't', platform: true }]), /more than one way/);
  assert.throws(() => checkBindings([{ issuer: 'a', tenants: [] }]), /empty tenants/);
});
