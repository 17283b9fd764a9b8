import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from './eventually.ts';

test('eventually returns the first truthy value, retrying falsy results and throws', async () => {
  let n = 0;
  const v = await eventually(
    () => {
      n++;
      if (n === 1) throw new Error('not yet');
      return n >= 3 ? `done at ${n}` : undefined;
    },
    { timeoutMs: 5000, intervalMs: 1 },
  );
  assert.equal(v, 'done at 3');
});

test('eventually throws after the timeout, with the last error as the cause', async () => {
  const err = await eventually(
    () => {
      throw new Error('still down');
    },
    { timeoutMs: 30, intervalMs: 5 },
  ).catch((e: Error) => e);
  assert.match((err as Error).message, /condition not met within 30 ms/);
  assert.equal(((err as Error).cause as Error).message, 'still down');
  await assert.rejects(
    eventually(() => false, { timeoutMs: 20, intervalMs: 5 }),
    /not met/,
  );
});
