/**
 * A task keeps the concurrency slots of the call that created it, in Redis (real, 127.0.0.1:6379,
 * a unique key prefix per test): two limiters on one prefix are two replicas. Whichever sees the task
 * end gives its slots back; a task never seen again frees them at its deadline, without renewal and
 * whether or not the replica that took them still runs.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { RedisLimiter } from './redis.ts';
import type { AcquireResult, Lease, LimitCall } from './limiter.ts';
import type { LimitRule } from './model.ts';
import { dropRedisKeys, requireService } from '../../test/support/services.ts';

const REDIS = 'redis://127.0.0.1:6379';
const deploy: LimitCall = { tenant: 'acme', subject: 'alice', tool: 'ci__deploy' };
const DEPLOYS: LimitRule = { id: 'deploys', scope: 'tenant_tool', tools: ['ci__deploy*'], concurrency: 1 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Two replicas on one fresh prefix; closed and their keys dropped at the end. */
async function replicas(
  t: TestContext,
  rules: LimitRule[],
  leaseTtlMs = 30_000,
): Promise<[RedisLimiter, RedisLimiter, string]> {
  await requireService(t, 'redis');
  const prefix = `gatehouse-test:task-limits:${randomUUID()}:`;
  const make = () => new RedisLimiter(rules, { url: REDIS, keyPrefix: prefix, leaseTtlMs, commandTimeoutMs: 2000 });
  const pair: [RedisLimiter, RedisLimiter] = [make(), make()];
  t.after(async () => {
    await Promise.all(pair.map((l) => l.close()));
    await dropRedisKeys(prefix);
  });
  for (const l of pair) assert.ok(await l.ready(), 'redis ready');
  return [...pair, prefix];
}

function lease(r: AcquireResult): Lease {
  assert.equal(r.ok, true, `expected a lease, got ${JSON.stringify(r)}`);
  return r as Lease;
}
function refusedBy(r: AcquireResult): string {
  assert.equal(r.ok, false, 'expected a refusal');
  return (r as { rule: string }).rule;
}

test('redis: a task holds its slot on every replica after its call returns; the other replica seeing it end frees it', async (t) => {
  const [a, b] = await replicas(t, [DEPLOYS]);
  const first = lease(await a.acquire(deploy));
  await first.holdForTask('task-1', 60_000);
  await first.release(); // the request ends: nothing given back
  assert.equal(refusedBy(await a.acquire(deploy)), 'deploys');
  assert.equal(refusedBy(await b.acquire(deploy)), 'deploys');
  await b.endTask('task-2');
  assert.equal(refusedBy(await b.acquire(deploy)), 'deploys', "another task's end frees nothing");
  await b.endTask('task-1');
  const next = lease(await b.acquire(deploy));
  await a.endTask('task-1'); // seen again on the other replica: nothing more given back
  assert.equal(refusedBy(await a.acquire(deploy)), 'deploys');
  await next.release();
  assert.equal((await a.acquire(deploy)).ok, true);
  assert.equal(a.degraded || b.degraded, false, 'all of it in redis, not the local fallback');
});

test('redis: a held slot outlives the lease ttl and its replica (no renewal), and frees at the task deadline', async (t) => {
  const [a, b] = await replicas(t, [DEPLOYS], 300);
  await lease(await a.acquire(deploy)).holdForTask('task-1', 1_500);
  await a.close(); // the replica that took it is gone: nothing renews, nothing releases
  const start = Date.now();
  await sleep(700); // past the 300 ms lease ttl: a running call's lease would have expired by now
  assert.equal(refusedBy(await b.acquire(deploy)), 'deploys');
  await sleep(Math.max(0, 1_500 - (Date.now() - start)) + 200);
  assert.equal((await b.acquire(deploy)).ok, true, 'free once the deadline has passed');
});

test("redis: a task's requests on any replica pass the caps its slot covers; a request naming no task does not", async (t) => {
  const perUser: LimitRule = { id: 'per-user', scope: 'principal', concurrency: 1 };
  const [a, b] = await replicas(t, [perUser, DEPLOYS], 300);
  await lease(await a.acquire(deploy)).holdForTask('task-1', 60_000);
  const poll = { ...deploy, continuation: true, task: 'task-1' };
  const gets = [lease(await b.acquire(poll)), lease(await b.acquire(poll))];
  await sleep(500); // renewals of the polls (ttl/3) must not add slots under the task's
  for (const g of gets) await g.release();
  assert.equal(refusedBy(await b.acquire({ ...deploy, tool: 'other__x' })), 'per-user');
  assert.equal(refusedBy(await b.acquire({ ...poll, task: 'task-2' })), 'per-user');
  await a.endTask('task-1');
  assert.equal((await b.acquire({ ...deploy, tool: 'other__x' })).ok, true);
});

