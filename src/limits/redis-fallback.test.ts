/**
 * What a replica's local limits know when Redis goes, and what Redis is told when it comes back (walk
 * X): the leases and rate buckets in Redis are read directly (ZRANGE, HGET), so a leak or a double
 * count shows. Redis is cut or frozen through a TCP proxy this test owns; the shared server is never
 * touched. Replicas are limiters of their own, each with its own local fallback.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisLimiter, type RedisLimiterOptions } from './redis.ts';
import { SCRIPTS } from './redis-scripts.ts';
import type { AcquireResult, Lease, LimitCall } from './limiter.ts';
import type { LimitRule } from './model.ts';
import { dropRedisKeys, requireService } from '../../test/support/services.ts';
import { tcpProxy } from '../../test/support/tcp-proxy.ts';
import { eventually } from '../../test/support/eventually.ts';

const REDIS = 'redis://127.0.0.1:6379';
const alice: LimitCall = { tenant: 'acme', subject: 'alice', tool: 'ci__deploy' };
const CAP: LimitRule[] = [{ id: 'one', scope: 'principal', concurrency: 1 }];
const TEN_AN_HOUR: LimitRule[] = [{ id: 'ten', scope: 'principal', rate: { points: 10, perSeconds: 3600 } }];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lease = (r: AcquireResult): Lease => {
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r;
};

async function setup(t: TestContext) {
  const prefix = `gatehouse-test:limits-fallback:${randomUUID()}:`;
  const admin = new Redis(REDIS);
  const limiters: RedisLimiter[] = [];
  const make = (url: string, extra: Partial<RedisLimiterOptions> = {}, rules = CAP) => {
    const l = new RedisLimiter(rules, { url, keyPrefix: prefix, fallbackDivisor: 2, retryIntervalMs: 50, ...extra });
    limiters.push(l);
    return l;
  };
  t.after(async () => {
    await Promise.all(limiters.map((l) => l.close()));
    await dropRedisKeys(prefix);
    await admin.quit();
  });
  const key = `${prefix}c:${JSON.stringify(['one', 'principal', alice.tenant, alice.subject])}`;
  /** The lease ids alice's cap holds in Redis now. */
  const members = () => admin.zrangebyscore(key, Date.now(), '+inf');
  /** The points left in alice's bucket of TEN_AN_HOUR in Redis (a few ms of refill aside). */
  const bucket = async () =>
    Number(
      await admin.hget(`${prefix}r:${JSON.stringify(['ten', 'principal', alice.tenant, alice.subject])}`, 'tokens'),
    );
  return { make, members, bucket, admin, proxy: await tcpProxy(t, 6379) };
}

test('an acquire whose answer Redis never sent (frozen): its lease, taken there after all, is removed once Redis answers, not after the TTL', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const { make, members, proxy } = await setup(t);
  const a = make(`redis://127.0.0.1:${proxy.port}`, { commandTimeoutMs: 200 });
  const other = make(REDIS);
  assert.ok((await a.ready()) && (await other.ready()));
  proxy.freeze(true); // Redis stopped (SIGSTOP): what a sends is held, and runs when it thaws
  const local = lease(await a.acquire(alice)); // timed out: let through locally
  assert.equal(a.degraded, true);
  await local.release();
  proxy.freeze(false);
  // The held acquire ran: a lease nobody renews or releases, for the TTL (30 s)...
  await eventually(async () => (await members()).length === 1);
  assert.equal((await other.acquire(alice)).ok, false);
  // ...until a talks to Redis again (its next acquire, any principal's): the lost lease id is removed first.
  await sleep(100);
  lease(await a.acquire({ ...alice, subject: 'bob' }));
  assert.equal(a.degraded, false);
  assert.deepEqual(await members(), []);
  lease(await other.acquire(alice));
});

test('leases across a cut: a release lost in it is sent again, a local lease still running is added, one ended is not', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const { make, members, proxy } = await setup(t);
  const a = make(`redis://127.0.0.1:${proxy.port}`);
  const b = make(`redis://127.0.0.1:${proxy.port}`, { fallbackDivisor: 1 });
  assert.ok((await a.ready()) && (await b.ready()));
  const first = lease(await a.acquire(alice)); // through Redis
  assert.equal((await members()).length, 1);
  await proxy.down();
  assert.equal((await a.acquire(alice)).ok, false, 'its first call still runs: the local cap of 1 is taken');
  await first.release(); // cannot reach Redis
  const second = lease(await a.acquire(alice)); // locally
  const brief = lease(await b.acquire(alice)); // b's own local share, ended before Redis is back
  await brief.release();
  await proxy.up();
  // The ready connection settles at once: the lost release is sent, the running local lease is added.
  await eventually(async () => (await members()).length === 1 && a.degraded === false);
  await sleep(200);
  assert.equal((await members()).length, 1, "only a's running call: no leak, no double count");
  assert.equal((await b.acquire(alice)).ok, false, 'b sees it: the cap of 1 is full');
  await second.release();
  assert.deepEqual(await members(), []);
  lease(await b.acquire(alice));
});

