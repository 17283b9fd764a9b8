import { test } from 'node:test';
import assert from 'node:assert/strict';
import { doubled, equalJitter, nthDelay } from './backoff.ts';

test('doubled: twice the delay, never past the ceiling', () => {
  assert.deepEqual([doubled(500, 30_000), doubled(20_000, 30_000), doubled(30_000, 30_000)], [1000, 30_000, 30_000]);
});

test('nthDelay: the first retry waits initialMs, each next one twice as long, capped; huge attempts stay finite', () => {
  assert.deepEqual(
    [1, 2, 3, 4].map((n) => nthDelay(500, n, 60_000)),
    [500, 1000, 2000, 4000],
  );
  assert.equal(nthDelay(500, 10_000, 60_000), 60_000);
});

test('equalJitter: from half the base to the base', () => {
  assert.deepEqual(
    [equalJitter(1000, () => 0), equalJitter(1000, () => 0.5), equalJitter(1000, () => 1)],
    [500, 750, 1000],
  );
});
