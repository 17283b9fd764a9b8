/**
 * Listings as callers see them, built once and kept until something they were built from moves. A
 * listing is a function of the catalogue, the inventory (what may be shown, each tool's class), the
 * scrubber's values, the policy, modes and identity settings (which scopes a class needs), the
 * caller's attributes that visibility reads, the endpoint, and the clock (a rule's `validUntil`).
 * Every entry carries a stamp of all of them and is used only while each part is the same (`===`):
 * nothing is invalidated by a message that could be missed, an entry simply stops matching.
 *
 * Two levels. `shared`: per kind and endpoint, the catalogue's items as the inventory presents them,
 * namespaced and scrubbed one by one, with what the visibility test needs of each; the same for every
 * caller (no policy in it). `visible`: per kind, endpoint and visibility key (tenant, subject, client,
 * roles, scopes), the items of `shared` that pass the test, by reference, with the digests of their
 * keys for the cursor. Both are bounded (the oldest built out first).
 */

/** A cached value and what it was built from. */
interface Entry<V> {
  stamp: readonly unknown[];
  /** Stale from this time on (ms since the epoch); Infinity when no clock is involved. */
  expiresAt: number;
  value: V;
}

/** A bounded map of values that are valid while their stamp is the same and their time has not come. */
export class StampedCache<V> {
  readonly #entries = new Map<string, Entry<V>>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  /**
   * The value for `key` if it was built from `stamp` and has not expired, else `build()` (then kept).
   * A hit leaves the map alone: moving the entry to the end on every request (delete, then set)
   * replaced the map's table every few dozen requests, and V8 keeps a replaced table's entries and
   * successor until a full collection (see util/transient-map.ts). Past `max`, the oldest built goes.
   */
  get(key: string, stamp: readonly unknown[], now: number, build: () => { value: V; expiresAt?: number }): V {
    const hit = this.#entries.get(key);
    if (hit && hit.expiresAt > now && sameStamp(hit.stamp, stamp)) return hit.value;
    const { value, expiresAt = Number.POSITIVE_INFINITY } = build();
    this.#entries.delete(key);
    this.#entries.set(key, { stamp, expiresAt, value });
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    return value;
  }
}

function sameStamp(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
