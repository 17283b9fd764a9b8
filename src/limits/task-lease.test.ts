/**
 * A task keeps the concurrency slots of the call that created it (memory backend; the Redis one in
 * redis-tasks.test.ts): until it is seen to end, or its ttl passes; its own later requests pass the
 * caps whose slot it holds. And the pure parts: the ttl's bounds, the terminal statuses, the key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryLimiter } from './memory.ts';
import type { AcquireResult, Lease, LimitCall } from './limiter.ts';
import type { LimitRule } from './model.ts';
import { DEFAULT_TASK_LEASE_MS, MAX_TASK_LEASE_MS, isTerminal, taskKey, taskLeaseMs } from './task-lease.ts';

const T0 = 1_700_000_000_000;
const deploy: LimitCall = { tenant: 'acme', subject: 'alice', tool: 'ci__deploy' };
const poll = (task: string): LimitCall => ({ ...deploy, continuation: true, task });
const DEPLOYS: LimitRule = { id: 'deploys', scope: 'tenant_tool', tools: ['ci__deploy*'], concurrency: 1 };

function lease(r: AcquireResult): Lease {
  assert.equal(r.ok, true, `expected a lease, got ${JSON.stringify(r)}`);
  return r as Lease;
}
function refusedBy(r: AcquireResult): string {
  assert.equal(r.ok, false, 'expected a refusal');
  return (r as { rule: string }).rule;
}

test('memory: a task holds its call slot after the call returns, until endTask; a release after the hold gives back nothing', async () => {
  const l = new MemoryLimiter([DEPLOYS]);
  const first = lease(await l.acquire(deploy, T0));
  await first.holdForTask('task-1', 60_000, T0);
  await first.release(); // the request ending: the task keeps the slot
  assert.equal(refusedBy(await l.acquire(deploy, T0 + 1)), 'deploys');
  assert.equal(refusedBy(await l.acquire({ ...deploy, subject: 'bob' }, T0 + 1)), 'deploys', "a tenant's cap");
  await l.endTask('task-other'); // another task's end frees nothing
  assert.equal(refusedBy(await l.acquire(deploy, T0 + 2)), 'deploys');
  await l.endTask('task-1');
  const next = lease(await l.acquire(deploy, T0 + 3));
  await l.endTask('task-1'); // idempotent: no slot given back twice
  assert.equal(refusedBy(await l.acquire(deploy, T0 + 4)), 'deploys');
  await next.release();
  assert.equal((await l.acquire(deploy, T0 + 5)).ok, true);
});

test('memory: a task never seen again frees its slot once its ttl passes, not before', async () => {
  const l = new MemoryLimiter([DEPLOYS]);
  await lease(await l.acquire(deploy, T0)).holdForTask('task-1', 5_000, T0);
  assert.equal(refusedBy(await l.acquire(deploy, T0 + 4_999)), 'deploys');
  assert.equal((await l.acquire(deploy, T0 + 5_000)).ok, true);
});

test("memory: a task's own requests pass the caps its slot covers; another's are refused there", async () => {
  const perUser: LimitRule = { id: 'per-user', scope: 'principal', concurrency: 1 };
  const l = new MemoryLimiter([perUser, DEPLOYS]);
  await lease(await l.acquire(deploy, T0)).holdForTask('task-1', 60_000, T0);
  // tasks/get of its own task passes per-user (whose slot the task holds) without taking another...
  const get = lease(await l.acquire(poll('task-1'), T0 + 1));
  assert.equal(lease(await l.acquire(poll('task-1'), T0 + 1)).ok, true, 'polling concurrently still passes');
  await get.release();
  // ...while a request naming no task, or another task, needs a slot of per-user: there is none.
  assert.equal(refusedBy(await l.acquire({ ...deploy, tool: 'other__x' }, T0 + 2)), 'per-user');
  assert.equal(refusedBy(await l.acquire(poll('task-2'), T0 + 2)), 'per-user');
  await l.endTask('task-1');
  assert.equal((await l.acquire(poll('task-2'), T0 + 3)).ok, true);
});

test('memory: two tasks under a cap of 2 each hold one slot; each end frees one', async () => {
  const l = new MemoryLimiter([{ ...DEPLOYS, concurrency: 2 }]);
  await lease(await l.acquire(deploy, T0)).holdForTask('a', 60_000, T0);
  await lease(await l.acquire(deploy, T0)).holdForTask('b', 60_000, T0);
  assert.equal(refusedBy(await l.acquire(deploy, T0 + 1)), 'deploys');
  await l.endTask('a');
  await lease(await l.acquire(deploy, T0 + 2)).holdForTask('c', 60_000, T0 + 2);
  assert.equal(refusedBy(await l.acquire(deploy, T0 + 3)), 'deploys');
});

test('memory: a reload keeping the rule by id keeps the held task slots; a rule removed counts them no more', async () => {
  const l = new MemoryLimiter([DEPLOYS]);
  await lease(await l.acquire(deploy, T0)).holdForTask('task-1', 60_000, T0);
  l.reconfigure([{ ...DEPLOYS }]);
  assert.equal(refusedBy(await l.acquire(deploy, T0 + 1)), 'deploys');
  l.reconfigure([{ ...DEPLOYS, concurrency: 2 }]);
  assert.equal((await l.acquire(deploy, T0 + 2)).ok, true, 'a raised cap counts the task as one of two');
  assert.equal(refusedBy(await l.acquire(deploy, T0 + 2)), 'deploys');
  l.reconfigure([]);
  assert.equal((await l.acquire(deploy, T0 + 3)).ok, true);
});

test('ttl: a task without one (absent, null, nonsense) holds for the default; none for longer than the maximum, none shorter than the floor', () => {
  assert.equal(taskLeaseMs(undefined, 0), DEFAULT_TASK_LEASE_MS);
  assert.equal(taskLeaseMs(null, 0), DEFAULT_TASK_LEASE_MS);
  assert.equal(taskLeaseMs(-5, 0), DEFAULT_TASK_LEASE_MS);
  assert.equal(taskLeaseMs('60000', 0), DEFAULT_TASK_LEASE_MS);
  assert.equal(taskLeaseMs(Number.POSITIVE_INFINITY, 0), DEFAULT_TASK_LEASE_MS);
  assert.equal(taskLeaseMs(1500, 0), 1500);
  assert.equal(taskLeaseMs(365 * 24 * 3_600_000, 0), MAX_TASK_LEASE_MS);
  // The floor (the server's maxTotalMs): a caller's tiny ttl holds at least that long, a long one its own.
  assert.equal(taskLeaseMs(1, 300_000), 300_000);
  assert.equal(taskLeaseMs(0, 300_000), 300_000);
  assert.equal(taskLeaseMs(600_000, 300_000), 600_000);
  assert.equal(taskLeaseMs(undefined, 2 * DEFAULT_TASK_LEASE_MS), 2 * DEFAULT_TASK_LEASE_MS);
  assert.equal(taskLeaseMs(1, 10 * MAX_TASK_LEASE_MS), MAX_TASK_LEASE_MS);
  assert.deepEqual(['completed', 'failed', 'cancelled', 'working', 'input_required', undefined].map(isTerminal), [
    true,
    true,
    true,
    false,
    false,
    false,
  ]);
  // The key tells connections apart: the same upstream id on another tenant's connection is another task.
  assert.notEqual(taskKey('ci', 'acme', 't-1'), taskKey('ci', 'globex', 't-1'));
  assert.notEqual(taskKey('ci', 'a', 'b\u0000c'), taskKey('ci', 'a\u0000b', 'c'));
  assert.equal(taskKey('ci', 'acme', 't-1'), taskKey('ci', 'acme', 't-1'));
});

test('memory: a cap running tasks hold says so, with the soonest deadline as retry-after; a call in flight keeps the 1 s guess', async () => {
  const l = new MemoryLimiter([{ ...DEPLOYS, concurrency: 2 }]);
  await lease(await l.acquire(deploy, T0)).holdForTask('a', 60_000, T0);
  await lease(await l.acquire(deploy, T0)).holdForTask('b', 20_000, T0);
  const r = await l.acquire(deploy, T0 + 5_000);
  assert.equal(r.ok, false);
  assert.deepEqual(r.ok ? undefined : [r.retryAfterMs, r.heldByTask], [15_000, true]);
  assert.match(
    r.ok ? '' : r.reason,
    /concurrency cap of 2 reached \(rule deploys, per tenant_tool\), held by running tasks/,
  );
  await l.endTask('b');
  const call = lease(await l.acquire(deploy, T0 + 6_000)); // a call in flight takes the freed slot
  const mixed = await l.acquire(deploy, T0 + 7_000);
  assert.deepEqual(mixed.ok ? undefined : [mixed.retryAfterMs, mixed.heldByTask], [1_000, undefined]);
  await call.release();
});
