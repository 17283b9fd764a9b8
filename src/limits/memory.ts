/**
 * In-process limits: token buckets and concurrency counters in Maps. Right for one gateway process,
 * and the stricter local fallback of the Redis backend. Our own token bucket rather than
 * rate-limiter-flexible's fixed window: it takes an explicit clock (deterministic tests), `burst` is
 * its capacity, and the Redis backend runs the same arithmetic in Lua, so falling back does not change
 * what a rule means.
 */
import {
  CONCURRENCY_RETRY_MS,
  checksFor,
  compileRules,
  refusal,
  type AcquireResult,
  type Check,
  type CompiledRule,
  type LimitCall,
  type ReloadableLimiter,
} from './limiter.ts';
import type { LimitRule } from './model.ts';
import { TransientMap } from '../util/transient-map.ts';

interface Bucket {
  tokens: number;
  /** epoch ms of the last update */
  at: number;
}

/** Sweep full buckets (equivalent to absent) after this many acquires, so idle keys do not pile up. */
const SWEEP_EVERY = 1000;

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
  acquireNow(call: LimitCall, now = Date.now()): AcquireResult {
    if (++this.#sinceSweep >= SWEEP_EVERY) this.#sweep(now);
    const checks = checksFor(this.#rules, call);
    const levels = checks.map((c) => (c.kind === 'rate' ? this.#level(c, now) : 0));
    // Check everything first; refuse with the longest wait, since all checks must pass.
    let worst: { check: Check; wait: number } | undefined;
    checks.forEach((c, i) => {
      const wait = this.#wait(c, levels[i]);
      if (wait > 0 && (!worst || wait > worst.wait)) worst = { check: c, wait };
    });
    if (worst) return refusal(worst.check, worst.wait);
    const held: string[] = [];
    checks.forEach((c, i) => {
      if (c.kind === 'rate')
        this.#buckets.set(c.key, { tokens: levels[i] - 1, at: Math.max(now, this.#buckets.get(c.key)?.at ?? now) });
      else {
        this.#inFlight.set(c.key, (this.#inFlight.get(c.key) ?? 0) + 1);
        held.push(c.key);
      }
    });
    let released = false;
    return {
      ok: true,
      release: async () => {
        if (released) return;
        released = true;
        for (const key of held) {
          const n = (this.#inFlight.get(key) ?? 1) - 1;
          if (n <= 0) this.#inFlight.delete(key);
          else this.#inFlight.set(key, n);
        }
      },
    };
  }

  async acquire(call: LimitCall, now?: number): Promise<AcquireResult> {
    return this.acquireNow(call, now);
  }

  async close(): Promise<void> {
    this.#buckets.clear();
    this.#inFlight.clear();
  }

  /** How long until `c` could pass (0: it passes now); `level` is its bucket's tokens for a rate check. */
  #wait(c: Check, level: number): number {
    if (c.kind === 'rate') return level >= 1 ? 0 : (1 - level) * c.rate.msPerPoint;
    return (this.#inFlight.get(c.key) ?? 0) >= c.cap ? CONCURRENCY_RETRY_MS : 0;
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
