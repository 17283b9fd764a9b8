/**
 * The time a module reads, injectable: a module that acts on elapsed time (an expiry, a refresh, a
 * cool-down) takes a `Clock` in its options or constructor, defaulting to `systemClock`, so a test
 * can move time forward instead of sleeping through it. Epoch milliseconds, as `Date.now()`.
 */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
