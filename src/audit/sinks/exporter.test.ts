import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditEvent } from '../../model/audit-event.ts';
import { Exporter } from './exporter.ts';
import { SinkError, SinkRejected, type Sink } from './sink.ts';
import { MemoryCursors, MemorySource } from '../../../test/fixtures/sinks/memory.ts';

/** A sink that records every attempt and fails on demand. */
class ScriptedSink implements Sink {
  readonly name = 'scripted';
  attempts: Array<{ at: number; keys: string[] }> = [];
  delivered: string[] = [];
  /** Called per attempt; throw to fail it. */
  fail: ((attempt: number) => void) | undefined;
  delayMs = 0;
  async send(batch: AuditEvent[]): Promise<void> {
    const keys = batch.map((e) => `${e.stream}:${e.seq}`);
    this.attempts.push({ at: Date.now(), keys });
    if (this.delayMs) await sleep(this.delayMs);
    this.fail?.(this.attempts.length);
    this.delivered.push(...keys);
  }
  async close(): Promise<void> {}
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

const keysOf = (src: MemorySource) => src.rows.map((r) => `${r.event.stream}:${r.event.seq}`);

test('runOnce drains in batches and persists the cursor after each', async () => {
  const src = new MemorySource();
  for (let i = 0; i < 11; i++) src.append(i % 2 ? 'a' : 'b');
  const sink = new ScriptedSink();
  const cursors = new MemoryCursors();
  const ex = new Exporter({ name: 'x', sink, source: src, cursors, batchSize: 4 });
  assert.equal(await ex.runOnce(), 11);
  assert.deepEqual(
    sink.attempts.map((a) => a.keys.length),
    [4, 4, 3],
  );
  assert.deepEqual(sink.delivered, keysOf(src));
  assert.equal(cursors.values.get('x'), 11);
  assert.equal(await ex.runOnce(), 0, 'caught up');
  assert.ok(ex.status().lastSuccessAt);
});

test('a restarted exporter resumes from the persisted cursor: nothing lost, nothing resent', async () => {
  const src = new MemorySource();
  const cursors = new MemoryCursors();
  const sink = new ScriptedSink();
  for (let i = 0; i < 5; i++) src.append('gw');
  await new Exporter({ name: 'x', sink, source: src, cursors, batchSize: 2 }).runOnce();
  for (let i = 0; i < 4; i++) src.append('gw');
  const again = new Exporter({ name: 'x', sink, source: src, cursors, batchSize: 2 });
  assert.equal(await again.runOnce(), 4);
  assert.deepEqual(sink.delivered, keysOf(src));
  assert.equal(again.status().cursor, 9);
});

test('replicas exporting to one sink share its cursor: what one sent, the other does not send again', async () => {
  const src = new MemorySource();
  const cursors = new MemoryCursors();
  const sink = new ScriptedSink();
  const [r1, r2] = [1, 2].map(() => new Exporter({ name: 'siem', sink, source: src, cursors, batchSize: 3 }));
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 5; i++) src.append(`gw${round % 2}`);
    // Each replica wakes in turn (its own appends, or its poll): the one behind reads the shared cursor.
    await r1.runOnce();
    await r2.runOnce();
  }
  assert.deepEqual(sink.delivered, keysOf(src), 'every record once, in order');
  assert.equal(cursors.values.get('siem'), 20);
});

test('a cursor write that fails resends the batch (a duplicate, never a gap)', async () => {
  const src = new MemorySource();
  const cursors = new MemoryCursors();
  const sink = new ScriptedSink();
  for (let i = 0; i < 3; i++) src.append('gw');
  cursors.failSets = 1;
  const ex = new Exporter({ name: 'x', sink, source: src, cursors, batchSize: 10 });
  await assert.rejects(ex.runOnce(), /cursor store unavailable/);
  assert.equal(ex.status().cursor, 0);
  assert.equal(ex.status().failures, 1);
  await ex.runOnce();
  assert.deepEqual(sink.delivered, [...keysOf(src), ...keysOf(src)]);
  assert.equal(cursors.values.get('x'), 3);
  assert.equal(ex.status().failures, 0);
});

test('a failed batch is retried as the SAME batch, even when records arrived meanwhile', async () => {
  const src = new MemorySource();
  const sink = new ScriptedSink();
  sink.fail = (n) => {
    if (n <= 2) throw new SinkError('boom');
  };
  src.append('gw');
  src.append('gw');
  const ex = new Exporter({ name: 'x', sink, source: src, cursors: new MemoryCursors(), batchSize: 5 });
  await assert.rejects(ex.runOnce());
  src.append('gw');
  await assert.rejects(ex.runOnce());
  await ex.runOnce();
  assert.deepEqual(
    sink.attempts.map((a) => a.keys),
    [['gw:1', 'gw:2'], ['gw:1', 'gw:2'], ['gw:1', 'gw:2'], ['gw:3']],
  );
});

