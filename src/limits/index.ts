/**
 * Limits: the entry point for the call pipeline. `createLimiter` picks the backend from the
 * configuration: Redis when `redis` is set (several replicas share the budgets), memory otherwise.
 */
import { MemoryLimiter } from './memory.ts';
import { RedisLimiter, type RedisLimiterOptions } from './redis.ts';
import type { LimitsConfig } from '../config/schema.ts';
import type { Limiter } from './limiter.ts';

export type { Limiter } from './limiter.ts';

/** The limiter for a validated `limits` section. `hooks` apply to the Redis backend only. */
export function createLimiter(
  config: LimitsConfig,
  hooks: Pick<RedisLimiterOptions, 'onDegraded' | 'redisOptions'> = {},
): Limiter & { readonly degraded: boolean } {
  if (!config.redis) return new MemoryLimiter(config.rules);
  return new RedisLimiter(config.rules, { ...config.redis, ...hooks });
}
