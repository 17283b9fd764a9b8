/**
 * Exponential backoff, the one formula for every retry loop (upstream restarts and reconnects,
 * breaker cool-downs, credential retries, audit export): each delay doubles, up to a ceiling.
 */

/** The delay after `delayMs`: twice as long, at most `maxMs`. */
export function doubled(delayMs: number, maxMs: number): number {
  return Math.min(delayMs * 2, maxMs);
}

/** The delay before the `attempt`-th retry (1 for the first): `initialMs` doubled `attempt - 1` times, at most `maxMs`. */
export function nthDelay(initialMs: number, attempt: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(30, attempt - 1)); // 2^30: no overflow to Infinity
}

/** "Equal jitter": between half of `baseMs` and all of it, so retries spread out but never come at once. */
export function equalJitter(baseMs: number, random: () => number = Math.random): number {
  return baseMs / 2 + random() * (baseMs / 2);
}
