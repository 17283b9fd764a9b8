/**
 * The points a replica spent locally in a cut (LocalPoints) and what Redis makes of them (the POINTS
 * script, run on the shared test Redis under a prefix of this test's own, its keys read back directly).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { LocalPoints, runOver } from './local-points.ts';
import { SCRIPTS } from './redis-scripts.ts';
import { dropRedisKeys, requireService } from '../../test/support/services.ts';

/** 10 an hour: a point refills in 6 minutes, a full bucket in an hour. */
const RATE = { msPerPoint: 360_000, capacity: 10 };
const HOUR = 3_600_000;
const T0 = 1_700_000_000_000;

test('a run counts the points spent in a bucket, at most its capacity, as spent at the latest', () => {
  const p = new LocalPoints();
  for (let i = 0; i < 12; i++) p.add('k', RATE, T0 + i * 1000);
  p.add('other', RATE, T0);
  assert.equal(p.size, 2);
  const [k, other] = p.take(T0 + 20_000).sort((x, y) => (x.key < y.key ? -1 : 1));
  assert.deepEqual(
    { points: k.points, last: k.last, other: other.points },
    { points: 10, last: T0 + 11_000, other: 1 },
    'a bucket is emptied at most',
  );
  assert.notEqual(k.id, other.id);
  assert.equal(p.size, 0, 'taken out');
  p.add('k', RATE, T0 + 21_000);
  const [again] = p.take(T0 + 21_000);
  assert.equal(again.points, 1, 'a point spent after the take starts a new run...');
  assert.notEqual(again.id, k.id, '...under an id of its own: Redis counts it, and the taken run once');
});

test('points of a run over (a full refill since its latest) are not kept: a new point starts a new run', () => {
  const p = new LocalPoints();
  p.add('k', RATE, T0);
  p.add('k', RATE, T0 + 1000);
  assert.deepEqual(p.take(T0 + 1000 + HOUR), [], 'all refilled: nothing to send');
  p.add('k', RATE, T0);
  p.add('k', RATE, T0 + HOUR);
  const [run] = p.take(T0 + HOUR);
  assert.equal(run.points, 1);
  assert.equal(runOver(run, T0 + 2 * HOUR - 1), false);
  assert.equal(runOver(run, T0 + 2 * HOUR), true);
});

test('POINTS: a run is taken from its bucket as spent at its latest point, refilled since, once however often sent', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const prefix = `gatehouse-test:limits-points:${randomUUID()}:`;
  const redis = new Redis('redis://127.0.0.1:6379');
  t.after(async () => {
    await dropRedisKeys(prefix);
    await redis.quit();
  });
  const send = async (bucket: string, id: string, points: number, ago: number) =>
    Number(
      await redis.eval(
        SCRIPTS.points.src,
        2,
        prefix + bucket,
        `${prefix}r-sent:${id}`,
        360_000,
        10,
        points,
        ago,
        60_000,
      ),
    );
  const tokens = async (bucket: string) => Number(await redis.hget(prefix + bucket, 'tokens'));

  // A bucket Redis has not seen (full): 3 spent 30 minutes ago have refilled 5 points' worth since.
  assert.equal(await send('a', 'run-1', 3, 1_800_000), 1);
  assert.equal(Math.floor(await tokens('a')), 10, 'refilled (and nothing past the capacity)');
  // Spent just now: 7 left; the same run sent again (its answer lost) counts once.
  assert.equal(await send('b', 'run-2', 3, 0), 1);
  assert.equal(await send('b', 'run-2', 3, 0), 0);
  assert.equal(Math.floor(await tokens('b')), 7);
  // Another replica's run in the same bucket, spent before the bucket's last change: taken at that
  // change (now), not earlier, so no refill is counted twice; a bucket is emptied at most.
  assert.equal(await send('b', 'run-3', 3, 600_000), 1);
  assert.equal(Math.floor(await tokens('b')), 4);
  assert.equal(await send('b', 'run-4', 9, 0), 1);
  assert.ok((await tokens('b')) < 0.01, 'empty, not below');
  // The bucket lasts until it would be full again, as the acquire's do.
  assert.ok((await redis.pttl(`${prefix}b`)) > HOUR - 60_000);
  assert.ok((await redis.pttl(`${prefix}r-sent:run-2`)) > 50_000, "the run's mark outlasts any retry of it");
});
