/**
 * A reload of `limits` gives back nothing: calls in flight stay counted (and, on Redis, renewed and
 * released), buckets of rules kept by id carry over clamped to the new capacity, the refusal budget
 * likewise. Both backends; Redis is the one on 127.0.0.1:6379, under a key prefix of each test's own.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { GatewayLimits } from './index.ts';
import { RedisLimiter } from './redis.ts';
import type { AcquireResult, LimitCall, Limiter } from './limiter.ts';
import type { LimitsConfig } from '../config/schema.ts';
import { dropRedisKeys, requireService } from '../../test/support/services.ts';

const REDIS = 'redis://127.0.0.1:6379';
const alice: LimitCall = { tenant: 'acme', subject: 'alice', tool: 'f__slow' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const noDegraded = () => {};

const slowCap = { id: 'slow-cap', scope: 'tool' as const, tools: ['f__slow'], concurrency: 1 };
const perHour = (points: number) => ({ id: 'hourly', scope: 'principal' as const, rate: { points, perSeconds: 3600 } });
const unrelated = (points: number) => ({
  id: 'other',
  scope: 'tenant' as const,
  tools: ['g__*'],
  rate: { points, perSeconds: 60 },
});

function held(r: AcquireResult): Extract<AcquireResult, { ok: true }> {
  assert.equal(r.ok, true, `expected a lease, got ${JSON.stringify(r)}`);
  return r as Extract<AcquireResult, { ok: true }>;
}
function refusedBy(r: AcquireResult): string {
  assert.equal(r.ok, false, 'expected a refusal');
  return (r as Extract<AcquireResult, { ok: false }>).rule;
}
async function spend(l: Limiter, n: number, call = alice): Promise<number> {
  let ok = 0;
  for (let i = 0; i < n; i++) if ((await l.acquire(call)).ok) ok++;
  return ok;
}

/** Limits on the test Redis under a prefix of this test's own; its keys deleted and limits closed at the end. */
function onRedis(t: TestContext) {
  const keyPrefix = `gatehouse-test:limits-reload:${randomUUID()}:`;
  const opened: GatewayLimits[] = [];
  t.after(async () => {
    await Promise.all(opened.map((l) => l.close()));
    await dropRedisKeys(keyPrefix);
  });
  const redis = (extra: Partial<NonNullable<LimitsConfig['redis']>> = {}) => ({ url: REDIS, keyPrefix, ...extra });
  const open = async (config: LimitsConfig) => {
    const l = new GatewayLimits(config, noDegraded);
    opened.push(l);
    assert.ok(await (l.limiter as RedisLimiter).ready());
    return l;
  };
  return { redis, open, keyPrefix };
}

test('memory: a call in flight keeps its concurrency slot across a reload that changes an unrelated number', async () => {
  const limits = new GatewayLimits({ rules: [slowCap, unrelated(10)] }, noDegraded);
  const before = limits.limiter;
  const first = held(await before!.acquire(alice));
  assert.match(limits.reload({ rules: [slowCap, unrelated(11)] }) ?? '', /in place/);
  assert.equal(limits.limiter, before, 'the same backend keeps its limiter');
  assert.equal(refusedBy(await limits.limiter!.acquire(alice)), 'slow-cap', 'the first call still holds the slot');
  await first.release();
  held(await limits.limiter!.acquire(alice));
  await limits.close();
});

test('memory: lowering a rate never refills the bucket; an unchanged section keeps everything', async () => {
  const limits = new GatewayLimits({ rules: [perHour(5)] }, noDegraded);
  assert.equal(await spend(limits.limiter!, 6), 5);
  limits.reload({ rules: [perHour(3)] });
  assert.equal(
    refusedBy(await limits.limiter!.acquire(alice)),
    'hourly',
    'throttled at 5/hour, still throttled at 3/hour',
  );
  const [limiter, refusals] = [limits.limiter, limits.refusals];
  assert.equal(limits.reload({ rules: [perHour(3)] }), undefined);
  assert.equal(limits.limiter, limiter);
  assert.equal(limits.refusals, refusals);
  // A partly spent bucket is clamped to the new capacity, not refilled to it.
  const other = { ...alice, subject: 'bob' };
  limits.reload({ rules: [perHour(10)] });
  assert.equal(await spend(limits.limiter!, 8, other), 8);
  limits.reload({ rules: [perHour(4)] });
  assert.equal(await spend(limits.limiter!, 3, other), 2, '10 - 8 left, under the new capacity of 4');
  await limits.close();
});

