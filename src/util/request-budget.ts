/**
 * The bytes of client requests the gateway holds: each MCP request body is read whole (up to
 * `gateway.maxBodyBytes`), parsed, and kept while its call runs, which may be minutes (an approval,
 * a slow upstream). Bounding each body bounded nothing in all: one tenant's agent with a few
 * addresses could hold thousands of 4 MiB bodies at once, and the gateway's memory is every
 * tenant's. One budget per gateway (`gateway.maxBufferedRequestBytes`), modelled on the budget of
 * bytes held from upstreams (./byte-budget.ts): a request takes what each chunk of its body adds
 * as it arrives, and gives all of it back once, when its response has ended or its connection
 * closed (its parsed value lives as long as the call), or, when a held call keeps it past its
 * answer (a modern caller's call to a legacy upstream that asked a question: src/gateway/holds.ts),
 * once that hold has gone too. Each tenant's requests hold at most half of
 * it, so one tenant can never take what every other tenant needs; bodies read before their caller
 * is known (a request's id read while the store is away) hold at most half, from a share of their
 * own. A chunk that does not fit refuses its request. A few additions and comparisons per chunk.
 */
import { getHeapStatistics } from 'node:v8';

/** Whose share a request's bytes are taken from: its tenant, or null before it is authenticated. */
export type Holder = string | null;

/** What a refused request was over: its tenant's half, the unauthenticated requests' half, or the whole. */
export type RequestRefusal = 'tenant' | 'unauthenticated' | 'total';

/** What a refusal is told with: why, and what was held against which bound. */
export interface Refused {
  reason: RequestRefusal;
  holder: Holder;
  /** What the holder's requests held, the bound on that, and what every request held together. */
  holderBytes: number;
  shareBytes: number;
  heldBytes: number;
  budgetBytes: number;
}

/**
 * The default: an eighth of the V8 heap limit (`--max-old-space-size`, or what Node derives from
 * the machine's or the container's memory: about 32 MiB under a 512 MiB container, 512 MiB under a
 * 4 GiB heap). What a request holds in the heap is several times its bytes (its decoded text, then
 * its parsed value: a JSON array of small numbers is four to eight times its text), so an eighth
 * leaves the heap for everything else even when the budget is full. At least twice `maxBodyBytes`:
 * a tenant's half must hold one body of the largest size.
 */
export function defaultRequestBudget(maxBodyBytes: number, heapLimit = getHeapStatistics().heap_size_limit): number {
  return Math.max(2 * maxBodyBytes, Math.floor(heapLimit / 8));
}

/** The budget a `gateway:` section sets: `maxBufferedRequestBytes`, or the default. */
export function requestBudgetBytes(g: { maxBodyBytes: number; maxBufferedRequestBytes?: number }): number {
  return g.maxBufferedRequestBytes ?? defaultRequestBudget(g.maxBodyBytes);
}

export class RequestBudget {
  /** At most this many bytes held at once (changed by a config reload; the shares follow it). */
  max: number;
  /** Bytes held now, every request together. */
  held = 0;
  /** By tenant: only tenants that hold something (a tenant leaves when its last byte is given back). */
  readonly #tenants = new Map<string, number>();
  #unauthenticated = 0;
  /** A refusal told (counted, logged): the error its request is answered with. */
  readonly #onRefused: (r: Refused) => Error;

  constructor(
    max: number,
    onRefused: (r: Refused) => Error = (r) => new Error(`over the request budget (${r.reason})`),
  ) {
    this.max = max;
    this.#onRefused = onRefused;
  }

  /** What one holder's requests may hold together: half of the budget. */
  get share(): number {
    return Math.floor(this.max / 2);
  }

  heldBy(holder: Holder): number {
    return holder === null ? this.#unauthenticated : (this.#tenants.get(holder) ?? 0);
  }

