import { test } from 'node:test';
import assert from 'node:assert/strict';
import { paginate } from './paginate.ts';

test('pages through a list with opaque cursors', () => {
  const items = Array.from({ length: 7 }, (_, i) => i);
  const a = paginate(items, undefined, 3);
  assert.deepEqual(a.page, [0, 1, 2]);
  const b = paginate(items, a.nextCursor, 3);
  assert.deepEqual(b.page, [3, 4, 5]);
  const c = paginate(items, b.nextCursor, 3);
  assert.deepEqual(c.page, [6]);
  assert.equal(c.nextCursor, undefined);
});

test('a forged or malformed cursor is invalid params', () => {
  for (const bad of ['nope', 42, Buffer.from('o-1').toString('base64url'), Buffer.from('o1e9').toString('base64url')]) {
    assert.throws(() => paginate([1], bad, 3), /unknown `cursor`/);
  }
});
