import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Holds } from './holds.ts';
import type { GatehouseError } from '../protocol/errors.ts';

test("holds are capped per principal and per tenant: one tenant's waiting calls leave room for another's", () => {
  const holds = new Holds(60_000, { total: 10, perPrincipal: 2, perTenant: 3 });
  try {
    const a1 = holds.create('b', { principal: 'p1', tenant: 't1' });
    holds.create('b', { principal: 'p1', tenant: 't1' });
    assert.throws(
      () => holds.create('b', { principal: 'p1', tenant: 't1' }),
      (e: GatehouseError) => e.code === 'E_RATE_LIMITED' && /your calls/.test(e.message),
    );
    holds.create('b', { principal: 'p2', tenant: 't1' });
    assert.throws(
      () => holds.create('b', { principal: 'p3', tenant: 't1' }),
      (e: GatehouseError) => e.code === 'E_RATE_LIMITED' && /tenant `t1`/.test(e.message),
    );
    assert.doesNotThrow(() => holds.create('b', { principal: 'q1', tenant: 't2' }), 'another tenant is unaffected');
    holds.release(a1);
    assert.doesNotThrow(() => holds.create('b', { principal: 'p3', tenant: 't1' }), 'a released hold frees its place');
  } finally {
    holds.close();
  }
});

test('the total cap still holds for calls without an owner', () => {
  const holds = new Holds(60_000, { total: 2, perPrincipal: 2, perTenant: 2 });
  try {
    holds.create('b');
    holds.create('b');
    assert.throws(() => holds.create('b'), /too many calls waiting/);
  } finally {
    holds.close();
  }
});

test('two waiting at once for one held call (two retries of one request state) are both woken by its result', async () => {
  const holds = new Holds(60_000);
  try {
    const h = holds.create('b');
    let finish: (v: { ok: boolean }) => void = () => {};
    h.start(() => new Promise((resolve) => (finish = resolve)));
    const signal = new AbortController().signal;
    const first = h.next(signal);
    const second = h.next(signal);
    finish({ ok: true });
    const late = new Promise((resolve) => setTimeout(() => resolve('still waiting'), 1000).unref());
    assert.deepEqual(await Promise.race([first, late]), { done: { ok: true } });
    assert.deepEqual(await Promise.race([second, late]), { done: { ok: true } });
  } finally {
    holds.close();
  }
});

test('a request state names its replica under a seal every replica checks: another binding, replica or key is invalid', () => {
  const key = Buffer.alloc(32, 7);
  const a = new Holds(60_000, undefined, 'a'.repeat(16));
  const b = new Holds(60_000, undefined, 'b'.repeat(16));
  const stranger = new Holds(60_000, undefined, 'c'.repeat(16));
  a.useKey(key);
  b.useKey(key);
  try {
    const h = a.create('bound');
    const state = a.seal(h);
    assert.match(state, /^gh1\.a{16}\./);
    assert.equal((a.locate(state, 'bound') as { held: unknown }).held, h);
    assert.deepEqual(b.locate(state, 'bound'), { replica: 'a'.repeat(16), id: h.id });
    const invalid = { code: 'E_INPUT_STATE' };
    assert.throws(() => b.locate(state, 'another caller'), invalid);
    // The replica part is under the seal: pointing the state at another replica breaks it.
    assert.throws(() => b.locate(state.replace('a'.repeat(16), 'b'.repeat(16)), 'bound'), invalid);
    assert.throws(() => b.locate(`${state}.x`, 'bound'), invalid);
    assert.throws(() => b.locate('gh1.AAAA.BBBB', 'bound'), invalid);
    // A replica without the shared key checks nothing it did not seal.
    assert.throws(() => stranger.locate(state, 'bound'), invalid);
  } finally {
    a.close();
    b.close();
    stranger.close();
  }
});
