import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { RedisLimiter, type RedisLimiterOptions } from './redis.ts';
import type { AcquireResult, LimitCall } from './limiter.ts';
import type { LimitRule } from './model.ts';
import { dropRedisKeys, requireService } from '../../test/support/services.ts';
import { childEnv, freePort } from '../../test/support/processes.ts';
import { tcpProxy } from '../../test/support/tcp-proxy.ts';

const REDIS = 'redis://127.0.0.1:6379';
const WORKER = fileURLToPath(new URL('../../test/fixtures/limits/redis-worker.ts', import.meta.url));
const alice: LimitCall = { tenant: 'acme', subject: 'alice', tool: 'github__create_issue' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A unique key prefix for this test; its keys are deleted and its limiters closed at the end. */
function setup(t: TestContext) {
  const prefix = `gatehouse-test:limits:${randomUUID()}:`;
  const limiters: RedisLimiter[] = [];
  const make = (rules: LimitRule[], extra: Partial<RedisLimiterOptions> = {}) => {
    const l = new RedisLimiter(rules, { url: REDIS, keyPrefix: prefix, ...extra });
    limiters.push(l);
    return l;
  };
  t.after(async () => {
    await Promise.all(limiters.map((l) => l.close()));
    await dropRedisKeys(prefix);
  });
  return { prefix, make };
}

/** The worker fixture as another gateway process. */
/** A line from the worker: `acquire` answers `ok`, `refused` and `degraded`; `release` answers `released`. */
interface WorkerReply {
  ok: number;
  refused: string[];
  degraded: boolean;
  released: number;
}

async function worker(t: TestContext, rules: LimitRule[], options: RedisLimiterOptions) {
  const child = spawn(process.execPath, [WORKER, JSON.stringify({ rules, options })], {
    env: childEnv(),
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => JSON.parse((await lines.next()).value as string);
  assert.deepEqual(await next(), { ready: true });
  return {
    child,
    async send(cmd: unknown): Promise<WorkerReply> {
      child.stdin!.write(`${JSON.stringify(cmd)}\n`);
      return next();
    },
    async close(): Promise<void> {
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin!.write(`${JSON.stringify({ op: 'close' })}\n`);
      await exited;
    },
  };
}

const okOf = (rs: AcquireResult[]) => rs.filter((r) => r.ok);
const many = (l: RedisLimiter, n: number, call = alice) =>
  Promise.all(Array.from({ length: n }, () => l.acquire(call)));

/** Poll until `f` is true (bounded); whether it became true. */
async function eventually(f: () => Promise<boolean>, ms = 10_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await f()) return true;
    await sleep(50);
  }
  return false;
}

test('two instances and a child process share one rate budget: exactly 10 of 30 calls pass', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const { prefix, make } = setup(t);
  const rules: LimitRule[] = [{ id: 'per-user', scope: 'principal', rate: { points: 10, perSeconds: 60 } }];
  const a = make(rules);
  const b = make(rules);
  assert.ok((await a.ready()) && (await b.ready()));
  const w = await worker(t, rules, { url: REDIS, keyPrefix: prefix });
  const [ra, rb, rw] = await Promise.all([many(a, 10), many(b, 10), w.send({ op: 'acquire', n: 10, call: alice })]);
  assert.equal(okOf(ra).length + okOf(rb).length + rw.ok, 10);
  assert.ok(!a.degraded && !b.degraded && !rw.degraded);
  const r = await a.acquire(alice);
  assert.ok(!r.ok && r.rule === 'per-user' && r.retryAfterMs > 0);
  // Another principal has its own budget.
  assert.equal((await b.acquire({ ...alice, subject: 'bob' })).ok, true);
  await w.close();
});

test('a concurrency cap of 3 holds across two processes; a release lets the next one in', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const { prefix, make } = setup(t);
  const rules: LimitRule[] = [{ id: 'cap', scope: 'tool', concurrency: 3 }];
  const a = make(rules);
  assert.ok(await a.ready());
  const w = await worker(t, rules, { url: REDIS, keyPrefix: prefix });
  const [ra, rw] = await Promise.all([many(a, 25), w.send({ op: 'acquire', n: 25, call: alice })]);
  const mine = okOf(ra);
  assert.equal(mine.length + rw.ok, 3);
  assert.ok(ra.filter((r) => !r.ok).every((r) => !r.ok && r.rule === 'cap' && r.retryAfterMs > 0));
  assert.equal((await a.acquire(alice)).ok, false);
  // Free everything the child holds, then everything here: exactly 3 again, from this process alone.
  assert.equal((await w.send({ op: 'release' })).released, rw.ok);
  await Promise.all(mine.map((l) => l.release()));
  await Promise.all(mine.map((l) => l.release())); // idempotent
  const again = okOf(await many(a, 10));
  assert.equal(again.length, 3);
  await again[0].release();
  assert.equal((await w.send({ op: 'acquire', n: 5, call: alice })).ok, 1);
  await w.close();
});

