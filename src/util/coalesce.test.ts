import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Coalescer } from './coalesce.ts';

test('a burst makes one call at once and one at the end of the window; keys are apart', async () => {
  const c = new Coalescer(100);
  const calls: string[] = [];
  for (let i = 0; i < 500; i++) c.run('a', () => calls.push('a'));
  c.run('b', () => calls.push('b'));
  assert.deepEqual(calls, ['a', 'b'], 'the first of each key at once');
  await sleep(150);
  assert.deepEqual(calls, ['a', 'b', 'a'], "the burst's rest folded into one call");
  await sleep(150);
  c.run('a', () => calls.push('a'));
  assert.deepEqual(calls, ['a', 'b', 'a', 'a'], 'after a quiet window, at once again');
  c.close();
});
