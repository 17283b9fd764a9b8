import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryLimiter } from './memory.ts';
import { counterKey, compileRules, type AcquireResult, type LimitCall } from './limiter.ts';
import type { LimitRule } from './model.ts';

const T0 = 1_700_000_000_000;
const alice: LimitCall = { tenant: 'acme', subject: 'alice', tool: 'github__create_issue' };

function refused(r: AcquireResult): { rule: string; retryAfterMs: number; reason: string } {
  assert.equal(r.ok, false, 'expected a refusal');
  return r as { ok: false; rule: string; retryAfterMs: number; reason: string };
}

async function okCount(l: MemoryLimiter, call: LimitCall, n: number, now = T0): Promise<number> {
  let ok = 0;
  for (let i = 0; i < n; i++) if ((await l.acquire(call, now)).ok) ok++;
  return ok;
}

test('rate: the N+1th call in the window is refused, naming the rule, with a retry-after', async () => {
  const l = new MemoryLimiter([{ id: 'per-user', scope: 'principal', rate: { points: 5, perSeconds: 60 } }]);
  assert.equal(await okCount(l, alice, 5), 5);
  const r = refused(await l.acquire(alice, T0));
  assert.equal(r.rule, 'per-user');
  assert.ok(r.retryAfterMs > 0);
  assert.equal(r.retryAfterMs, 12_000); // one point refills every 60 s / 5
  assert.match(r.reason, /rate limit/);
});

test('rate: time passing refills the bucket, at the configured rate and not beyond the burst', async () => {
  const l = new MemoryLimiter([{ id: 'r', scope: 'principal', rate: { points: 5, perSeconds: 60 } }]);
  assert.equal(await okCount(l, alice, 6), 5);
  assert.equal((await l.acquire(alice, T0 + 11_999)).ok, false);
  assert.equal((await l.acquire(alice, T0 + 12_000)).ok, true); // one point back
  assert.equal((await l.acquire(alice, T0 + 12_000)).ok, false);
  // A long idle refills to the capacity (5), never more.
  assert.equal(await okCount(l, alice, 10, T0 + 3_600_000), 5);
});

test('burst: the capacity after idling, with the sustained rate unchanged', async () => {
  const big = new MemoryLimiter([{ id: 'b', scope: 'principal', rate: { points: 10, perSeconds: 60, burst: 20 } }]);
  assert.equal(await okCount(big, alice, 30), 20);
  assert.equal(await okCount(big, alice, 30, T0 + 60_000), 10); // a minute refills 10, not 20
  const small = new MemoryLimiter([{ id: 's', scope: 'principal', rate: { points: 10, perSeconds: 60, burst: 3 } }]);
  assert.equal(await okCount(small, alice, 10), 3);
  assert.equal(refused(await small.acquire(alice, T0)).retryAfterMs, 6_000);
  assert.equal(await okCount(small, alice, 10, T0 + 6_000), 1);
});

test('concurrency: a cap of N holds exactly N leases under 50 concurrent acquires; a release lets the next in', async () => {
  const l = new MemoryLimiter([{ id: 'c', scope: 'tool', concurrency: 4 }]);
  const results = await Promise.all(Array.from({ length: 50 }, () => l.acquire(alice)));
  const leases = results.filter((r) => r.ok);
  assert.equal(leases.length, 4);
  const r = refused(results.find((x) => !x.ok)!);
  assert.equal(r.rule, 'c');
  assert.ok(r.retryAfterMs > 0);
  assert.equal((await l.acquire(alice)).ok, false);
  await leases[0].release();
  const next = await l.acquire(alice);
  assert.equal(next.ok, true);
  assert.equal((await l.acquire(alice)).ok, false);
});

test('release is idempotent: a double release frees one slot, not two', async () => {
  const l = new MemoryLimiter([{ id: 'c', scope: 'principal', concurrency: 2 }]);
  const a = await l.acquire(alice);
  const b = await l.acquire(alice);
  assert.ok(a.ok && b.ok);
  await a.release();
  await a.release();
  await a.release();
  assert.equal((await l.acquire(alice)).ok, true);
  assert.equal((await l.acquire(alice)).ok, false, 'repeated releases must not open extra slots');
});

test('a refused acquire takes nothing: no rate point is spent when the concurrency check fails', async () => {
  // Rule order puts the rate check first on purpose: the refusal comes from the concurrency cap and
  // the rate point must still be there afterwards.
  const l = new MemoryLimiter([
    { id: 'rate', scope: 'principal', rate: { points: 3, perSeconds: 3600 } },
    { id: 'conc', scope: 'principal', concurrency: 1 },
  ]);
  const held = await l.acquire(alice, T0);
  assert.equal(held.ok, true);
  for (let i = 0; i < 10; i++) assert.equal(refused(await l.acquire(alice, T0)).rule, 'conc');
  await held.release();
  // 3 points, 1 spent by the held call: two more calls get through, sequentially.
  for (let i = 0; i < 2; i++) {
    const r = await l.acquire(alice, T0);
    assert.equal(r.ok, true);
    await r.release();
  }
  assert.equal(refused(await l.acquire(alice, T0)).rule, 'rate');
});

