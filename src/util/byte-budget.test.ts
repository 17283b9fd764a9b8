import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteBudget, DEFAULT_UPSTREAM_BUFFER_BYTES, type RefusalReason } from './byte-budget.ts';

test('bytes are taken while they fit, refused (nothing taken) when they would go over, and given back', () => {
  const refused: RefusalReason[] = [];
  const b = new ByteBudget(100, (r) => refused.push(r));
  assert.equal(b.take(60), true);
  assert.equal(b.take(40), true, 'exactly the budget fits');
  assert.equal(b.held, 100);
  assert.equal(b.take(1), false);
  assert.equal(b.held, 100, 'a refusal takes nothing');
  assert.equal(b.fits(0), true);
  assert.equal(b.fits(1), false);
  b.give(60);
  assert.equal(b.fits(60), true);
  assert.equal(b.take(61), false);
  b.give(40);
  assert.equal(b.held, 0, 'back to zero');
  b.refused('budget');
  assert.deepEqual(refused, ['budget']);
});

test('the default is 256 MiB, and a reload may change the bound while bytes are held', () => {
  const b = new ByteBudget();
  assert.equal(b.max, DEFAULT_UPSTREAM_BUFFER_BYTES);
  assert.equal(DEFAULT_UPSTREAM_BUFFER_BYTES, 256 * 1024 * 1024);
  assert.equal(b.take(1000), true);
  b.max = 500; // smaller than what is held: nothing more fits until enough is given back
  assert.equal(b.take(1), false);
  b.give(1000);
  assert.equal(b.take(500), true);
});

test("a server's share: at most half of the budget, taken from the whole, whatever the other servers hold", () => {
  const all = new ByteBudget(100);
  const a = all.share('a');
  assert.equal(all.share('a'), a, 'one share per server');
  const b = all.share('b');
  assert.equal(a.take(50), true);
  assert.equal(a.take(1), false, "over a's half");
  assert.equal(a.fits(1), false);
  assert.equal(all.held, 50);
  assert.equal(b.take(40), true, 'b still has its half');
  assert.deepEqual(b.total, { held: 90, max: 100 });
  assert.equal(all.take(10), true);
  assert.equal(b.take(5), false, 'within its half, but the whole is full');
  assert.equal(b.held, 40, 'nothing taken');
  a.give(50);
  b.give(40);
  all.give(10);
  assert.equal(all.held, 0);
  all.max = 200; // a reload: the shares follow
  assert.equal(a.take(100), true);
  a.give(100);
});
