/**
 * Limits shared by several gateway processes through Redis.
 *
 * - One Lua script per acquire checks every matching rule and, only if all pass, takes the rate
 *   points and adds the concurrency leases: atomic across processes, nothing to give back.
 * - Rate: the same token bucket as memory.ts, a hash {tokens, at} per key, expiring once full again.
 * - Concurrency: a sorted set per key of lease ids scored by expiry. Acquire drops expired ids before
 *   counting, so a crashed holder's lease frees its slot after `leaseTtlMs`; a running call's leases
 *   are renewed by one timer every ttl/3. Release removes the id.
 * - Tasks: a call that created a task keeps its leases, re-scored to the task's deadline and never
 *   renewed (HOLD), and a hash `t:<task key>` names them (lease id -> its keys) so that any replica
 *   seeing the task end removes them (END); unseen, they expire at the deadline. A task's own tasks/*
 *   requests pass the caps it holds a live slot in (ACQUIRE reads the hash). END and ACQUIRE read
 *   keys named in the hash: on Redis Cluster the `{tag}` in keyPrefix keeps them in one slot.
 * - A task's end is marked: END leaves `t-ended:<task key>` for as long as the record had left (at
 *   least END_MARK_MS), and HOLD refuses a task so marked. The replica that holds a task knows its
 *   hold (lease id, keys, deadline) and checks it every ttl/3 (LIVE): marked ended, its local mirror
 *   goes; record and leases there, nothing to do; some of it gone while the deadline has not passed,
 *   Redis lost it (a restart without persistence, FLUSHALL, eviction) and the hold is written back,
 *   as a running call's lease is by its renewal (2026-12-07, walk Z: a wiped Redis let a second
 *   deploy task in under a cap of 1 while the first ran; the mirror was dropped too). A mark is
 *   chosen over Redis' run_id, which says nothing of FLUSHALL or eviction. Redis losing the mark too
 *   after another replica saw the end (a second loss within END_MARK_MS, or a replica away from Redis
 *   longer than the mark lasts) errs strict: the hold is written back and lasts to its deadline.
 * - The clock is Redis' own (TIME in the script): replicas with skewed clocks still agree.
 * - Redis unreachable, erroring or slow (every command times out after `commandTimeoutMs`, counted so
 *   that a busy gateway's own delays do not count against Redis: `deadline`): the call is limited locally by the rules divided by `fallbackDivisor` — stricter, never unlimited — and
 *   `degraded` turns true. The local limits know what this replica holds and spent through Redis:
 *   every call let through there is counted in the fallback too (MemoryLimiter.record: its slots
 *   until released or its task ends, its points taken from the local share, emptied at most), so a
 *   cut never gives a replica a fresh budget beside the calls and tasks it still runs (walk X: a cap
 *   of 1 let a second call in on the replica whose first still ran; 10/10 spent gave 10 more).
 *   The bound in a cut: each replica allows 1/`fallbackDivisor` of every rule (capacity and refill),
 *   less what it spent through Redis itself; N replicas, N/`fallbackDivisor` of it between them. A
 *   replica does not know what the others spent there: one that spent nothing starts a full share.
 * - Once Redis answers again, it is told what it missed before the next acquire (`#settle`): leases
 *   taken locally and still held are added (and renewed from then on), tasks held locally are held
 *   there, releases and task ends that failed are sent again, an acquire whose answer was lost
 *   (a timeout: the script may have run) has its lease id, known before sending, removed, and the
 *   rate points spent locally are added to their buckets (local-points.ts, POINTS: once, however
 *   often sent; none that have refilled by then), so that no replica finds a fresh budget in Redis
 *   for the rest of the window (2026-12-07: two replicas spent 3 + 3 of 10 an hour in a cut, and
 *   Redis, back, let 10 more through). An acquire whose answer was lost may then count its point
 *   twice (in Redis, and locally): the strict side, one point per timeout.
 * - After `retryIntervalMs`, once the client is connected again, the next acquire tries Redis and, on
 *   success, leaves degraded mode. The connection itself also decides: lost, `degraded` turns true
 *   at once; ready again, false (the next acquire tries Redis; what Redis missed is sent at once).
 * - All keys of one acquire go to one script: on Redis Cluster they would need one hash slot (put a
 *   `{tag}` in keyPrefix). Not needed for a single Redis or a primary with replicas.
 */
import { randomUUID } from 'node:crypto';
import type { Redis, RedisOptions } from 'ioredis';
import { lazyRequire } from '../util/lazy.ts';

