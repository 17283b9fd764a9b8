/**
 * Limits: the entry point for the call pipeline. `createLimiter` picks the backend from the
 * configuration: Redis when `redis` is set (several replicas share the budgets), memory otherwise.
 */
import { MemoryLimiter } from './memory.ts';
import { RedisLimiter, type RedisLimiterOptions } from './redis.ts';
import type { LimitsConfig } from '../config/schema.ts';
import type { Limiter } from './limiter.ts';
import { DEFAULT_REFUSALS, RefusalBudget } from './refusals.ts';

export type { Limiter } from './limiter.ts';

/** The limiter for a validated `limits` section. `hooks` apply to the Redis backend only. */
export function createLimiter(
  config: LimitsConfig,
  hooks: Pick<RedisLimiterOptions, 'onDegraded' | 'redisOptions'> = {},
): Limiter & { readonly degraded: boolean } {
  if (!config.redis) return new MemoryLimiter(config.rules);
  return new RedisLimiter(config.rules, { ...config.redis, ...hooks });
}

/** The limiter of a config's rules (none without rules); `onDegraded` hears of Redis lost and back. */
export function limiterFor(
  config: { limits?: LimitsConfig },
  onDegraded: NonNullable<RedisLimiterOptions['onDegraded']>,
): Limiter | undefined {
  if (!config.limits?.rules.length) return undefined;
  return createLimiter(config.limits, { onDegraded });
}

/** The refusal budget: always on (default 120 per minute per principal), shared through Redis when limits use it. */
export function refusalBudgetFor(config: { limits?: LimitsConfig }): RefusalBudget {
  const redis = config.limits?.redis;
  const rule = { id: 'refusals', scope: 'principal' as const, rate: config.limits?.refusals ?? DEFAULT_REFUSALS };
  return new RefusalBudget(
    createLimiter({
      rules: [rule],
      redis: redis && { ...redis, keyPrefix: `${redis.keyPrefix ?? 'gatehouse:limits:'}refusals:` },
    }),
  );
}
