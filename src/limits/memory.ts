/**
 * In-process limits: token buckets and concurrency counters in Maps. Right for one gateway process,
 * and the stricter local fallback of the Redis backend. Our own token bucket rather than
 * rate-limiter-flexible's fixed window: it takes an explicit clock (deterministic tests), `burst` is
 * its capacity, and the Redis backend runs the same arithmetic in Lua, so falling back does not change
 * what a rule means. A lease kept for a task (Lease.holdForTask) stays counted until endTask or its
 * deadline, checked at the next acquire.
 */
import {
  CONCURRENCY_RETRY_MS,
  NO_LEASE,
  checksFor,
  compileRules,
  refusal,
  type AcquireResult,
  type Check,
  type CompiledRule,
  type Lease,
  type LimitCall,
  type ReloadableLimiter,
  type Refusal,
} from './limiter.ts';
import type { LimitRule } from './model.ts';
import { TransientMap } from '../util/transient-map.ts';

interface Bucket {
  tokens: number;
  /** epoch ms of the last update */
  at: number;
}

/** Concurrency leases kept for a task (Lease.holdForTask) until it ends or `deadline` (epoch ms) passes. */
interface TaskHold {
  keys: string[];
  deadline: number;
}

/** Sweep full buckets (equivalent to absent) after this many acquires, so idle keys do not pile up. */
const SWEEP_EVERY = 1000;

/** A lease of this limiter, with the concurrency keys it holds (the Redis backend names them in Redis too). */
export interface MemoryLease extends Lease {
  keys: readonly string[];
}

const NO_KEYS: MemoryLease = { ...NO_LEASE, keys: [] };

export interface MemoryLimiterOptions {
  /** Divide every budget by this (the Redis backend's fallback); default 1. */
  divisor?: number;
}

export class MemoryLimiter implements ReloadableLimiter {
  #rules: CompiledRule[];
  readonly #divisor: number;
  readonly #buckets = new Map<string, Bucket>();
  /** Calls in flight per concurrency key, removed at 0: they come and go with requests (see util/transient-map.ts). */
  readonly #inFlight = new TransientMap<string, number>();
  #sinceSweep = 0;
  /** Leases kept for tasks, by task key; expired lazily, at the next acquire after the earliest deadline. */
  readonly #tasks = new Map<string, TaskHold[]>();
  #nextDeadline = Number.POSITIVE_INFINITY;
  /** Never: nothing to lose contact with (same shape as RedisLimiter). */
  readonly degraded = false;

  constructor(rules: readonly LimitRule[], options: MemoryLimiterOptions = {}) {
    this.#divisor = options.divisor ?? 1;
    this.#rules = compileRules(rules, this.#divisor);
  }

  /**
   * New rules, same counters. Keys carry the rule id and scope, so a kept rule finds its buckets and
   * in-flight counts again; a bucket is read against the new capacity and rate (`#level`), so a
   * lowered limit refills nothing. Buckets of rules gone are swept like idle ones.
   */
  reconfigure(rules: readonly LimitRule[]): void {
    this.#rules = compileRules(rules, this.#divisor);
  }

  /** Nothing outlives the process here: a lease released after close finds nothing to decrement. */
  retire(): Promise<void> {
    return this.close();
  }

