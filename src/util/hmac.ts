/**
 * HMAC-SHA-256 and its constant-time check: the one place the gateway signs its own tokens (task
 * handles, holds, cursors, approval state and CSRF tokens, webhooks, console keys). The parts are fed
 * to the MAC one after another, exactly as if concatenated, so callers keep their own wire formats.
 */
import { createHmac, timingSafeEqual, type BinaryLike, type KeyObject } from 'node:crypto';

/** The raw 32-byte HMAC-SHA-256 of the parts, in order, under `key`. */
export function hmacSha256(key: BinaryLike | KeyObject, ...parts: Array<string | Uint8Array>): Buffer {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** True when `a` and `b` hold the same bytes, in time independent of where they differ (strings as UTF-8). */
export function sameBytes(a: string | Uint8Array, b: string | Uint8Array): boolean {
  const x = typeof a === 'string' ? Buffer.from(a) : a;
  const y = typeof b === 'string' ? Buffer.from(b) : b;
  return x.length === y.length && timingSafeEqual(x, y);
}