test('a lease renewed while its call runs outlives its TTL; one closed without release expires', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const { make } = setup(t);
  const rules: LimitRule[] = [{ id: 'one', scope: 'principal', concurrency: 1 }];
  const holder = make(rules, { leaseTtlMs: 600 });
  const other = make(rules, { leaseTtlMs: 600 });
  assert.ok((await holder.ready()) && (await other.ready()));
  const lease = await holder.acquire(alice);
  assert.ok(lease.ok);
  for (let i = 0; i < 10; i++) {
    // 2 s, over three TTLs: renewals (every TTL/3) keep the slot taken
    assert.equal((await other.acquire(alice)).ok, false);
    await sleep(200);
  }
  await holder.close(); // a "crash": no release, no more renewals
  assert.equal((await other.acquire(alice)).ok, false, 'the lease is still there right after');
  let got: AcquireResult | undefined;
  assert.ok(
    await eventually(async () => {
      got = await other.acquire(alice);
      return got.ok;
    }),
    'the expired lease must free the slot',
  );
  const freed = got as AcquireResult | undefined;
  if (freed?.ok) await freed.release();
});

test('a lease held by a child process killed with SIGKILL expires after its TTL', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const { prefix, make } = setup(t);
  const rules: LimitRule[] = [{ id: 'one', scope: 'tenant', concurrency: 1 }];
  const here = make(rules, { leaseTtlMs: 500 });
  assert.ok(await here.ready());
  const w = await worker(t, rules, { url: REDIS, keyPrefix: prefix, leaseTtlMs: 500 });
  assert.equal((await w.send({ op: 'acquire', n: 1, call: alice })).ok, 1);
  assert.equal((await here.acquire(alice)).ok, false);
  w.child.kill('SIGKILL');
  await new Promise((r) => w.child.once('exit', r));
  assert.equal((await here.acquire(alice)).ok, false, 'not freed by the kill itself');
  assert.ok(await eventually(async () => (await here.acquire(alice)).ok), "the dead holder's lease must expire");
});

test('Redis unreachable: calls are limited by the stricter local limit and degraded is flagged', async (t) => {
  const closed = await freePort(); // nothing listens there
  const events: boolean[] = [];
  const l = new RedisLimiter(
    [
      { id: 'r', scope: 'principal', rate: { points: 10, perSeconds: 60 } },
      { id: 'c', scope: 'tool', tools: ['db__*'], concurrency: 4 },
    ],
    { url: `redis://127.0.0.1:${closed}`, fallbackDivisor: 2, onDegraded: (d) => events.push(d) },
  );
  t.after(() => l.close());
  const rs = [];
  for (let i = 0; i < 20; i++) rs.push(await l.acquire(alice));
  assert.equal(okOf(rs).length, 5, '10 points divided by 2');
  const last = rs[rs.length - 1];
  assert.ok(!last.ok && last.rule === 'r' && last.retryAfterMs > 0);
  assert.equal(l.degraded, true);
  assert.deepEqual(events, [true]);
  const db = { ...alice, subject: 'bob', tool: 'db__query' };
  const held = okOf(await many(l, 10, db));
  assert.equal(held.length, 2, 'a cap of 4 divided by 2');
  await held[0].release();
  assert.equal((await l.acquire(db)).ok, true);
});

test('Redis unreachable at start: degraded is known before any limited call', async (t) => {
  const closed = await freePort(); // nothing listens there
  const events: Array<[boolean, string]> = [];
  const l = new RedisLimiter([{ id: 'r', scope: 'principal', rate: { points: 10, perSeconds: 60 } }], {
    url: `redis://127.0.0.1:${closed}`,
    onDegraded: (d, why) => events.push([d, why]),
  });
  t.after(() => l.close());
  assert.ok(await eventually(async () => l.degraded));
  assert.equal(events.length, 1);
  assert.match(events[0][1], /^redis unreachable at start \(.*ECONNREFUSED.*\); limiting locally, budgets divided$/);
  // The first call goes local at once, and is not reported again.
  assert.equal((await l.acquire(alice)).ok, true);
  assert.equal(events.length, 1);
});