test('redis: a reload keeping the rule by id keeps the held slot; a raised cap counts it as one', async (t) => {
  const [a, b] = await replicas(t, [DEPLOYS]);
  await lease(await a.acquire(deploy)).holdForTask('task-1', 60_000);
  b.reconfigure([{ ...DEPLOYS }]);
  assert.equal(refusedBy(await b.acquire(deploy)), 'deploys');
  b.reconfigure([{ ...DEPLOYS, concurrency: 2 }]);
  assert.equal((await b.acquire(deploy)).ok, true);
  assert.equal(refusedBy(await b.acquire(deploy)), 'deploys');
});

test('redis unreachable: a slot held in the local fallback is freed by the same endTask', async (t) => {
  await requireService(t, 'redis');
  const l = new RedisLimiter([DEPLOYS], { url: 'redis://127.0.0.1:1', commandTimeoutMs: 100, retryIntervalMs: 60_000 });
  t.after(() => l.close());
  await lease(await l.acquire(deploy)).holdForTask('task-1', 60_000);
  assert.equal(l.degraded, true);
  assert.equal(refusedBy(await l.acquire(deploy)), 'deploys');
  await l.endTask('task-1');
  assert.equal((await l.acquire(deploy)).ok, true);
});

test('redis: a cap running tasks hold says so, with the soonest deadline as retry-after; a call in flight keeps the 1 s guess', async (t) => {
  const [a, b] = await replicas(t, [{ ...DEPLOYS, concurrency: 2 }], 3_000);
  await lease(await a.acquire(deploy)).holdForTask('task-1', 60_000);
  await lease(await b.acquire(deploy)).holdForTask('task-2', 20_000);
  const r = await a.acquire(deploy);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.heldByTask, true);
  assert.ok(r.retryAfterMs > 19_000 && r.retryAfterMs <= 20_000, String(r.retryAfterMs));
  assert.match(r.reason, /, held by running tasks$/);
  await b.endTask('task-2');
  const call = lease(await b.acquire(deploy));
  const mixed = await a.acquire(deploy);
  assert.deepEqual(mixed.ok ? undefined : [mixed.retryAfterMs, mixed.heldByTask], [1_000, undefined]);
  await call.release();
});

test('redis losing its data: the replica holding a running task writes its hold back; a task another replica saw end stays ended', async (t) => {
  const [a, b, prefix] = await replicas(t, [DEPLOYS], 600);
  await lease(await a.acquire(deploy)).holdForTask('task-1', 60_000);
  await dropRedisKeys(prefix); // as a restart without persistence or FLUSHALL would
  await sleep(600); // past a renewal round (ttl/3) and the lease ttl
  assert.equal(refusedBy(await b.acquire(deploy)), 'deploys', 'the running task still holds the only slot');
  assert.equal(refusedBy(await a.acquire(deploy)), 'deploys');
  await b.endTask('task-1'); // the end seen elsewhere still frees it
  await sleep(600); // a's check reads the end mark: it drops its copy rather than write it back
  const next = lease(await a.acquire(deploy));
  await next.release();
  await dropRedisKeys(prefix);
  await sleep(600);
  assert.equal((await b.acquire(deploy)).ok, true, 'an ended task is not written back');
  assert.equal(a.degraded || b.degraded, false);
});

test('redis losing its data: a hold past its deadline is not written back', async (t) => {
  const [a, b, prefix] = await replicas(t, [DEPLOYS], 300);
  await lease(await a.acquire(deploy)).holdForTask('task-1', 500);
  await dropRedisKeys(prefix);
  await sleep(200);
  assert.equal(refusedBy(await b.acquire(deploy)), 'deploys', 'written back before its deadline');
  await sleep(1_500);
  assert.equal((await b.acquire(deploy)).ok, true, 'free once the deadline has passed');
});
