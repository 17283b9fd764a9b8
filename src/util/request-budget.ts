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
 *
 * Halves alone let two busy tenants fill the whole between them, and every other tenant was then
 * refused everything though it held nothing. So a tenant that holds less than the floor (one body
 * of the largest size, `gateway.maxBodyBytes`) may take up to the floor even when the whole is
 * held: what does not fit comes from a reserve beyond it (`reserve`: a quarter of the whole, at
 * least two largest bodies). Only tenants under the floor take from it, each at most the floor, so
 * busy tenants cannot reach it; bodies read before their caller is known have no floor. What a
 * request took from each is given back to each. Memory stays bounded whatever the number of
 * tenants: at most `max + reserve` bytes are held.
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
  /** What the holder's requests held, the bound on that, and what every request held together (the reserve's included). */
  holderBytes: number;
  shareBytes: number;
  heldBytes: number;
  budgetBytes: number;
  /** What tenants under the floor held from the reserve beyond the budget, and its bound. */
  reserveHeldBytes: number;
  reserveBytes: number;
  /** What did not fit: more of a request's body, or of an answer its client has yet to read (then cut off). */
  what: 'request' | 'answer';
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

/**
 * The reserve beyond a budget of `max` for tenants under a floor of `floor` (the largest body): a
 * quarter of `max`, at least two largest bodies. A quarter keeps what is held within a quarter
 * more than the configured bound (the default, an eighth of the heap, becomes 5/32 of it: the
 * margin the eighth leaves for parsed values holds that); two bodies, so that one tenant sending a
 * largest body from it leaves room for another's. Each tenant takes at most `floor` from it, and
 * only while it holds less: with 4 MiB bodies a default budget of 32 MiB reserves 8 MiB, two
 * tenants' largest bodies at once, or thousands of ordinary calls. Busy tenants cannot reach it:
 * only several tenants at once, each under the floor, can use it up (then the next waits for them).
 */
export function requestReserve(max: number, floor: number): number {
  return Math.max(2 * floor, Math.floor(max / 4));
}

export class RequestBudget {
  /** At most this many bytes held at once (changed by a config reload; the shares and the reserve follow it). */
  max: number;
  /**
   * What a tenant may always hold, from the reserve if the whole is held: one body of the largest
   * size (`gateway.maxBodyBytes`, changed by a reload; 0: no floor).
   */
  floor: number;
  /** Bytes held now, every request together (the reserve's included). */
  held = 0;
  /** Of `held`, the bytes taken from the reserve. */
  reserved = 0;
  /** By holder: the one answer each may hold past its share (RequestHold.overdraw). */
  readonly #overdrawn = new Map<Holder, RequestHold>();
  /** By tenant: only tenants that hold something (a tenant leaves when its last byte is given back). */
  readonly #tenants = new Map<string, number>();
  #unauthenticated = 0;
  /** A refusal told (counted, logged): the error its request is answered with. */
  readonly #onRefused: (r: Refused) => Error;

  constructor(
    max: number,
    onRefused: (r: Refused) => Error = (r) => new Error(`over the request budget (${r.reason})`),
    floor = 0,
  ) {
    this.max = max;
    this.#onRefused = onRefused;
    this.floor = floor;
  }

  /** What one holder's requests may hold together: half of the budget. */
  get share(): number {
    return Math.floor(this.max / 2);
  }

  /** What tenants under the floor may hold beyond `max`, together: see `requestReserve`. */
  get reserve(): number {
    return requestReserve(this.max, this.floor);
  }

  heldBy(holder: Holder): number {
    return holder === null ? this.#unauthenticated : (this.#tenants.get(holder) ?? 0);
  }

  /** Why `bytes` more for `holder` would not fit now (its share first, then the whole); undefined when they fit. */
  over(holder: Holder, bytes: number): RequestRefusal | undefined {
    const fromReserve = this.#place(holder, bytes);
    return typeof fromReserve === 'number' ? undefined : fromReserve;
  }

