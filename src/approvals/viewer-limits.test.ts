import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ViewerLimits } from './viewer-limits.ts';

test('a viewer spends its burst, then waits; another viewer is not affected', () => {
  const l = new ViewerLimits({ burst: 3, perSecond: 1 });
  assert.deepEqual([l.take('a', 0), l.take('a', 0), l.take('a', 0)], [0, 0, 0]);
  assert.equal(l.take('a', 0), 1000);
  assert.equal(l.take('b', 0), 0);
  assert.equal(l.take('a', 1000), 0, 'a token comes back after a second');
});

test('the number of viewers kept is bounded', () => {
  const l = new ViewerLimits({ burst: 1, perSecond: 1 }, 2);
  l.take('a', 0);
  l.take('b', 0);
  l.take('c', 0);
  assert.equal(l.take('a', 0), 0, 'the oldest bucket was dropped (a fresh one starts full)');
});
