import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AskLane } from './ask-lane.ts';

const later = () => {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
};

test('an asker runs alone; non-askers run together; first come, first served', async () => {
  const lane = new AskLane();
  const log: string[] = [];
  const a = later();
  const b = later();
  const c = later();
  const runA = lane.run(
    false,
    async () => {
      log.push('a');
      return a.p;
    },
    { maxWaitMs: 5000 },
  );
  const runB = lane.run(
    false,
    async () => {
      log.push('b');
      return b.p;
    },
    { maxWaitMs: 5000 },
  );
  const runAsk = lane.run(
    true,
    async () => {
      log.push('ask');
      return c.p;
    },
    { maxWaitMs: 5000 },
  );
  const runD = lane.run(false, async () => void log.push('d'), { maxWaitMs: 5000 });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(log, ['a', 'b'], 'two non-askers together; the asker waits, and so does the one behind it');
  a.open();
  await runA;
  assert.deepEqual(log, ['a', 'b']);
  b.open();
  await runB;
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(log, ['a', 'b', 'ask'], 'the asker alone');
  assert.equal(lane.running, 1);
  c.open();
  await runAsk;
  await runD;
  assert.deepEqual(log, ['a', 'b', 'ask', 'd']);
  assert.equal(lane.running, 0);
});

test('waiting ends on abort and after the bound, and lets the next one in', async () => {
  const lane = new AskLane();
  const hold = later();
  const first = lane.run(true, () => hold.p, { maxWaitMs: 5000 });
  const ac = new AbortController();
  const aborted = lane.run(true, async () => 'no', { signal: ac.signal, maxWaitMs: 5000 });
  ac.abort();
  await assert.rejects(aborted, (e: Error & { code?: string }) => e.code === 'E_CANCELLED');
  await assert.rejects(
    lane.run(false, async () => 'no', { maxWaitMs: 20 }),
    /waited 20 ms/,
  );
  hold.open();
  await first;
  assert.equal(await lane.run(false, async () => 'yes', { maxWaitMs: 20 }), 'yes');
});