test('a refused acquire gives back no concurrency lease and no point of another rule', async () => {
  const l = new MemoryLimiter([
    { id: 'conc', scope: 'principal', concurrency: 1 },
    { id: 'tenant-rate', scope: 'tenant', rate: { points: 2, perSeconds: 3600 } },
    { id: 'user-rate', scope: 'principal', rate: { points: 1, perSeconds: 3600 } },
  ]);
  const bob = { ...alice, subject: 'bob' };
  const a = await l.acquire(alice, T0);
  assert.ok(a.ok);
  await a.release();
  assert.equal(refused(await l.acquire(alice, T0)).rule, 'user-rate'); // spends neither conc nor tenant-rate
  const b = await l.acquire(bob, T0); // so the tenant still has its second point and bob a slot
  assert.equal(b.ok, true);
  assert.equal(refused(await l.acquire({ ...alice, subject: 'carol' }, T0)).rule, 'tenant-rate');
});

test('the refusal names the rule with the longest wait', async () => {
  const l = new MemoryLimiter([
    { id: 'fast', scope: 'principal', rate: { points: 1, perSeconds: 1 } },
    { id: 'slow', scope: 'principal', rate: { points: 1, perSeconds: 3600 } },
  ]);
  assert.equal((await l.acquire(alice, T0)).ok, true);
  const r = refused(await l.acquire(alice, T0));
  assert.equal(r.rule, 'slow');
  assert.equal(r.retryAfterMs, 3_600_000);
});

test('keys are isolated between tenants, principals and tools, per scope', async () => {
  const rules: LimitRule[] = [
    { id: 'p', scope: 'principal', tools: ['github__*'], rate: { points: 1, perSeconds: 3600 } },
    { id: 't', scope: 'tool', tools: ['fs__*'], rate: { points: 1, perSeconds: 3600 } },
    { id: 'pt', scope: 'principal_tool', tools: ['db__*'], rate: { points: 1, perSeconds: 3600 } },
    { id: 'ten', scope: 'tenant', tools: ['pay__*'], rate: { points: 1, perSeconds: 3600 } },
    { id: 'tt', scope: 'tenant_tool', tools: ['ci__*'], rate: { points: 1, perSeconds: 3600 } },
  ];
  const l = new MemoryLimiter(rules);
  const call = (tenant: string, subject: string, tool: string) => l.acquire({ tenant, subject, tool }, T0);
  // principal: one budget across github tools, separate per subject and per tenant
  assert.equal((await call('acme', 'alice', 'github__a')).ok, true);
  assert.equal(refused(await call('acme', 'alice', 'github__b')).rule, 'p');
  assert.equal((await call('acme', 'bob', 'github__a')).ok, true);
  assert.equal((await call('other', 'alice', 'github__a')).ok, true);
  // tool: one budget per tool, shared by everyone
  assert.equal((await call('acme', 'alice', 'fs__read')).ok, true);
  assert.equal(refused(await call('other', 'zed', 'fs__read')).rule, 't');
  assert.equal((await call('acme', 'alice', 'fs__write')).ok, true);
  // principal_tool: per subject and tool
  assert.equal((await call('acme', 'alice', 'db__q')).ok, true);
  assert.equal(refused(await call('acme', 'alice', 'db__q')).rule, 'pt');
  assert.equal((await call('acme', 'alice', 'db__x')).ok, true);
  assert.equal((await call('acme', 'bob', 'db__q')).ok, true);
  // tenant: everyone in the tenant shares it
  assert.equal((await call('acme', 'alice', 'pay__charge')).ok, true);
  assert.equal(refused(await call('acme', 'bob', 'pay__refund')).rule, 'ten');
  assert.equal((await call('other', 'bob', 'pay__refund')).ok, true);
  // tenant_tool: everyone in the tenant shares each tool's; another tenant has its own
  assert.equal((await call('acme', 'alice', 'ci__deploy')).ok, true);
  assert.equal(refused(await call('acme', 'bob', 'ci__deploy')).rule, 'tt');
  assert.equal((await call('acme', 'bob', 'ci__build')).ok, true);
  assert.equal((await call('other', 'zed', 'ci__deploy')).ok, true, "acme's calls spend none of other's");
  // a tool no rule matches is not limited
  assert.equal(await okCount(l, { tenant: 'acme', subject: 'alice', tool: 'misc__x' }, 20), 20);
});