test('memory: removing the rules and putting them back keeps the calls in flight counted', async () => {
  const limits = new GatewayLimits({ rules: [slowCap] }, noDegraded);
  const first = held(await limits.limiter!.acquire(alice));
  limits.reload({ rules: [] });
  limits.reload({ rules: [slowCap] });
  assert.equal(refusedBy(await limits.limiter!.acquire(alice)), 'slow-cap');
  await first.release();
  held(await limits.limiter!.acquire(alice));
  await limits.close();
});

test('the refusal budget: a lowered budget is not refilled, and who is blocked stays blocked', async () => {
  const limits = new GatewayLimits({ rules: [], refusals: { points: 3, perSeconds: 3600 } }, noDegraded);
  const spendRefusal = () => limits.refusals.spend('acme', 'alice', 'E_POLICY_DENIED');
  for (let i = 0; i < 3; i++) await spendRefusal();
  limits.refusals.check('alice');
  limits.reload({ rules: [], refusals: { points: 2, perSeconds: 3600 } });
  await spendRefusal();
  assert.throws(() => limits.refusals.check('alice'), /rate limited \(refusals\)/, 'the spent three stay spent');
  limits.reload({ rules: [], refusals: { points: 100, perSeconds: 3600 } });
  assert.throws(() => limits.refusals.check('alice'), /rate limited \(refusals\)/, 'a reload lifts no block');
  await limits.close();
});

test('redis: rules changed in place keep renewing and releasing the leases of calls in flight; buckets carry over', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const { redis, open } = onRedis(t);
  const limits = await open({ rules: [slowCap, perHour(5)], redis: redis({ leaseTtlMs: 600 }) });
  const first = held(await limits.limiter!.acquire(alice));
  const fast = { ...alice, tool: 'f__fast' };
  const bob = { ...alice, subject: 'bob' }; // slow-cap counts per tool: bob's call needs the same slot
  assert.equal(await spend(limits.limiter!, 5, fast), 4, 'one of five points went to the slow call');
  limits.reload({ rules: [slowCap, perHour(3)], redis: redis({ leaseTtlMs: 600 }) });
  await sleep(1500); // 2.5 lease TTLs: only renewal keeps the slot taken
  assert.equal(refusedBy(await limits.limiter!.acquire(bob)), 'slow-cap', 'the lease is still renewed');
  assert.equal(refusedBy(await limits.limiter!.acquire(fast)), 'hourly', 'throttled at 5/hour, still at 3/hour');
  await first.release();
  await held(await limits.limiter!.acquire(bob)).release(); // freed at once, not after the TTL
});

test('redis: settings changed: the old limiter renews and releases its leases until its calls end, then closes', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const { redis, open } = onRedis(t);
  const limits = await open({ rules: [slowCap], redis: redis({ leaseTtlMs: 600 }) });
  const old = limits.limiter as RedisLimiter;
  const first = held(await old.acquire(alice));
  assert.match(
    limits.reload({ rules: [slowCap], redis: redis({ leaseTtlMs: 600, commandTimeoutMs: 300 }) }) ?? '',
    /another backend/,
  );
  assert.notEqual(limits.limiter, old);
  assert.ok(await (limits.limiter as RedisLimiter).ready());
  await sleep(1500);
  assert.equal(
    refusedBy(await limits.limiter!.acquire(alice)),
    'slow-cap',
    "the old limiter still renews its call's lease",
  );
  await first.release();
  held(await limits.limiter!.acquire(alice)); // released by the old limiter at once, not expired after the TTL
});

test('redis: retire waits for the last lease, then closes', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const { keyPrefix } = onRedis(t);
  const l = new RedisLimiter([slowCap], { url: REDIS, keyPrefix, leaseTtlMs: 600 });
  t.after(() => l.close());
  assert.ok(await l.ready());
  const lease = held(await l.acquire(alice));
  let closed = false;
  const retired = l.retire().then(() => {
    closed = true;
  });
  await sleep(1000);
  assert.equal(closed, false, 'open while a call holds a lease');
  await lease.release();
  await retired;
  assert.equal(closed, true);
});

test('redis: the refusal budget carries over a reload of its rate', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const { redis, open } = onRedis(t);
  const limits = await open({ rules: [slowCap], refusals: { points: 3, perSeconds: 3600 }, redis: redis() });
  for (let i = 0; i < 3; i++) await limits.refusals.spend('acme', 'alice', 'E_POLICY_DENIED');
  limits.reload({ rules: [slowCap], refusals: { points: 2, perSeconds: 3600 }, redis: redis() });
  await limits.refusals.spend('acme', 'alice', 'E_POLICY_DENIED');
  assert.throws(() => limits.refusals.check('alice'), /rate limited \(refusals\)/);
});
