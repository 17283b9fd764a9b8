/**
 * Limits: rate limits and concurrency caps, per principal, per tool, per principal and tool, and per
 * tenant. The shapes are the config schema's (`limits` in src/config/schema.ts, checked at load with
 * file and line: unique rule ids, a rate or a cap in each rule).
 *
 * Rate semantics: a token bucket. `points` calls are refilled per `perSeconds` (the sustained rate);
 * `burst` is the bucket's capacity, i.e. how many calls may go back to back after an idle period
 * (default: `points`). One call costs one point.
 */
import type { LimitsConfig } from '../config/schema.ts';
import { globRegExp } from '../policy/glob.ts';

/** One rule: an id named in refusals, whose calls it counts (scope, tools), a rate, a cap or both. */
export type LimitRule = LimitsConfig['rules'][number];
export type LimitScope = LimitRule['scope'];
export type RateSpec = NonNullable<LimitRule['rate']>;

/**
 * A tool glob as a RegExp: `*` any run of characters, `?` exactly one; everything else literal. The
 * same globs as policy's, matched the same way (without backtracking: `a*a*a*…*b` from config
 * against a long name would otherwise take polynomial time with the number of stars).
 */
export function globToRegExp(glob: string): RegExp {
  return globRegExp(glob);
}