test('keys are collision-free: tenant `a:b` + subject `c` is not tenant `a` + subject `b:c`', async () => {
  const rules: LimitRule[] = [
    { id: 'p', scope: 'principal', rate: { points: 1, perSeconds: 3600 } },
    { id: 'pt', scope: 'principal_tool', concurrency: 1 },
  ];
  const [p, pt] = compileRules(rules);
  const x = { tenant: 'a:b', subject: 'c', tool: 's__t' };
  const y = { tenant: 'a', subject: 'b:c', tool: 's__t' };
  assert.notEqual(counterKey(p, x), counterKey(p, y));
  assert.notEqual(
    counterKey(pt, { tenant: 'a', subject: 'b","c', tool: 't' }),
    counterKey(pt, { tenant: 'a', subject: 'b', tool: 'c","t' }),
  );
  const l = new MemoryLimiter([rules[0]]);
  assert.equal((await l.acquire(x, T0)).ok, true);
  assert.equal((await l.acquire(y, T0)).ok, true, 'a different principal has its own budget');
  assert.equal((await l.acquire(x, T0)).ok, false);
});

test('divisor: the stricter local limit divides points, burst and caps, never below 1', async () => {
  const l = new MemoryLimiter(
    [
      { id: 'r', scope: 'principal', rate: { points: 10, perSeconds: 60 } },
      { id: 'one', scope: 'tool', tools: ['x__*'], rate: { points: 1, perSeconds: 60 }, concurrency: 1 },
    ],
    { divisor: 2 },
  );
  assert.equal(await okCount(l, alice, 20), 5);
  assert.equal(refused(await l.acquire(alice, T0)).retryAfterMs, 12_000); // 5 per minute
  const x = { ...alice, subject: 'bob', tool: 'x__y' };
  const held = await l.acquire(x, T0);
  assert.equal(held.ok, true);
  assert.equal((await l.acquire(x, T0 + 3_600_000)).ok, false, 'a cap of 1 divided by 2 is still 1, not 0');
});

test('createLimiter: memory without a redis section', async () => {
  const { createLimiter } = await import('./index.ts');
  const l = createLimiter({ rules: [{ id: 'r', scope: 'principal', rate: { points: 2, perSeconds: 60 } }] });
  assert.ok(l instanceof MemoryLimiter);
  assert.equal(l.degraded, false);
  assert.equal((await l.acquire(alice)).ok, true);
  assert.equal((await l.acquire(alice)).ok, true);
  assert.equal((await l.acquire(alice)).ok, false);
  await l.close();
});

test("a continuation (tasks/*) counts in every-request rules of its principal and tenant, not in its tool's rules", async () => {
  const l = new MemoryLimiter([
    { id: 'per-user', scope: 'principal', rate: { points: 2, perSeconds: 60 } },
    { id: 'per-tenant', scope: 'tenant', rate: { points: 100, perSeconds: 60 } },
    { id: 'tool', scope: 'tenant_tool', tools: ['github__*'], rate: { points: 1, perSeconds: 60 } },
    { id: 'each-tool', scope: 'principal_tool', rate: { points: 1, perSeconds: 60 } },
    { id: 'user-of-tool', scope: 'principal', tools: ['github__*'], rate: { points: 1, perSeconds: 60 } },
  ]);
  const poll = { ...alice, continuation: true };
  assert.equal((await l.acquire(poll, T0)).ok, true);
  assert.equal((await l.acquire(poll, T0)).ok, true); // no tool rule spent: only per-user's two points
  assert.equal(refused(await l.acquire(poll, T0)).rule, 'per-user');
  // A call of the tool is counted by its rules, as before (per-user is spent).
  assert.equal(refused(await l.acquire(alice, T0)).rule, 'per-user');
  // `tools: ['*']` is every tool: such a rule counts every request too (walk M).
  const star = new MemoryLimiter([
    { id: 'all', scope: 'principal', tools: ['*'], rate: { points: 1, perSeconds: 60 } },
  ]);
  assert.equal((await star.acquire(poll, T0)).ok, true);
  assert.equal(refused(await star.acquire(poll, T0)).rule, 'all');
});

test('record (the Redis backend mirror): takes points down to empty, never below, and holds slots but the covered ones', async () => {
  const rules: LimitRule[] = [
    { id: 'r', scope: 'principal', rate: { points: 10, perSeconds: 60 } },
    { id: 'c', scope: 'principal', concurrency: 2 },
  ];
  const l = new MemoryLimiter(rules, { divisor: 2 }); // local: 5 points, a cap of 1
  const [rate, cap] = compileRules(rules).map((r) => counterKey(r, alice));
  assert.ok(rate);
  const leases = Array.from({ length: 8 }, () => l.record(alice, new Set(), T0));
  assert.deepEqual(leases[0].keys, [cap]);
  // Eight spent elsewhere: the local share of five is empty, not owed back; a point refills in 12 s.
  assert.equal(refused(await l.acquire(alice, T0)).rule, 'r');
  assert.equal(refused(await l.acquire(alice, T0 + 12_000)).rule, 'c', 'a point refilled; the slots are held');
  for (const x of leases) await x.release();
  const one = await l.acquire(alice, T0 + 12_000);
  assert.equal(one.ok, true);
  assert.equal(refused(await l.acquire({ ...alice, tool: 'other' }, T0 + 12_000)).rule, 'r');
  // A cap the call's task covers (said by Redis) is not taken.
  assert.deepEqual(l.record(alice, new Set([cap]), T0 + 12_000).keys, []);
});