test('background loop: exponential backoff with jitter, bounded by maxMs; Retry-After is a floor', async (t) => {
  const src = new MemorySource();
  src.append('gw');
  const sink = new ScriptedSink();
  sink.fail = () => {
    throw new SinkError('HTTP 503');
  };
  const ex = new Exporter({
    name: 'x',
    sink,
    source: src,
    cursors: new MemoryCursors(),
    backoff: { initialMs: 10, maxMs: 40 },
    random: () => 0,
  });
  ex.start();
  t.after(() => ex.stop());
  await until('6 attempts', () => sink.attempts.length >= 6);
  await ex.stop();
  const gaps = sink.attempts.slice(1).map((a, i) => a.at - sink.attempts[i].at);
  // random 0 → half the exponential base: 5, 10, 20, 20, 20 (base capped at 40).
  assert.ok(gaps[0] >= 4 && gaps[1] >= 9 && gaps[2] >= 19, `grows: ${gaps}`);
  assert.ok(
    gaps.every((g) => g < 40 + 30),
    `bounded: ${gaps}`,
  );
  assert.equal(ex.status().failures, sink.attempts.length);

  sink.attempts = [];
  sink.fail = (n) => {
    if (n === 1) throw new SinkError('HTTP 429', { status: 429, retryAfterMs: 80 });
  };
  const ex2 = new Exporter({
    name: 'y',
    sink,
    source: src,
    cursors: new MemoryCursors(),
    backoff: { initialMs: 1, maxMs: 1000 },
  });
  ex2.start();
  t.after(() => ex2.stop());
  await until('delivered', () => ex2.status().cursor === 1);
  await ex2.stop();
  assert.ok(sink.attempts[1].at - sink.attempts[0].at >= 75, 'waited for Retry-After');
});

test('non-retryable rejection: surfaced, cursor kept, slow retries only, resumes once accepted', async (t) => {
  const src = new MemorySource();
  for (let i = 0; i < 3; i++) src.append('gw');
  const sink = new ScriptedSink();
  let accept = false;
  sink.fail = () => {
    if (!accept) throw new SinkRejected('HTTP 400 mapper_parsing_exception', { status: 400 });
  };
  const seen: Array<[string, boolean]> = [];
  const cursors = new MemoryCursors();
  const ex = new Exporter({
    name: 'x',
    sink,
    source: src,
    cursors,
    backoff: { initialMs: 1, maxMs: 100 },
    pollMs: 5,
    onError: (m, r) => seen.push([m, r]),
  });
  ex.start();
  t.after(() => ex.stop());
  await sleep(250);
  const st = ex.status();
  assert.equal(st.rejected, true);
  assert.equal(st.cursor, 0);
  assert.equal(cursors.values.get('x'), undefined, 'cursor not advanced: nothing dropped');
  assert.match(st.lastError!, /mapper_parsing_exception/);
  assert.ok(
    sink.attempts.length >= 2 && sink.attempts.length <= 4,
    `retried at maxMs cadence, not in a tight loop: ${sink.attempts.length}`,
  );
  assert.deepEqual(seen[0], ['HTTP 400 mapper_parsing_exception', false]);
  accept = true;
  await until('delivered after the fix', () => ex.status().cursor === 3);
  assert.equal(ex.status().rejected, false);
  assert.equal(ex.status().lastError, undefined);
});

test('stop() waits for the in-flight send and its cursor write; no unhandled rejection', async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (r: unknown) => unhandled.push(r);
  process.on('unhandledRejection', onUnhandled);
  t.after(() => process.off('unhandledRejection', onUnhandled));
  const src = new MemorySource();
  src.append('gw');
  const sink = new ScriptedSink();
  sink.delayMs = 100;
  const cursors = new MemoryCursors();
  const ex = new Exporter({ name: 'x', sink, source: src, cursors, pollMs: 5 });
  ex.start();
  await assert.rejects(ex.runOnce(), /another run is in progress/);
  await until('send started', () => sink.attempts.length === 1);
  await ex.stop();
  assert.equal(cursors.values.get('x'), 1, 'the in-flight batch completed before stop returned');
  assert.equal(ex.status().running, false);

  // A sink throwing a non-Error, a source that throws, an onError that throws: all contained.
  const bad: Sink = { name: 'bad', send: async () => Promise.reject('not an Error'), close: async () => {} };
  src.append('gw');
  const ex2 = new Exporter({
    name: 'x',
    sink: bad,
    source: src,
    cursors,
    backoff: { initialMs: 1, maxMs: 5 },
    onError: () => {
      throw new Error('broken callback');
    },
  });
  ex2.start();
  await until('failures', () => ex2.status().failures >= 3);
  await ex2.stop();
  assert.equal(ex2.status().lastError, 'not an Error');
  const failingSource = new Exporter({
    name: 'z',
    sink,
    source: { read: () => Promise.reject(new Error('db down')) },
    cursors,
    backoff: { initialMs: 1, maxMs: 5 },
  });
  failingSource.start();
  await until('source failures', () => failingSource.status().failures >= 2);
  await failingSource.stop();
  assert.equal(failingSource.status().lastError, 'db down');
  await sleep(10);
  assert.deepEqual(unhandled, []);
});

test('notify() wakes an idle loop early', async (t) => {
  const src = new MemorySource();
  const sink = new ScriptedSink();
  const ex = new Exporter({ name: 'x', sink, source: src, cursors: new MemoryCursors(), pollMs: 60_000 });
  ex.start();
  t.after(() => ex.stop());
  await sleep(20);
  src.append('gw');
  ex.notify();
  await until('delivered without waiting for the poll', () => sink.delivered.length === 1, 1000);
  const t0 = Date.now();
  await ex.stop();
  assert.ok(Date.now() - t0 < 1000, 'stop does not wait for the idle poll');
});