  /** Synchronous, so check-then-take cannot interleave with another acquire. */
  acquireNow(call: LimitCall, now = Date.now()): MemoryLease | Refusal {
    this.#housekeep(now);
    // A continuation passes the caps whose slot its own task holds, without taking another.
    const checks = checksFor(this.#rules, call).filter((c) => c.kind === 'rate' || !this.#covers(call.task, c.key));
    const levels = checks.map((c) => (c.kind === 'rate' ? this.#level(c, now) : 0));
    // Check everything first; refuse with the longest wait, since all checks must pass.
    let worst: { check: Check; wait: number; tasks: boolean } | undefined;
    checks.forEach((c, i) => {
      const w = this.#wait(c, levels[i], now);
      if (w.wait > 0 && (!worst || w.wait > worst.wait)) worst = { check: c, ...w };
    });
    if (worst) return refusal(worst.check, worst.wait, worst.tasks);
    return this.#take(checks, levels, now);
  }

  /**
   * Count a call another backend let through (the Redis backend's mirror: what this replica holds and
   * spent there, which its local limits must know when Redis goes away). Nothing is checked: its
   * points are taken, a bucket emptied at most (a spent local share, not a debt), and its concurrency
   * slots are held but for the keys in `covered` (the caps its task holds already).
   */
  record(call: LimitCall, covered: ReadonlySet<string>, now = Date.now()): MemoryLease {
    this.#housekeep(now);
    const checks = checksFor(this.#rules, call).filter((c) => c.kind === 'rate' || !covered.has(c.key));
    return this.#take(
      checks,
      checks.map((c) => (c.kind === 'rate' ? Math.max(1, this.#level(c, now)) : 0)),
      now,
    );
  }

  #housekeep(now: number): void {
    if (++this.#sinceSweep >= SWEEP_EVERY) this.#sweep(now);
    this.#expireTasks(now);
  }

  /** Take one point from each rate check (its bucket at `levels[i]`) and a slot of each concurrency check. */
  #take(checks: readonly Check[], levels: readonly number[], now: number): MemoryLease {
    const held: string[] = [];
    checks.forEach((c, i) => {
      if (c.kind === 'rate')
        this.#buckets.set(c.key, { tokens: levels[i] - 1, at: Math.max(now, this.#buckets.get(c.key)?.at ?? now) });
      else {
        this.#inFlight.set(c.key, (this.#inFlight.get(c.key) ?? 0) + 1);
        held.push(c.key);
      }
    });
    return held.length ? this.#lease(held) : NO_KEYS;
  }

  #lease(held: string[]): MemoryLease {
    let done = false;
    return {
      ok: true,
      keys: held,
      release: async () => {
        if (done) return;
        done = true;
        this.#drop(held);
      },
      holdForTask: async (task, ttlMs, now = Date.now()) => {
        if (done) return;
        done = true;
        const deadline = now + Math.max(0, ttlMs);
        this.#tasks.set(task, [...(this.#tasks.get(task) ?? []), { keys: held, deadline }]);
        this.#nextDeadline = Math.min(this.#nextDeadline, deadline);
      },
    };
  }

  async endTask(task: string): Promise<void> {
    for (const h of this.#tasks.get(task) ?? []) this.#drop(h.keys);
    this.#tasks.delete(task);
  }

  /** Whether `task` holds a live slot under concurrency key `key`. */
  #covers(task: string | undefined, key: string): boolean {
    return task !== undefined && (this.#tasks.get(task)?.some((h) => h.keys.includes(key)) ?? false);
  }

  /** Give back the slots of task leases whose deadline has passed (a task never seen again). */
  #expireTasks(now: number): void {
    if (now < this.#nextDeadline) return;
    let next = Number.POSITIVE_INFINITY;
    for (const [task, holds] of this.#tasks) {
      const live = holds.filter((h) => h.deadline > now);
      for (const h of holds) if (h.deadline <= now) this.#drop(h.keys);
      if (live.length) this.#tasks.set(task, live);
      else this.#tasks.delete(task);
      for (const h of live) next = Math.min(next, h.deadline);
    }
    this.#nextDeadline = next;
  }

  #drop(keys: readonly string[]): void {
    for (const key of keys) {
      const n = (this.#inFlight.get(key) ?? 1) - 1;
      if (n <= 0) this.#inFlight.delete(key);
      else this.#inFlight.set(key, n);
    }
  }

  async acquire(call: LimitCall, now?: number): Promise<AcquireResult> {
    return this.acquireNow(call, now);
  }

  async close(): Promise<void> {
    this.#buckets.clear();
    this.#inFlight.clear();
    this.#tasks.clear();
    this.#nextDeadline = Number.POSITIVE_INFINITY;
  }

  /**
   * How long until `c` could pass (0: it passes now); `level` is its bucket's tokens for a rate check.
   * A full cap frees when some call ends (a guess), or, when running tasks hold every slot, at the
   * soonest of their deadlines (`tasks`: sooner if one is seen to end).
   */
  #wait(c: Check, level: number, now: number): { wait: number; tasks: boolean } {
    if (c.kind === 'rate') return { wait: level >= 1 ? 0 : (1 - level) * c.rate.msPerPoint, tasks: false };
    const inFlight = this.#inFlight.get(c.key) ?? 0;
    if (inFlight < c.cap) return { wait: 0, tasks: false };
    const deadlines: number[] = [];
    for (const holds of this.#tasks.values())
      for (const h of holds) if (h.keys.includes(c.key)) deadlines.push(h.deadline);
    if (deadlines.length < inFlight) return { wait: CONCURRENCY_RETRY_MS, tasks: false };
    return { wait: Math.max(1, Math.min(...deadlines) - now), tasks: true };
  }

  /** Tokens in the bucket at `now` (a clock that went backwards refills nothing). */
  #level(c: Check & { kind: 'rate' }, now: number): number {
    const { msPerPoint, capacity } = c.rate;
    const b = this.#buckets.get(c.key);
    if (!b) return capacity;
    return Math.min(capacity, b.tokens + Math.max(0, now - b.at) / msPerPoint);
  }

  #sweep(now: number): void {
    this.#sinceSweep = 0;
    const byId = new Map(this.#rules.map((r) => [r.id, r]));
    for (const [key, b] of this.#buckets) {
      const rate = byId.get((JSON.parse(key) as string[])[0])?.rate;
      if (!rate || b.tokens + Math.max(0, now - b.at) / rate.msPerPoint >= rate.capacity) this.#buckets.delete(key);
    }
  }
}
