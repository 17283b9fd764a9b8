import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestBudget, defaultRequestBudget, requestBudgetBytes, type Refused } from './request-budget.ts';

const MiB = 1024 * 1024;

test("a tenant's requests hold at most half of the budget; another tenant still has its own half", () => {
  const told: Refused[] = [];
  const b = new RequestBudget(100, (r) => {
    told.push(r);
    return new Error(r.reason);
  });
  const a1 = b.hold('acme');
  const a2 = b.hold('acme');
  assert.equal(a1.take(30), true);
  assert.equal(a2.take(20), true, "exactly acme's half fits");
  assert.equal(b.heldBy('acme'), 50);
  assert.equal(a2.fits(1), false, "over acme's half");
  const a3 = b.hold('acme');
  assert.equal(a3.take(1), false);
  assert.equal(a3.held, 0, 'a refusal takes nothing');
  assert.equal(b.held, 50);
  assert.equal((a3.refused() as Error).message, 'tenant');
  assert.deepEqual(told, [
    { reason: 'tenant', holder: 'acme', holderBytes: 50, shareBytes: 50, heldBytes: 50, budgetBytes: 100 },
  ]);
  const g = b.hold('globex');
  assert.equal(g.take(50), true, 'globex has its half whatever acme holds');
  assert.equal(b.held, 100);
  a1.release();
  assert.equal(b.heldBy('acme'), 20);
  assert.equal(a3.take(30), true, 'acme has room again once one of its requests ended');
});

test('the whole bounds every holder together: refused as total when the holder is within its half', () => {
  const b = new RequestBudget(100);
  const holds = ['a', 'b', 'c'].map((t) => b.hold(t));
  assert.equal(holds[0].take(40), true);
  assert.equal(holds[1].take(40), true);
  assert.equal(holds[2].take(21), false, 'c holds nothing, but the whole is short of 21');
  assert.equal(b.over('c', 21), 'total');
  assert.equal(b.over('c', 20), undefined);
  assert.match(holds[2].refused().message, /total/);
});

test('requests read before authentication take from a share of their own, apart from every tenant', () => {
  const b = new RequestBudget(100);
  const anon = b.hold(null);
  assert.equal(anon.take(50), true);
  assert.equal(b.hold(null).take(1), false);
  assert.equal(b.over(null, 1), 'unauthenticated');
  assert.equal(b.heldBy(null), 50);
  assert.equal(b.hold('acme').take(50), true, 'a tenant is not held back by them');
  anon.release();
  assert.equal(b.heldBy(null), 0);
});

test('a release gives everything back once, however often it is called; a released hold takes nothing more', () => {
  const b = new RequestBudget(1000);
  const h = b.hold('acme');
  for (let i = 0; i < 10; i++) assert.equal(h.take(7), true);
  assert.equal(h.held, 70);
  h.release();
  h.release();
  assert.equal(b.held, 0);
  assert.equal(b.heldBy('acme'), 0);
  assert.equal(h.take(1), false, 'the request is over: a late chunk is refused, not counted');
  assert.equal(h.fits(1), false);
  assert.equal(b.held, 0);
});

test('a reload changes the bound and the shares with it; bytes held are kept', () => {
  const b = new RequestBudget(100);
  const h = b.hold('acme');
  assert.equal(h.take(50), true);
  b.max = 60; // smaller than what is held: acme's half is 30, it holds 50
  assert.equal(b.hold('acme').take(1), false);
  assert.equal(b.hold('globex').take(11), false, 'the whole is over too');
  assert.equal(b.hold('globex').take(10), true);
  b.max = 400;
  assert.equal(b.share, 200);
  assert.equal(b.hold('acme').take(150), true);
  assert.equal(b.heldBy('acme'), 200);
});

test('the default: an eighth of the heap limit, at least twice the largest body; a configured value wins', () => {
  assert.equal(defaultRequestBudget(4 * MiB, 4096 * MiB), 512 * MiB);
  assert.equal(defaultRequestBudget(4 * MiB, 259 * MiB), Math.floor((259 * MiB) / 8));
  assert.equal(defaultRequestBudget(64 * MiB, 512 * MiB), 128 * MiB, "a tenant's half holds one largest body");
  assert.ok(defaultRequestBudget(4 * MiB) >= 8 * MiB, "this process's heap");
  assert.equal(requestBudgetBytes({ maxBodyBytes: 4 * MiB, maxBufferedRequestBytes: 10 * MiB }), 10 * MiB);
  assert.equal(requestBudgetBytes({ maxBodyBytes: 4 * MiB }), defaultRequestBudget(4 * MiB));
});
