/**
 * Limits: the entry point for the call pipeline. `createLimiter` picks the backend from the
 * configuration: Redis when `redis` is set (several replicas share the budgets), memory otherwise.
 * `GatewayLimits` holds the gateway's limiter and refusal budget across reloads.
 */
import { MemoryLimiter } from './memory.ts';
import { RedisLimiter, type RedisLimiterOptions } from './redis.ts';
import type { LimitsConfig } from '../config/schema.ts';
import type { Limiter, ReloadableLimiter } from './limiter.ts';
import type { LimitRule } from './model.ts';
import { DEFAULT_REFUSALS, RefusalBudget } from './refusals.ts';

export type { Limiter } from './limiter.ts';

type Hooks = Pick<RedisLimiterOptions, 'onDegraded' | 'redisOptions'>;

/** The limiter for a validated `limits` section. `hooks` apply to the Redis backend only. */
export function createLimiter(
  config: LimitsConfig,
  hooks: Hooks = {},
): ReloadableLimiter & { readonly degraded: boolean } {
  if (!config.redis) return new MemoryLimiter(config.rules);
  return new RedisLimiter(config.rules, { ...config.redis, ...hooks });
}

/** The refusal budget's one rule: always on (default 120 per minute per principal). */
function refusalRules(limits: LimitsConfig | undefined): LimitRule[] {
  return [{ id: 'refusals', scope: 'principal', rate: limits?.refusals ?? DEFAULT_REFUSALS }];
}

/** The refusal budget's limiter, shared through Redis (under a prefix of its own) when limits use it. */
function refusalLimiter(limits: LimitsConfig | undefined): ReloadableLimiter {
  const redis = limits?.redis;
  return createLimiter({
    rules: refusalRules(limits),
    redis: redis && { ...redis, keyPrefix: `${redis.keyPrefix ?? 'gatehouse:limits:'}refusals:` },
  });
}

/** Whether two sections use the same backend the same way (the same Redis, with the same settings). */
const sameBackend = (a: LimitsConfig | undefined, b: LimitsConfig | undefined): boolean =>
  JSON.stringify(a?.redis ?? null) === JSON.stringify(b?.redis ?? null);

/**
 * The limiter and the refusal budget in force. A reload never gives back what was spent or is in
 * flight: on the same backend the limiters take the new rules in place (buckets and calls in flight
 * carry over by rule id, clamped to the new capacities); when the backend changes, the new limiter
 * starts and the old one retires, still renewing and releasing the leases of the calls it let
 * through until they end. An unchanged section keeps everything as it is.
 */
export class GatewayLimits {
  #config: LimitsConfig | undefined;
  /** None without rules (the pipeline then skips limiting), unless kept for the counters it carries. */
  #limiter: ReloadableLimiter | undefined;
  #refusalLimiter: ReloadableLimiter;
  readonly #refusals: RefusalBudget;
  readonly #hooks: Hooks;
  /** Replaced limiters waiting for their calls in flight to end; closed at the latest by `close`. */
  readonly #retiring = new Set<ReloadableLimiter>();

  constructor(config: LimitsConfig | undefined, onDegraded: NonNullable<RedisLimiterOptions['onDegraded']>) {
    this.#config = config;
    this.#hooks = { onDegraded };
    this.#limiter = config?.rules.length ? createLimiter(config, this.#hooks) : undefined;
    this.#refusalLimiter = refusalLimiter(config);
    this.#refusals = new RefusalBudget(this.#refusalLimiter);
  }

  get limiter(): Limiter | undefined {
    return this.#limiter;
  }

  get refusals(): RefusalBudget {
    return this.#refusals;
  }

  /** Apply a reloaded `limits` section; a note for the reload's record, or nothing when it is unchanged. */
  reload(next: LimitsConfig | undefined): string | undefined {
    const prev = this.#config;
    if (JSON.stringify(next) === JSON.stringify(prev)) return undefined;
    this.#config = next;
    if (sameBackend(prev, next)) {
      if (this.#limiter) this.#limiter.reconfigure(next?.rules ?? []);
      else if (next?.rules.length) this.#limiter = createLimiter(next, this.#hooks);
      this.#refusalLimiter.reconfigure(refusalRules(next));
      return 'limits changed in place (counters and calls in flight carried over)';
    }
    if (this.#limiter) this.#retire(this.#limiter);
    this.#limiter = next?.rules.length ? createLimiter(next, this.#hooks) : undefined;
    // Who is blocked stays blocked (the budget keeps its blocks); the old refusal limiter holds no leases.
    const old = this.#refusalLimiter;
    this.#refusalLimiter = refusalLimiter(next);
    this.#refusals.use(this.#refusalLimiter);
    this.#retire(old);
    return 'limits moved to another backend: a new limiter; calls in flight end under the old one';
  }

  async close(): Promise<void> {
    await Promise.all([...this.#retiring].map((l) => l.close()));
    await this.#limiter?.close();
    await this.#refusalLimiter.close();
  }

  #retire(limiter: ReloadableLimiter): void {
    this.#retiring.add(limiter);
    void limiter
      .retire()
      .catch(() => {})
      .finally(() => this.#retiring.delete(limiter));
  }
}