const ioredis = lazyRequire<typeof import('ioredis')>('ioredis');
import {
  CONCURRENCY_RETRY_MS,
  NO_LEASE,
  checksFor,
  compileRules,
  refusal,
  type AcquireResult,
  type Check,
  type CompiledRule,
  type LimitCall,
  type ReloadableLimiter,
} from './limiter.ts';
import { LocalPoints, runOver, type SpentRun } from './local-points.ts';
import { MemoryLimiter, type MemoryLease } from './memory.ts';
import type { LimitRule } from './model.ts';
import { SCRIPTS, type Script } from './redis-scripts.ts';

export interface RedisLimiterOptions {
  url: string;
  keyPrefix?: string;
  /** Default 200 ms. */
  commandTimeoutMs?: number;
  /** Default 30000 ms. */
  leaseTtlMs?: number;
  /** Default 2; see RedisLimitsConfig. */
  fallbackDivisor?: number;
  /** After a Redis failure, stay local at least this long before trying Redis again; default 1000 ms. */
  retryIntervalMs?: number;
  /** Called on every change of `degraded`, with why. */
  onDegraded?: (degraded: boolean, reason: string) => void;
  /** More ioredis options (TLS, auth...); the timeout and queue settings here always win. */
  redisOptions?: RedisOptions;
}

interface HeldLease {
  id: string;
  /** Its concurrency keys in Redis. */
  keys: string[];
  /** The same slots in the local fallback: this replica's own count of what it holds. */
  mirror: MemoryLease;
  /** False: taken locally while Redis was away; added there once it answers (`#settle`, `#renew`). */
  inRedis: boolean;
  renewing?: Promise<void>;
}

/** What Redis must still be told once it answers again (`#settle`), in order. */
type Owed =
  | { op: 'release'; id: string; keys: string[] }
  | { op: 'hold'; task: string; id: string; keys: string[]; deadline: number }
  | { op: 'end'; task: string }
  | { op: 'points'; run: SpentRun };

/** A lease this replica put in Redis for a task: what it writes back if Redis loses it. */
interface TaskHold {
  id: string;
  keys: string[];
  /** Epoch ms (this replica's clock). */
  deadline: number;
}

export class RedisLimiter implements ReloadableLimiter {
  #rules: CompiledRule[];
  readonly #fallback: MemoryLimiter;
  readonly #client: Redis;
  readonly #prefix: string;
  readonly #ttl: number;
  readonly #timeout: number;
  readonly #retryInterval: number;
  readonly #onDegraded?: (degraded: boolean, reason: string) => void;
  readonly #held = new Set<HeldLease>();
  readonly #renewTimer: NodeJS.Timeout;
  readonly #firstReady: Promise<void>;
  #everReady = false;
  /** Until then, a call waits for the first connection rather than going local at once. */
  readonly #startGraceUntil: number;
  #degraded = false;
  #retryAt = 0;
  /** Set while retiring: called when the last lease is released. */
  #drained?: () => void;
  #closing?: Promise<void>;
  /** Replaced by another limiter (a reload): what its connection does no longer says anything of the limits. */
  #retiring = false;
  #releasing = 0;
  #owed: Owed[] = [];
  #settling?: Promise<void>;
  /**
   * Tasks whose hold this replica put in Redis and mirrors locally, with what it holds for each:
   * dropped here once the task is marked ended or past its deadline, written back if Redis lost it.
   */
  readonly #mirroredTasks = new Map<string, TaskHold[]>();
  #checkingHolds?: Promise<void>;
  /** Held leases not in Redis yet (taken locally): `#settle` adds them. */
  readonly #unplaced = new Set<HeldLease>();
  /** Rate points spent locally, per bucket: `#settle` adds them there (local-points.ts). */
  readonly #spent = new LocalPoints();