  /**
   * How many of `bytes` more for `holder` would come from the reserve (0: all fit within `max`), or
   * why they do not fit: over the holder's half; over the whole, for a holder that would then hold
   * more than the floor (or has none), or when the reserve has no room for what the whole has not.
   */
  #place(holder: Holder, bytes: number): number | RequestRefusal {
    const mine = this.heldBy(holder) + bytes;
    if (mine > this.share) return holder === null ? 'unauthenticated' : 'tenant';
    // Room left within `max`: less than nothing after a reload made it smaller than what is held.
    const room = this.max - (this.held - this.reserved);
    if (bytes <= room) return 0;
    if (holder === null || mine > this.floor) return 'total';
    const fromReserve = room > 0 ? bytes - room : bytes;
    return this.reserved + fromReserve > this.reserve ? 'total' : fromReserve;
  }

  /**
   * Takes `bytes` for `holder` if they fit: what `max` has room for from it, the rest from the
   * reserve. Returns how many came from the reserve (to give back there), or, when they do not fit,
   * nothing is taken and the reason is returned.
   */
  take(holder: Holder, bytes: number): number | RequestRefusal {
    const fromReserve = this.#place(holder, bytes);
    if (typeof fromReserve === 'number') this.#add(holder, bytes, fromReserve);
    return fromReserve;
  }

  /**
   * Takes `bytes` for `holder` past every bound, for `hold` only if no other hold of the holder's is
   * past them now: one answer of each holder's may go out whatever its size (see RequestHold.overdraw).
   */
  overdraw(holder: Holder, bytes: number, hold: RequestHold): boolean {
    const other = this.#overdrawn.get(holder);
    if (other && other !== hold) return false;
    this.#overdrawn.set(holder, hold);
    this.#add(holder, bytes, 0);
    return true;
  }

  /** `hold` is no longer past the bounds (its bytes were given back). */
  endOverdraw(holder: Holder, hold: RequestHold): void {
    if (this.#overdrawn.get(holder) === hold) this.#overdrawn.delete(holder);
  }

  /** Gives back `bytes` of `holder`'s, `fromReserve` of them to the reserve (as `take` told). */
  give(holder: Holder, bytes: number, fromReserve = 0): void {
    this.#add(holder, -bytes, -fromReserve);
  }

  #add(holder: Holder, bytes: number, fromReserve: number): void {
    this.held += bytes;
    this.reserved += fromReserve;
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

  /** The refusal of a request of `holder`'s (or of the rest of its answer): told once, and the error to answer it with. */
  refused(holder: Holder, reason: RequestRefusal, what: Refused['what'] = 'request'): Error {
    return this.#onRefused({
      what,
      reason,
      holder,
      holderBytes: this.heldBy(holder),
      shareBytes: this.share,
      heldBytes: this.held,
      budgetBytes: this.max,
      reserveHeldBytes: this.reserved,
      reserveBytes: this.reserve,
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
  /** Of `#taken`, the bytes that came from the reserve (given back there). */
  #reserved = 0;
  #released = false;
  /** Its answer took bytes past the bounds (overdraw): the holder may overdraw again once they are back. */
  #overdrew = false;
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

  /** Takes what a chunk adds (partly from the reserve, maybe); false (nothing taken) when it does not fit. */
  take(bytes: number): boolean {
    const fromReserve = this.#released ? 'total' : this.#budget.take(this.#holder, bytes);
    if (typeof fromReserve !== 'number') {
      this.#why = fromReserve;
      return false;
    }
    this.#taken += bytes;
    this.#reserved += fromReserve;
    return true;
  }

  /** The request is refused for what did not fit: counted and logged, and the error it is answered with. */
  refused(): Error {
    return this.#budget.refused(this.#holder, this.#why);
  }

  /** Its answer is cut off for what did not fit of it (its client left it unread): counted and logged. */
  cutOff(): void {
    this.#budget.refused(this.#holder, this.#why, 'answer');
  }

  /**
   * Takes `bytes` past the bounds for this request's answer, when no other answer of its holder's is
   * past them now: a large answer its client reads goes out whatever the budget holds, one per tenant
   * at a time (and only while its client reads it: src/listeners/responder.ts). False when another is.
   */
  overdraw(bytes: number): boolean {
    if (this.#released || !this.#budget.overdraw(this.#holder, bytes, this)) return false;
    this.#taken += bytes;
    this.#overdrew = true;
    return true;
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
    this.#budget.give(this.#holder, this.#taken, this.#reserved);
    if (this.#overdrew) this.#budget.endOverdraw(this.#holder, this);
    this.#taken = 0;
    this.#reserved = 0;
    this.#overdrew = false;
  }
}
