/**
 * A map for entries that come and go with requests (calls in flight, answers awaited), kept by a
 * long-lived owner: a dictionary-mode object with a count, where a `Map` would keep every request
 * alive until a full collection.
 *
 * Why not a `Map`: V8 stores a Map's entries in a hash table that is replaced when it fills up
 * with deleted entries, every few dozen requests under churn. The replaced table keeps its entries
 * and a link to its successor. Once a table is in the old generation (the map's first one, or the
 * one a full collection found live), the young-generation collector (the scavenger, every 100-200 ms
 * under load) treats it as live: its successor survives, that one's successor, and so on, with every
 * entry each of them held: every request since the last full collection, and all it references.
 * Measured on the gateway at 16 concurrent calls (ADR 0014): with the maps of calls in flight as
 * Maps, 4-5 MB promoted per scavenge (every 100-200 ms), where nothing else would be. A
 * dictionary-mode object drops a deleted entry from its table, and a table it replaces links to
 * nothing.
 *
 * Keys are numbers or strings, distinct from each other (1 and '1' are two keys). Iteration order
 * is not promised (numeric keys come ascending).
 */
export class TransientMap<K extends string | number, V> {
  #entries: Record<string | number, V> = Object.create(null);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(k: K): V | undefined {
    return this.#entries[prop(k)];
  }

  has(k: K): boolean {
    return prop(k) in this.#entries;
  }

  set(k: K, v: V): this {
    const p = prop(k);
    if (!(p in this.#entries)) this.#size++;
    this.#entries[p] = v;
    return this;
  }

  delete(k: K): boolean {
    const p = prop(k);
    if (!(p in this.#entries)) return false;
    delete this.#entries[p];
    this.#size--;
    return true;
  }

  clear(): void {
    this.#entries = Object.create(null);
    this.#size = 0;
  }

  /** The values at this moment (a copy: entries may be deleted while the caller walks it). */
  values(): V[] {
    const out: V[] = [];
    for (const p in this.#entries) out.push(this.#entries[p]);
    return out;
  }
}

/** A number stays a (numeric) property key; a string gets a prefix no number's text starts with. */
function prop(k: string | number): string | number {
  return typeof k === 'number' ? k : `s${k}`;
}
