import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FairMap } from './fair-map.ts';

test("past its own share a holder's oldest goes; past the bound in all, the largest holder's oldest", () => {
  const m = new FairMap<number>(5, 3);
  m.set('a1', 'a', 1);
  m.set('b1', 'b', 1);
  for (let i = 1; i <= 4; i++) m.set(`c${i}`, 'c', i);
  assert.equal(m.get('c1'), undefined, "c's own oldest went past its share");
  assert.deepEqual([m.get('a1'), m.get('b1'), m.get('c4'), m.size], [1, 1, 4, 5]);
  m.set('d1', 'd', 1);
  assert.equal(m.get('c2'), undefined, 'the largest holder gave way');
  assert.deepEqual([m.get('a1'), m.get('b1'), m.get('d1'), m.size], [1, 1, 1, 5]);
  m.set('a1', 'a', 2);
  assert.deepEqual([m.get('a1'), m.size], [2, 5], 'the same key again replaces it');
  m.delete('a1');
  m.delete('nothing');
  assert.equal(m.size, 4);
});

test("a share of one: each new entry replaces the holder's last", () => {
  const m = new FairMap<string>(10, 1);
  m.set('x', 'h', 'x');
  m.set('y', 'h', 'y');
  m.set('z', 'h', 'z');
  assert.deepEqual([m.get('x'), m.get('y'), m.get('z'), m.size], [undefined, undefined, 'z', 1]);
});
