/**
 * A map bounded in all and per holder, where what one holder adds never pushes out another's while it
 * holds less: past its own share a holder's oldest entry goes; past the bound in all, the oldest entry
 * of whoever holds the most goes (so many holders that each stay under their share still evict among
 * the largest, never the small ones). Memory stays bounded by `max` whatever the holders do.
 */
export class FairMap<V> {
  readonly #entries = new Map<string, { holder: string; value: V }>();
  /** Each holder's keys, oldest first (a set keeps insertion order). */
  readonly #held = new Map<string, Set<string>>();
  readonly #max: number;
  readonly #perHolder: number;

  constructor(max: number, perHolder: number) {
    this.#max = max;
    this.#perHolder = Math.min(perHolder, max);
  }

  get(key: string): V | undefined {
    return this.#entries.get(key)?.value;
  }

  /** `value` under `key`, held by `holder` (as the newest): past a bound, an entry goes as above. */
  set(key: string, holder: string, value: V): void {
    this.delete(key);
    const before = this.#held.get(holder) ?? new Set<string>();
    if (before.size >= this.#perHolder) this.#dropOldest(before);
    else if (this.#entries.size >= this.#max) this.#dropOldest(this.#largest(before));
    const mine = this.#held.get(holder) ?? new Set<string>();
    this.#held.set(holder, mine);
    mine.add(key);
    this.#entries.set(key, { holder, value });
  }

  delete(key: string): void {
    const e = this.#entries.get(key);
    if (!e) return;
    this.#entries.delete(key);
    const keys = this.#held.get(e.holder);
    keys?.delete(key);
    if (keys?.size === 0) this.#held.delete(e.holder);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The keys of whoever holds the most (`mine`, the adder's own, when it holds as many). */
  #largest(mine: Set<string>): Set<string> {
    let most = mine;
    for (const keys of this.#held.values()) if (keys.size > most.size) most = keys;
    return most;
  }

  #dropOldest(keys: Set<string>): void {
    const oldest = keys.values().next();
    if (!oldest.done) this.delete(oldest.value);
  }
}