  /** Why `bytes` more for `holder` would not fit now (its share first, then the whole); undefined when they fit. */
  over(holder: Holder, bytes: number): RequestRefusal | undefined {
    if (this.heldBy(holder) + bytes > this.share) return holder === null ? 'unauthenticated' : 'tenant';
    if (this.held + bytes > this.max) return 'total';
    return undefined;
  }

  /** Takes `bytes` for `holder` if they fit; else nothing is taken and the reason is returned. */
  take(holder: Holder, bytes: number): RequestRefusal | undefined {
    const over = this.over(holder, bytes);
    if (over === undefined) this.#add(holder, bytes);
    return over;
  }

  give(holder: Holder, bytes: number): void {
    this.#add(holder, -bytes);
  }

  #add(holder: Holder, bytes: number): void {
    this.held += bytes;
    if (holder === null) {
      this.#unauthenticated += bytes;
      return;
    }
    const now = (this.#tenants.get(holder) ?? 0) + bytes;
    if (now > 0) this.#tenants.set(holder, now);
    else this.#tenants.delete(holder);
  }

  /** One request's bytes, from `holder`'s share. */
  hold(holder: Holder): RequestHold {
    return new RequestHold(this, holder);
  }

  /** The refusal of a request of `holder`'s: told once, and the error to answer it with. */
  refused(holder: Holder, reason: RequestRefusal): Error {
    return this.#onRefused({
      reason,
      holder,
      holderBytes: this.heldBy(holder),
      shareBytes: this.share,
      heldBytes: this.held,
      budgetBytes: this.max,
    });
  }
}

/**
 * The bytes of one request: taken chunk by chunk as its body arrives, all given back by `release`
 * (once, however often it is called) unless something still keeps them (`keep`): then once the last
 * keeper lets go. A released hold takes nothing more: a body still arriving for a request whose
 * answer is over is refused.
 */
export class RequestHold {
  readonly #budget: RequestBudget;
  readonly #holder: Holder;
  #taken = 0;
  #released = false;
  /** Keepers not yet let go (held calls that keep this request's params past its answer). */
  #kept = 0;
  /** Why the last chunk (or declared length) did not fit. */
  #why: RequestRefusal = 'total';

  constructor(budget: RequestBudget, holder: Holder) {
    this.#budget = budget;
    this.#holder = holder;
  }

  /** Bytes this request holds. */
  get held(): number {
    return this.#taken;
  }

  /** Whether `bytes` more fit now (a declared Content-Length, before anything is read): nothing is taken. */
  fits(bytes: number): boolean {
    const over = this.#released ? 'total' : this.#budget.over(this.#holder, bytes);
    if (over !== undefined) this.#why = over;
    return over === undefined;
  }

  /** Takes what a chunk adds; false (nothing taken) when it does not fit. */
  take(bytes: number): boolean {
    const over = this.#released ? 'total' : this.#budget.take(this.#holder, bytes);
    if (over !== undefined) {
      this.#why = over;
      return false;
    }
    this.#taken += bytes;
    return true;
  }

  /** The request is refused for what did not fit: counted and logged, and the error it is answered with. */
  refused(): Error {
    return this.#budget.refused(this.#holder, this.#why);
  }

  /**
   * Keeps this request's bytes taken past its `release`, for as long as what it returns is not
   * called (a held call: it keeps the request's params while its upstream call waits). Letting go
   * is done once, however often it is called; the bytes are given back once `release` has been
   * called and every keeper let go. A hold already released keeps nothing (its bytes are back).
   */
  keep(): () => void {
    if (this.#released) return () => {};
    this.#kept++;
    let kept = true;
    return () => {
      if (!kept) return;
      kept = false;
      this.#kept--;
      this.#giveBack();
    };
  }

  /** Everything this request took, given back (its answer is over or its connection closed), once nothing keeps it. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#giveBack();
  }

  #giveBack(): void {
    if (!this.#released || this.#kept > 0) return;
    this.#budget.give(this.#holder, this.#taken);
    this.#taken = 0;
  }
}