  constructor(rules: readonly LimitRule[], options: RedisLimiterOptions) {
    this.#rules = compileRules(rules);
    this.#fallback = new MemoryLimiter(rules, { divisor: Math.max(1, options.fallbackDivisor ?? 2) });
    this.#prefix = options.keyPrefix ?? 'gatehouse:limits:';
    this.#ttl = options.leaseTtlMs ?? 30_000;
    this.#timeout = options.commandTimeoutMs ?? 200;
    this.#retryInterval = options.retryIntervalMs ?? 1000;
    this.#onDegraded = options.onDegraded;
    this.#startGraceUntil = Date.now() + this.#timeout;
    this.#client = new (ioredis().Redis)(options.url, {
      ...options.redisOptions,
      // A backstop only: the timeout that decides is `deadline`'s, which a busy event loop cannot trip.
      commandTimeout: Math.max(BACKSTOP_MS, this.#timeout * 10),
      connectTimeout: Math.max(1000, this.#timeout),
      enableOfflineQueue: false, // while disconnected, fail at once (and go local) rather than queue
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(times * 100, 2000),
    });
    // Failures surface per command (an unhandled 'error' would crash), except before the first
    // connection: a Redis away at start makes the limits local from then on, and is said at once, not
    // at the first limited call.
    this.#client.on('error', (err: Error) => {
      if (!this.#everReady && !this.#closing)
        this.#setDegraded(true, `redis unreachable at start (${err.message}); limiting locally, budgets divided`);
    });
    this.#firstReady = new Promise((resolve) =>
      this.#client.once('ready', () => {
        this.#everReady = true;
        resolve();
      }),
    );
    // The connection's own state is said as it changes, not only at the next limited call: an
    // operator's alert on `gatehouse_limits_degraded` then clears when Redis is back (and fires when it
    // goes) on a gateway that has no limited call meanwhile. A call that finds Redis failing while the
    // connection stays up (hung, erroring) still turns it on, as before.
    this.#client.on('ready', () => {
      if (!this.#closing && !this.#retiring) this.#setDegraded(false, 'redis reachable again');
      if (!this.#closing) this.#settle().catch(() => {}); // the next acquire tries again
    });
    this.#client.on('close', () => {
      if (this.#everReady && !this.#closing && !this.#retiring)
        this.#setDegraded(true, 'redis connection lost; limiting locally, budgets divided');
    });
    this.#renewTimer = setInterval(() => this.#renewAll(), Math.max(10, Math.floor(this.#ttl / 3)));
    this.#renewTimer.unref();
  }

  /** True while calls are limited locally because Redis failed. */
  get degraded(): boolean {
    return this.#degraded;
  }

  /** Wait (at most `timeoutMs`) for the first connection; whether it is connected. */
  async ready(timeoutMs = 5000): Promise<boolean> {
    await within(this.#firstReady, timeoutMs);
    return this.#client.status === 'ready';
  }

  async acquire(call: LimitCall, now?: number): Promise<AcquireResult> {
    const checks = checksFor(this.#rules, call);
    if (checks.length === 0) return NO_LEASE;
    // Just after start, give the connection one command timeout to open rather than going local.
    const grace = this.#startGraceUntil - Date.now();
    if (!this.#everReady && grace > 0) await within(this.#firstReady, grace);
    if (!this.#degraded || (Date.now() >= this.#retryAt && this.#client.status === 'ready')) {
      const id = randomUUID();
      const keys = checks.map((c) => this.#prefix + (c.kind === 'rate' ? 'r:' : 'c:') + c.key);
      try {
        return await this.#acquireInRedis(call, checks, id, keys);
      } catch (err) {
        // The script may still have run (a timeout): its points stay spent (the strict side), and its
        // lease, never renewed, is removed by id once Redis answers again (else it would hold a slot
        // for the TTL with no call behind it). A call let through locally is added there under its own.
        this.#owe({ op: 'release', id, keys: keys.filter((_, i) => checks[i].kind === 'concurrency') });
        this.#retryAt = Date.now() + this.#retryInterval;
        this.#setDegraded(true, `redis failed (${(err as Error).message}); limiting locally, budgets divided`);
      }
    }
    // Locally: the fallback counts what this replica holds and spent through Redis too.
    const local = this.#fallback.acquireNow(call, now);
    if (!local.ok) return local;
    for (const c of checks) if (c.kind === 'rate') this.#spent.add(`${this.#prefix}r:${c.key}`, c.rate, Date.now());
    return this.#lease({
      id: randomUUID(),
      keys: local.keys.map((k) => `${this.#prefix}c:${k}`),
      mirror: local,
      inRedis: false,
    });
  }

  /** One acquire in Redis, after what Redis was owed; a lease counted locally too. Throws when Redis fails. */
  async #acquireInRedis(call: LimitCall, checks: Check[], id: string, keys: string[]): Promise<AcquireResult> {
    await this.#settle(); // leases this replica took while Redis was away count before this call
    const args: Array<string | number> = [id, this.#ttl, CONCURRENCY_RETRY_MS, call.task ? '1' : '0'];
    for (const c of checks) {
      if (c.kind === 'rate') args.push('r', String(c.rate.msPerPoint), c.rate.capacity);
      else args.push('c', c.cap, 0);
    }
    const reply = (await this.#run(
      SCRIPTS.acquire,
      call.task ? [...keys, this.#taskRecord(call.task)] : keys,
      args,
    )) as Array<number | string>;
    this.#setDegraded(false, 'redis reachable again');
    if (reply[0] !== 0) return refusal(checks[Number(reply[0]) - 1], Number(reply[1]), reply[2] === '1');
    // Lua's indices (1-based) of the caps the task covered: no slot taken there, none to renew.
    const covered = new Set(reply.slice(1).map((i) => Number(i) - 1));
    const mirror = this.#fallback.record(call, new Set(checks.filter((_, i) => covered.has(i)).map((c) => c.key)));
    const held = keys.filter((_, i) => checks[i].kind === 'concurrency' && !covered.has(i));
    return this.#lease({ id, keys: held, mirror, inRedis: true });
  }

  /**
   * New rules on the same Redis. Keys are the prefix and the rule id (and scope), so a kept rule
   * finds its buckets and leases there; capacities and caps travel with each acquire, so the new ones
   * apply at once (a bucket is clamped to the new capacity: a lowered limit refills nothing). Leases
   * held keep being renewed and released by this limiter.
   */
  reconfigure(rules: readonly LimitRule[]): void {
    this.#rules = compileRules(rules);
    this.#fallback.reconfigure(rules);
  }

  /**
   * Another limiter took over (a reload changed the Redis settings): keep renewing and releasing the
   * leases of the calls still running — closing now would let them expire under a running call and
   * hold the slots of calls that end until the TTL — and close when the last is released.
   */
  async retire(): Promise<void> {
    this.#retiring = true; // its successor says whether the limits are degraded
    if (this.#busy > 0 && !this.#closing)
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
    await this.close();
  }

  /** Stop renewing and disconnect. Leases not released expire after their TTL, as a crash's would. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    clearInterval(this.#renewTimer);
    this.#held.clear();
    this.#owed = [];
    this.#mirroredTasks.clear();
    this.#unplaced.clear();
    this.#spent.clear();
    this.#whenDrained();
    await this.#fallback.close();
    // quit waits for pending replies; a dead or hung Redis gets a plain disconnect instead.
    const quit = this.#client.quit().then(
      () => true,
      () => false,
    );
    if (!(await within(quit, this.#timeout)) || !(await quit)) this.#client.disconnect();
  }

  /** Tell a retirement waiting for the last lease that it has come. */
  #whenDrained(): void {
    const drained = this.#drained;
    this.#drained = undefined;
    drained?.();
  }

  #lease(lease: HeldLease): AcquireResult {
    if (lease.keys.length === 0) return NO_LEASE; // and its mirror holds none either
    this.#held.add(lease);
    if (!lease.inRedis) this.#unplaced.add(lease);
    let done = false;
    const finish = async (local: () => Promise<void>, send: () => Promise<void>): Promise<void> => {
      if (done) return;
      done = true;
      this.#held.delete(lease);
      this.#unplaced.delete(lease);
      this.#releasing++;
      try {
        await local();
        await lease.renewing?.catch(() => {}); // a renewal still in flight must not re-add the lease after this
        await send();
      } finally {
        this.#releasing--;
        if (this.#busy === 0) this.#whenDrained();
      }
    };
    return {
      ok: true,
      release: () =>
        finish(
          () => lease.mirror.release(),
          async () => {
            if (!lease.inRedis) return; // taken locally and never added: nothing there to remove
            const owed: Owed = { op: 'release', id: lease.id, keys: lease.keys };
            await this.#run(SCRIPTS.release, owed.keys, [owed.id]).catch(() => this.#owe(owed));
          },
        ),
      holdForTask: (task, ttlMs) => {
        const ms = Math.max(0, Math.round(ttlMs));
        const owed: Owed = { op: 'hold', task, id: lease.id, keys: lease.keys, deadline: Date.now() + ms };
        return finish(
          () => lease.mirror.holdForTask(task, ms),
          async () => {
            if (!lease.inRedis) return this.#owe(owed);
            await this.#sendHold(owed).catch(() => this.#owe(owed));
          },
        );
      },
    };
  }

  /** A task's hold, in Redis for what is left of its time (none left: the lease is removed). */
  async #sendHold(o: Owed & { op: 'hold' }): Promise<void> {
    const left = o.deadline - Date.now();
    if (left <= 0) {
      await this.#run(SCRIPTS.release, o.keys, [o.id]);
      return;
    }
    if (await this.#hold(o.task, o)) {
      await this.#fallback.endTask(o.task); // some replica saw it end already: nothing to hold
      return;
    }
    const holds = this.#mirroredTasks.get(o.task) ?? [];
    holds.push({ id: o.id, keys: o.keys, deadline: o.deadline });
    this.#mirroredTasks.set(o.task, holds);
  }

  /** Put (or put back) `h` in Redis for what is left of its time; whether the task is marked ended. */
  async #hold(task: string, h: TaskHold): Promise<boolean> {
    const left = Math.max(1, h.deadline - Date.now());
    const keys = [this.#taskRecord(task), this.#endMark(task), ...h.keys];
    return (await this.#run(SCRIPTS.hold, keys, [h.id, left])) === 1;
  }

  /** Keep `o` for Redis' return (the oldest go first past OWED_MAX: they expire there on their own). */
  #owe(o: Owed): void {
    if (this.#closing || ('keys' in o && o.keys.length === 0)) return;
    this.#owed.push(o);
    if (this.#owed.length > OWED_MAX) this.#owed.shift();
  }

  /**
   * Tell Redis what it missed while away, before anything else is asked of it: leases held locally
   * are added (renewed from then on), then the releases, holds, task ends and rate points spent
   * locally it was owed, in order. Throws when Redis fails; what is left stays owed.
   */
  #settle(): Promise<void> {
    if (this.#owed.length === 0 && this.#unplaced.size === 0 && this.#spent.size === 0) return Promise.resolve();
    this.#settling ??= this.#settleNow().finally(() => {
      this.#settling = undefined;
    });
    return this.#settling;
  }

  async #settleNow(): Promise<void> {
    await Promise.all([...this.#unplaced].map((l) => this.#renew(l)));
    for (const run of this.#spent.take(Date.now())) this.#owe({ op: 'points', run });
    while (this.#owed.length > 0) {
      const o = this.#owed[0];
      if (o.op === 'release') await this.#run(SCRIPTS.release, o.keys, [o.id]);
      else if (o.op === 'hold') await this.#sendHold(o);
      else if (o.op === 'points') await this.#sendPoints(o.run);
      else await this.#sendEnd(o.task);
      // endTask may have replaced it meanwhile (a hold become a release): the replacement is sent next.
      const i = this.#owed.indexOf(o);
      if (i >= 0) this.#owed.splice(i, 1);
    }
  }

  /**
   * Add a run of points spent locally to its bucket (POINTS), unless they have all refilled by now.
   * Its mark lasts as long as a retry could come (until the run is over), so a retry counts once.
   */
  async #sendPoints(run: SpentRun): Promise<void> {
    const now = Date.now();
    if (runOver(run, now)) return;
    const ago = Math.max(0, now - run.last);
    const markMs = run.capacity * run.msPerPoint - ago + MARK_MARGIN_MS;
    const keys = [run.key, `${this.#prefix}r-sent:${run.id}`];
    await this.#run(SCRIPTS.points, keys, [run.msPerPoint, run.capacity, run.points, ago, markMs]);
  }

  /** Re-add (or add, for one taken locally) a running call's lease in Redis, for another TTL. */
  #renew(lease: HeldLease): Promise<void> {
    lease.renewing ??= this.#run(SCRIPTS.renew, lease.keys, [lease.id, this.#ttl])
      .then(() => {
        lease.inRedis = true;
        this.#unplaced.delete(lease);
      })
      .finally(() => {
        lease.renewing = undefined;
      });
    return lease.renewing;
  }

  /**
   * Give back a task's held leases, wherever they were taken: in Redis (any replica's), and in the
   * local fallback (held while Redis was away, or this replica's mirror). Redis failing: the end is
   * sent again once it answers, and they expire at the task's deadline meanwhile.
   */
  async endTask(task: string): Promise<void> {
    await this.#fallback.endTask(task);
    this.#mirroredTasks.delete(task);
    if (this.#closing) return;
    // A hold Redis is still owed becomes the removal of its lease.
    this.#owed = this.#owed.map((o): Owed => (o.op === 'hold' && o.task === task ? { ...o, op: 'release' } : o));
    await this.#sendEnd(task).catch(() => this.#owe({ op: 'end', task }));
  }

  async #sendEnd(task: string): Promise<void> {
    const mark = Math.max(END_MARK_MS, this.#ttl * 3);
    await this.#run(SCRIPTS.end, [this.#taskRecord(task), this.#endMark(task)], [mark]);
  }

  /** The holds of this replica's tasks, checked in Redis (one check at a time). */
  #checkHolds(): Promise<void> {
    if (this.#mirroredTasks.size === 0 || this.#degraded) return Promise.resolve();
    this.#checkingHolds ??= this.#checkHoldsNow().finally(() => {
      this.#checkingHolds = undefined;
    });
    return this.#checkingHolds;
  }

  /**
   * A task marked ended (another replica saw it end) or past its deadline: its local mirror goes. A
   * task whose record or leases Redis lost before its deadline: its hold is written back (see header).
   */
  async #checkHoldsNow(): Promise<void> {
    const tasks = [...this.#mirroredTasks];
    const keys = tasks.flatMap(([t]) => [this.#taskRecord(t), this.#endMark(t)]);
    const states = (await this.#run(SCRIPTS.live, keys, [])) as number[];
    for (const [i, [task, holds]] of tasks.entries()) {
      if (states[i] === 1 || this.#mirroredTasks.get(task) !== holds) continue; // intact, or ended here meanwhile
      const running = holds.filter((h) => h.deadline > Date.now());
      let ended = states[i] === 2 || running.length === 0;
      for (const h of ended ? [] : running) ended = (await this.#hold(task, h)) || ended;
      if (!ended) continue;
      this.#mirroredTasks.delete(task);
      await this.#fallback.endTask(task);
    }
  }

  /** The Redis hash naming the leases a task holds (see HOLD). */
  #taskRecord(task: string): string {
    return `${this.#prefix}t:${task}`;
  }

  /** The mark END leaves: some replica saw the task end (see HOLD, LIVE). */
  #endMark(task: string): string {
    return `${this.#prefix}t-ended:${task}`;
  }

  /** Leases held or being released: a retiring limiter stays connected while any is left. */
  get #busy(): number {
    return this.#held.size + this.#releasing;
  }

  #renewAll(): void {
    // A failed renewal is not retried early: if Redis stays away the lease expires there, and the call
    // keeps running uncounted in Redis (still counted locally) — the price of a crashed holder never
    // leaking a slot. The next renewal that succeeds adds it again.
    for (const lease of this.#held) this.#renew(lease).catch(() => {});
    if ((this.#owed.length > 0 || this.#spent.size > 0) && this.#client.status === 'ready')
      this.#settle().catch(() => {});
    this.#checkHolds().catch(() => {});
  }

  async #run(s: Script, keys: string[], args: Array<string | number>): Promise<unknown> {
    try {
      return await deadline(this.#client.evalsha(s.sha, keys.length, ...keys, ...args), this.#timeout);
    } catch (err) {
      if (!String((err as Error).message).includes('NOSCRIPT')) throw err;
      return await deadline(this.#client.eval(s.src, keys.length, ...keys, ...args), this.#timeout);
    }
  }

  #setDegraded(degraded: boolean, reason: string): void {
    if (this.#degraded === degraded) return;
    this.#degraded = degraded;
    try {
      this.#onDegraded?.(degraded, reason);
    } catch {
      // a broken callback must not break the call path
    }
  }
}

/** A task's end mark lasts at least this long (or 3 lease TTLs), past which a record lost is written back. */
const END_MARK_MS = 60_000;

/** A run's sent mark outlives the run by this much: a retry sent just before it is over still finds it. */
const MARK_MARGIN_MS = 60_000;

/** At most this many releases, holds, ends and runs of points kept for Redis' return. */
const OWED_MAX = 10_000;

/** ioredis' own command timeout, kept as a backstop under `deadline`. */
const BACKSTOP_MS = 10_000;

/**
 * `p`, or a rejection when it has not settled `ms` after the call *and* after the event loop has
 * read what arrived meanwhile. A timer fires before the loop polls its sockets: when other work held
 * the loop past `ms` (a busy gateway), Redis' answer may be waiting, unread, in the socket. The
 * rejection is therefore decided in the check phase (setImmediate), after the poll phase has read it,
 * so a prompt Redis is never declared slow for the gateway's own delays, which would send the calls
 * to the local share of the limits (up to a share per replica more calls at once than a shared cap).
 */
function deadline<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (!settled) reject(new Error(`Command timed out after ${ms} ms`));
      });
    }, ms);
    p.then(
      (v) => {
        settled = true;
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        settled = true;
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** Wait for `p` at most `ms`; whether it settled in time. The timer is cleared either way. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
