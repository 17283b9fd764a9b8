/**
 * At most one call per key and window: the first at once, the others of the window folded into one
 * call at its end. For what an upstream announces over and over (a list change on one tenant's own
 * connection): each announcement makes every session of that tenant list again, and a server that
 * announces 500 times a second must not make them list 500 times.
 */
export class Coalescer {
  readonly #windowMs: number;
  /** Per key: when the last call ran, and the call folded into the end of the window, if any. */
  readonly #keys = new Map<string, { at: number; timer?: NodeJS.Timeout }>();

  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  run(key: string, fn: () => void, now = Date.now()): void {
    const k = this.#keys.get(key);
    if (!k || now - k.at >= this.#windowMs) {
      if (k?.timer) clearTimeout(k.timer);
      this.#keys.set(key, { at: now });
      fn();
      this.#forgetLater(key);
      return;
    }
    if (k.timer) return; // one is folded in already
    k.timer = setTimeout(
      () => {
        this.#keys.set(key, { at: Date.now() });
        fn();
        this.#forgetLater(key);
      },
      k.at + this.#windowMs - now,
    );
    k.timer.unref();
  }

  /** A key quiet for a window is forgotten (the map holds only keys in use). */
  #forgetLater(key: string): void {
    setTimeout(() => {
      const k = this.#keys.get(key);
      if (k && !k.timer && Date.now() - k.at >= this.#windowMs) this.#keys.delete(key);
    }, this.#windowMs + 10).unref();
  }

  /** Stops every folded call. */
  close(): void {
    for (const k of this.#keys.values()) clearTimeout(k.timer);
    this.#keys.clear();
  }
}
