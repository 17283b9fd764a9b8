/**
 * Moments as people and other programs read them: ISO 8601 text. Records keep epoch milliseconds;
 * what the CLI prints with `--json` and what the admin API answers say ISO, by this one rule, so the
 * two never disagree on the same field.
 */

/** A key whose number is a moment: `createdAt`, `expiresAt`, `setAt`, an action's `at`, a window's edges. */
const TIME_KEY = /(?:At|^at|^windowStart|^windowEnd)$/;

/**
 * A value under `key` as ISO 8601 when it is a moment: a number under a time key that is a plausible
 * one (2001 to 5138); anything else as it is. Usable as a `JSON.stringify` replacer.
 */
export function isoTime(key: string, v: unknown): unknown {
  return TIME_KEY.test(key) && typeof v === 'number' && v > 1e12 && v < 1e14 ? new Date(v).toISOString() : v;
}

/** A copy of `value` with every moment in it (at any depth) as ISO 8601 text. */
export function withIsoTimes(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => withIsoTimes(v));
  // An object that says how it is written (a Date, a Buffer) is written so, as JSON.stringify would.
  if (value && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON !== 'function')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withIsoTimes(v, k)]));
  return isoTime(key, value);
}
