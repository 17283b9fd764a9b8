/**
 * Fan-out over a real Redis (the shared one on 127.0.0.1:6379, a channel of this test's own; and a
 * closed port for "down"): messages reach the other subscribers, never the sender; junk is ignored;
 * the CLI's one-shot announce arrives; without Redis, live stays false and announce gives up in time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Fanout, announce, startFanout, type FanoutMessage } from './fanout.ts';
import { Redis } from 'ioredis';
import { requireService } from '../../test/support/services.ts';
import { freePort } from '../../test/support/processes.ts';
import { eventually } from '../../test/support/eventually.ts';

const URL = 'redis://127.0.0.1:6379';

test('messages reach the other replicas, not the sender; junk is ignored; announce arrives', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const prefix = `gatehouse-test:${randomBytes(6).toString('hex')}:`;
  const got: Record<string, FanoutMessage[]> = { a: [], b: [] };
  const resyncs = { a: 0, b: 0 };
  const mk = (k: 'a' | 'b') =>
    new Fanout({
      url: URL,
      channel: `${prefix}fanout`,
      onMessage: (m) => got[k].push(m),
      onResync: () => resyncs[k]++,
    });
  const [a, b] = [mk('a'), mk('b')];
  try {
    assert.ok(await a.ready());
    assert.ok(await b.ready());
    assert.deepEqual(resyncs, { a: 1, b: 1 }, 'the first subscription re-checks what was cached before it');
    await a.publish({ kind: 'session.ended', session: 'abc' });
    const raw = new Redis(URL);
    await raw.publish(`${prefix}fanout`, 'not json');
    await raw.publish(`${prefix}fanout`, JSON.stringify({ origin: 'x', msg: { nokind: 1 } }));
    await raw.publish(`${prefix}fanout`, 'x'.repeat(5000));
    raw.disconnect();
    assert.equal(await announce({ url: URL, keyPrefix: prefix }, { kind: 'revocations.changed' }), true);
    for (let i = 0; i < 100 && got.b.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(got.b, [{ kind: 'session.ended', session: 'abc' }, { kind: 'revocations.changed' }]);
    assert.deepEqual(got.a, [{ kind: 'revocations.changed' }], 'the sender does not hear itself');
  } finally {
    await a.close();
    await b.close();
  }
});

test('the gateway wiring: an end elsewhere drops the copy; down means re-read every request', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const prefix = `gatehouse-test:${randomBytes(6).toString('hex')}:`;
  const ended: string[] = [];
  let distrusted = 0;
  let refreshed = 0;
  const sessions = {
    recheckMs: () => 5000,
    onEnded: (_id: string) => {},
    endedElsewhere: (id: string) => void ended.push(id),
    distrustAll: () => void distrusted++,
  };
  const log = { info() {}, error() {} };
  let synced = 0;
  const f = startFanout(
    { url: URL, keyPrefix: prefix },
    {
      sessions,
      revocations: { refresh: async () => void refreshed++ },
      modes: { sync: async () => void synced++ },
      log,
    },
  )!;
  try {
    assert.ok(await f.ready());
    assert.equal(sessions.recheckMs(), 5000, 'live: the cached copy is trusted (ends arrive at once)');
    assert.equal(distrusted, 1);
    await announce({ url: URL, keyPrefix: prefix }, { kind: 'session.ended', session: 's1' });
    for (let i = 0; i < 100 && ended.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(ended, ['s1']);
    const before = synced;
    await announce({ url: URL, keyPrefix: prefix }, { kind: 'modes.changed' });
    for (let i = 0; i < 100 && synced === before; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(synced, before + 1, 'modes re-read');
  } finally {
    await f.close();
  }
  assert.equal(sessions.recheckMs(), 0, 'not live: every request re-reads the store');
  assert.ok(refreshed >= 1);

  const dead = `redis://127.0.0.1:${await freePort()}`;
  const down = startFanout(
    { url: dead },
    { sessions: { ...sessions, recheckMs: () => 5000 }, revocations: { refresh: async () => {} }, log },
  )!;
  try {
    assert.equal(await down.ready(300), false);
    const t0 = Date.now();
    assert.equal(await announce({ url: dead }, { kind: 'revocations.changed' }, 300), false);
    assert.ok(Date.now() - t0 < 1000);
    assert.equal(await announce(undefined, { kind: 'revocations.changed' }), false);
  } finally {
    await down.close();
  }
});

test('Redis away at start is reported once, like a later loss: the log line and the metric', async () => {
  const errors: string[] = [];
  const live: boolean[] = [];
  const dead = `redis://127.0.0.1:${await freePort()}`; // nothing listens there
  const down = startFanout(
    { url: dead },
    {
      sessions: { recheckMs: () => 5000, onEnded: () => {}, endedElsewhere: () => {}, distrustAll: () => {} },
      revocations: { refresh: async () => {} },
      log: { info() {}, error: (_o, m) => void errors.push(m) },
      live: (up) => void live.push(up),
    },
  )!;
  try {
    assert.ok(await eventually(() => errors.length > 0, { timeoutMs: 10_000 }));
    assert.deepEqual(errors, [
      'fan-out: redis unreachable; every legacy session request re-reads the store until it is back',
    ]);
    // Several reconnection attempts later (ioredis retries every 100-1000 ms), still told once.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(errors.length, 1);
    assert.deepEqual(live, [false]);
  } finally {
    await down.close();
  }
  assert.equal(errors.length, 1, 'closing on purpose is not an outage');
});
