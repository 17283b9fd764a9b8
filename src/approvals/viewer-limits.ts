/**
 * Per-viewer budgets for the approval pages: lookups (the list, a request) and decisions, each a token
 * bucket keyed by the viewer's principal key, in this process. Ids are unguessable, but a viewer
 * walking ids, or clicking approve on a loop, is stopped early; the answer says when to come back.
 * Bounded: at most `maxViewers` buckets are kept (the least recently used go first).
 */
export interface Budget {
  /** Tokens a viewer may spend at once. */
  burst: number;
  /** Tokens regained per second. */
  perSecond: number;
}

export const LOOKUPS: Budget = { burst: 60, perSecond: 1 };
export const DECISIONS: Budget = { burst: 10, perSecond: 0.2 };

export class ViewerLimits {
  readonly #budget: Budget;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #max: number;

  constructor(budget: Budget, maxViewers = 10_000) {
    this.#budget = budget;
    this.#max = maxViewers;
  }

  /** 0 when allowed (one token spent), else the milliseconds until the next token. */
  take(viewer: string, now = Date.now()): number {
    const b = this.#buckets.get(viewer) ?? { tokens: this.#budget.burst, at: now };
    this.#buckets.delete(viewer);
    b.tokens = Math.min(this.#budget.burst, b.tokens + ((now - b.at) / 1000) * this.#budget.perSecond);
    b.at = now;
    this.#buckets.set(viewer, b);
    if (this.#buckets.size > this.#max) this.#buckets.delete(this.#buckets.keys().next().value as string);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) / this.#budget.perSecond) * 1000);
  }
}
