import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  RequestBudget,
  defaultRequestBudget,
  requestBudgetBytes,
  requestReserve,
  type Refused,
} from './request-budget.ts';

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
    {
      what: 'request',
      reason: 'tenant',
      holder: 'acme',
      holderBytes: 50,
      shareBytes: 50,
      heldBytes: 50,
      budgetBytes: 100,
      reserveHeldBytes: 0,
      reserveBytes: 25,
    },
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

test('a tenant under the floor takes up to it from the reserve when the whole is held; past its floor, or the reserve used up, it is refused', () => {
  const told: Refused[] = [];
  const b = new RequestBudget(
    100,
    (r) => {
      told.push(r);
      return new Error(r.reason);
    },
    20,
  );
  assert.equal(b.reserve, 40, 'a quarter of the whole, at least two largest bodies');
  const [a, g] = [b.hold('acme'), b.hold('globex')];
  assert.equal(a.take(50), true);
  assert.equal(g.take(50), true);
  assert.equal(b.over('acme', 1), 'tenant', 'a busy tenant keeps to its half: the reserve is not for it');
  // The whole is held by two tenants: initech holds nothing, and still has one body of the floor's size.
  const i = b.hold('initech');
  assert.equal(i.fits(20), true);
  assert.equal(i.take(20), true);
  assert.equal(b.held, 120);
  assert.equal(b.reserved, 20);
  assert.equal(b.heldBy('initech'), 20);
  // Its second (past its floor) follows the usual rules: the whole is held.
  const i2 = b.hold('initech');
  assert.equal(i2.take(1), false);
  assert.equal(i2.refused().message, 'total');
  assert.deepEqual(told.at(-1), {
    what: 'request',
    reason: 'total',
    holder: 'initech',
    holderBytes: 20,
    shareBytes: 50,
    heldBytes: 120,
    budgetBytes: 100,
    reserveHeldBytes: 20,
    reserveBytes: 40,
  });
  // Other tenants under the floor share the rest of the reserve: once it is used up, they are refused too.
  assert.equal(b.hold('umbrella').take(15), true);
  const hooli = b.hold('hooli');
  assert.equal(hooli.take(6), false, 'the reserve has 5 left');
  assert.equal(hooli.refused().message, 'total');
  assert.equal(told.at(-1)?.reserveHeldBytes, 35);
  assert.equal(hooli.take(5), true);
  assert.equal(b.reserved, 40);
  assert.equal(b.held, 140, 'at most max + reserve held, whatever the number of tenants');
  assert.equal(b.hold('wonka').fits(1), false);
  // Bodies read before their caller is known have no floor.
  assert.equal(b.over(null, 1), 'total');
});

test("a request's bytes come partly from the whole and partly from the reserve, and each goes back where it came from", () => {
  const b = new RequestBudget(100, undefined, 20);
  const [a, g] = [b.hold('acme'), b.hold('globex')];
  assert.equal(a.take(45), true);
  assert.equal(g.take(50), true);
  const i = b.hold('initech');
  assert.equal(i.take(8), true, '5 fit within the whole, 3 from the reserve');
  assert.equal(b.reserved, 3);
  assert.equal(i.take(2), true);
  assert.equal(b.reserved, 5);
  assert.equal(b.held, 105);
  a.release();
  assert.equal(b.held, 60);
  assert.equal(b.reserved, 5, 'what initech took from the reserve stays there until it gives it back');
  i.release();
  assert.equal(b.held, 50);
  assert.equal(b.reserved, 0);
  assert.equal(b.heldBy('initech'), 0);

  // A tenant over part of the floor already: the rest of it from the reserve, no more.
  const i3 = b.hold('initech');
  assert.equal(i3.take(15), true);
  assert.equal(b.hold('acme').take(35), true, 'the whole is held again');
  assert.equal(b.over('initech', 6), 'total');
  const i4 = b.hold('initech');
  assert.equal(i4.take(5), true);
  assert.equal(b.reserved, 5);
  // Kept past its answer (a held call): its reserve bytes go back when the keeper lets go.
  const letGo = i4.keep();
  i4.release();
  assert.equal(b.reserved, 5);
  letGo();
  letGo();
  assert.equal(b.reserved, 0);
  assert.equal(b.heldBy('initech'), 15);
});

test('a reload changes the reserve with the whole and the floor; what was taken from it is given back there', () => {
  const b = new RequestBudget(100, undefined, 20);
  assert.equal(b.hold('acme').take(50), true);
  assert.equal(b.hold('globex').take(50), true);
  const i = b.hold('initech');
  assert.equal(i.take(20), true);
  assert.equal(b.reserved, 20);
  b.max = 400;
  assert.equal(b.reserve, 100, 'a quarter of the whole');
  b.floor = 60;
  assert.equal(b.reserve, 120, 'at least two largest bodies');
  b.max = 60;
  b.floor = 10;
  assert.equal(b.reserve, 20);
  assert.equal(b.hold('umbrella').take(1), false, 'the reserve is used up by what was held');
  i.release();
  assert.equal(b.reserved, 0);
  assert.equal(b.held, 100);
  assert.equal(b.hold('umbrella').take(10), true, "the floor is the reloaded one's");
  assert.equal(b.hold('hooli').take(11), false);
});

test('the reserve: a quarter of the budget, at least two of the largest bodies', () => {
  assert.equal(requestReserve(32 * MiB, 4 * MiB), 8 * MiB);
  assert.equal(requestReserve(8 * MiB, 4 * MiB), 8 * MiB);
  assert.equal(requestReserve(512 * MiB, 4 * MiB), 128 * MiB);
  assert.equal(new RequestBudget(100).reserve, 25);
});