test('Redis down, hung, then back: local limits meanwhile, Redis again once it answers', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const { make } = setup(t);
  const p = await tcpProxy(t, 6379);
  const events: boolean[] = [];
  const l = make([{ id: 'r', scope: 'principal', rate: { points: 100, perSeconds: 60 } }], {
    url: `redis://127.0.0.1:${p.port}`,
    fallbackDivisor: 4,
    retryIntervalMs: 100,
    onDegraded: (d) => events.push(d),
  });
  assert.ok(await l.ready());
  assert.equal((await l.acquire(alice)).ok, true);
  assert.equal(l.degraded, false);

  await p.down();
  assert.equal((await l.acquire(alice)).ok, true);
  assert.equal(l.degraded, true);
  const local = okOf(await many(l, 100)).length;
  assert.equal(local, 23, 'local budget is 100 / 4 = 25: one spent through Redis before the cut, one after');

  await p.up();
  assert.ok(
    await eventually(async () => {
      await l.acquire({ ...alice, subject: 'probe' });
      return !l.degraded;
    }),
    'back on Redis',
  );
  // Redis' budget, not the exhausted local one: alice spent 1 there before the cut, and the 24 spent
  // locally in it were added there once it was back (not a fresh 99).
  assert.equal(okOf(await many(l, 200)).length, 75);

  // Hung: connected but silent. The command timeout turns it into a local decision, not a hang.
  p.freeze(true);
  const r = await l.acquire({ ...alice, subject: 'carol' });
  assert.equal(r.ok, true);
  assert.equal(l.degraded, true);
  assert.deepEqual(events, [true, false, true]);
  p.freeze(false);
});

test('the connection says degraded as it goes and comes, with no limited call between', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const { make } = setup(t);
  const p = await tcpProxy(t, 6379);
  await p.down(); // away at start
  const events: Array<[boolean, string]> = [];
  const l = make([{ id: 'r', scope: 'principal', rate: { points: 100, perSeconds: 60 } }], {
    url: `redis://127.0.0.1:${p.port}`,
    onDegraded: (d, why) => events.push([d, why]),
  });
  assert.ok(await eventually(async () => l.degraded), 'away at start: degraded');

  await p.up();
  assert.ok(await eventually(async () => !l.degraded), 'connected: no longer degraded, before any call');
  await p.down();
  assert.ok(await eventually(async () => l.degraded), 'connection lost: degraded, before any call');
  await p.up();
  assert.ok(await eventually(async () => !l.degraded), 'back: no longer degraded, before any call');
  assert.deepEqual(
    events.map(([d, why]) => [d, why.replace(/\(.*\)/, '(...)')]),
    [
      [true, 'redis unreachable at start (...); limiting locally, budgets divided'],
      [false, 'redis reachable again'],
      [true, 'redis connection lost; limiting locally, budgets divided'],
      [false, 'redis reachable again'],
    ],
  );
  // And the next call is Redis' again.
  assert.equal((await l.acquire(alice)).ok, true);
  assert.equal(l.degraded, false);
  assert.equal(events.length, 4);
});

test('a retiring limiter, still connected for its calls in flight, no longer reports its connection', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const { make } = setup(t);
  const p = await tcpProxy(t, 6379);
  const events: boolean[] = [];
  const l = make([{ id: 'c', scope: 'tool', tools: ['github__*'], concurrency: 2 }], {
    url: `redis://127.0.0.1:${p.port}`,
    onDegraded: (d) => events.push(d),
  });
  assert.ok(await l.ready());
  const lease = await l.acquire(alice);
  assert.ok(lease.ok);
  const retired = l.retire(); // waits for the lease
  // Its Redis goes and comes back while it waits: the gauge is its successor's to set, not its own.
  await p.down();
  await sleep(300);
  await p.up();
  assert.ok(await eventually(() => l.ready(0)), 'reconnected');
  await sleep(300);
  assert.deepEqual(events, []);
  await lease.release();
  await retired;
});

test('a gateway busy past the command timeout does not take a prompt Redis for a slow one', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const { make } = setup(t);
  const events: boolean[] = [];
  const l = make([{ id: 'r', scope: 'principal', rate: { points: 100, perSeconds: 60 } }], {
    commandTimeoutMs: 50,
    onDegraded: (d) => events.push(d),
  });
  assert.ok(await l.ready());
  assert.equal((await l.acquire(alice)).ok, true);
  for (let i = 0; i < 3; i++) {
    const pending = l.acquire({ ...alice, subject: `busy-${i}` }); // the script is on its way to Redis
    // Other work holds the event loop for six command timeouts; Redis answers meanwhile.
    const until = Date.now() + 300;
    while (Date.now() < until) {
      // busy
    }
    assert.equal((await pending).ok, true);
  }
  assert.equal(l.degraded, false, 'Redis answered in time: only the gateway was late to read it');
  assert.deepEqual(events, []);
});