test("a task's hold mirrored locally goes when another replica ends the task, so a later cut is not blocked by it", async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const { make, proxy } = await setup(t);
  // leaseTtlMs 1 s: the renewal timer, which also looks for ended tasks, runs every 333 ms.
  const a = make(`redis://127.0.0.1:${proxy.port}`, { leaseTtlMs: 1000 });
  const other = make(REDIS, { leaseTtlMs: 1000 });
  assert.ok((await a.ready()) && (await other.ready()));
  await lease(await a.acquire(alice)).holdForTask('task-1', 600_000);
  assert.equal((await other.acquire(alice)).ok, false, 'the task holds the slot in Redis');
  await other.endTask('task-1'); // seen to end on the other replica
  await sleep(800);
  await proxy.down();
  lease(await a.acquire(alice)); // locally: its mirror of the ended task is gone
  assert.equal(a.degraded, true);
});

test('a task held locally in a cut is held in Redis once it is back, and freed there when it ends', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const { make, members, proxy } = await setup(t);
  const a = make(`redis://127.0.0.1:${proxy.port}`);
  const other = make(REDIS);
  assert.ok((await a.ready()) && (await other.ready()));
  await proxy.down();
  await lease(await a.acquire(alice)).holdForTask('task-2', 600_000);
  assert.deepEqual(await members(), []);
  await proxy.up();
  await eventually(async () => (await members()).length === 1);
  const refused = await other.acquire(alice);
  assert.ok(!refused.ok && refused.heldByTask, 'held by a task, to its deadline');
  await other.endTask('task-2');
  assert.deepEqual(await members(), []);
  lease(await other.acquire(alice));
});

/** How many of `n` acquires for alice `l` lets through, one after another. */
async function passed(l: RedisLimiter, n: number, call = alice): Promise<number> {
  let ok = 0;
  for (let i = 0; i < n; i++) if ((await l.acquire(call)).ok) ok++;
  return ok;
}

test('rate points two replicas spent locally in a cut are added to Redis once it is back: the rest of the window is what the rule says', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const { make, bucket, proxy } = await setup(t);
  const a = make(`redis://127.0.0.1:${proxy.port}`, {}, TEN_AN_HOUR);
  const b = make(`redis://127.0.0.1:${proxy.port}`, {}, TEN_AN_HOUR);
  const other = make(REDIS, {}, TEN_AN_HOUR);
  assert.ok((await a.ready()) && (await b.ready()) && (await other.ready()));
  assert.equal(await passed(a, 2), 2); // through Redis: 8 left there, 3 in a's local share of 5
  await proxy.down();
  assert.equal(await passed(a, 4), 3, "a's local share, less the 2 it spent through Redis");
  assert.equal(await passed(b, 3), 3, "b's local share");
  assert.equal(a.degraded && b.degraded, true);
  await proxy.up();
  // Each is back on Redis at its next call (any principal's), which first adds what it spent locally.
  await eventually(async () => (await a.acquire({ ...alice, subject: 'bob' })).ok && !a.degraded);
  await eventually(async () => (await b.acquire({ ...alice, subject: 'bob' })).ok && !b.degraded);
  assert.equal(Math.floor(await bucket()), 2, '10 - 2 through Redis - 3 and 3 spent locally');
  assert.equal(await passed(other, 4), 2, 'within the hour, 2 more and no fresh budget');
  const refused = await a.acquire(alice);
  assert.ok(!refused.ok && refused.retryAfterMs > 300_000, 'a point refills in 6 minutes');
});

test('a catch-up whose answer was lost is sent again and counts once', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const { make, bucket, admin, proxy } = await setup(t);
  await admin.script('LOAD', SCRIPTS.points.src); // so the held EVALSHA runs when it thaws
  const a = make(`redis://127.0.0.1:${proxy.port}`, { commandTimeoutMs: 200 }, TEN_AN_HOUR);
  const other = make(REDIS, {}, TEN_AN_HOUR);
  assert.ok((await a.ready()) && (await other.ready()));
  await proxy.down();
  assert.equal(await passed(a, 3), 3); // locally
  proxy.freezeOn('r-sent:'); // the catch-up, sent as soon as the connection is ready again, is held...
  await proxy.up();
  await eventually(() => proxy.frozen());
  await sleep(400); // ...past the command timeout: its answer is lost, the points stay owed
  proxy.freeze(false); // and it runs in Redis after all
  await eventually(async () => Math.floor(await bucket()) === 7);
  // a's next call sends the catch-up again before its own acquire.
  lease(await a.acquire({ ...alice, subject: 'bob' }));
  assert.equal(a.degraded, false);
  assert.equal(Math.floor(await bucket()), 7, 'counted once');
  assert.equal(await passed(other, 8), 7);
});
