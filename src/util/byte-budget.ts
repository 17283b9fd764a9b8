/**
 * The bytes a gateway holds from its upstreams before it has parsed them: JSON bodies being read,
 * SSE events being accumulated, stdio lines not yet ended. One budget for every upstream channel of
 * the gateway (one gateway per process): each message may be large (a server's `messages.maxBytes`),
 * but what all of them hold together is bounded, so a hostile or broken server cannot make the
 * gateway buffer gigabytes across its connections. A reader takes what each chunk adds and gives it
 * back when its message is parsed, refused, aborted or its connection closed; a message whose chunk
 * does not fit is refused. Each server's connections hold at most half of it (`share`), so one
 * server cannot starve the others' answers. A few additions and comparisons per chunk: no
 * allocation, no timer.
 */

export const DEFAULT_UPSTREAM_BUFFER_BYTES = 256 * 1024 * 1024;

/** Why a log line says a message was refused over the budget. */
export const OVER_BUDGET_WHY =
  'over the budget of unparsed upstream bytes (this server holds half of it, or all servers all of it)';

/** Why an upstream's message was refused: its server's size bound, the shared budget, or a notification over its bound. */
export type RefusalReason = 'too_large' | 'budget' | 'notification';

export class ByteBudget {
  /** At most this many bytes held at once (changed by a config reload; a server's share follows the budget's). */
  max: number;
  /** Bytes held now. */
  held = 0;
  /** Called for every message refused or dropped unparsed (metrics). */
  readonly #onRefused: (reason: RefusalReason) => void;
  readonly #parent: ByteBudget | undefined;
  readonly #shares = new Map<string, ByteBudget>();

  constructor(
    max = DEFAULT_UPSTREAM_BUFFER_BYTES,
    onRefused: (reason: RefusalReason) => void = () => {},
    parent?: ByteBudget,
  ) {
    this.max = max;
    this.#onRefused = onRefused;
    this.#parent = parent;
  }

  /**
   * The part of this budget one server's connections may hold together: half of it, so that one
   * server (whatever its tenants, its connections) can never take what every other server needs.
   * The same object for the same name; what it takes is taken from this budget too.
   */
  share(server: string): ByteBudget {
    let s = this.#shares.get(server);
    if (!s) {
      s = new ByteBudget(0, this.#onRefused, this);
      this.#shares.set(server, s);
    }
    return s;
  }

  #limit(): number {
    return this.#parent ? Math.floor(this.#parent.max / 2) : this.max;
  }

  /** Takes `bytes` if they fit (in the server's share and in the whole); false (nothing taken) if they would go over. */
  take(bytes: number): boolean {
    if (this.held + bytes > this.#limit()) return false;
    if (this.#parent && !this.#parent.take(bytes)) return false;
    this.held += bytes;
    return true;
  }

  give(bytes: number): void {
    this.held -= bytes;
    this.#parent?.give(bytes);
  }

  /** Whether `bytes` more would fit now (a declared Content-Length, before anything is read). */
  fits(bytes: number): boolean {
    return this.held + bytes <= this.#limit() && (!this.#parent || this.#parent.fits(bytes));
  }

  /** Held by every server together, and the bound on that (for log lines). */
  get total(): { held: number; max: number } {
    const root = this.#parent ?? this;
    return { held: root.held, max: root.max };
  }

  refused(reason: RefusalReason): void {
    this.#onRefused(reason);
  }

  /**
   * A refused message counted (`refused`), and the fields its log line carries: what this server's
   * connections and all of them held against the budget, or the message bound it broke.
   */
  refusal(overBudget: boolean, maxBytes: number): Record<string, number> {
    this.refused(overBudget ? 'budget' : 'too_large');
    return overBudget
      ? { serverHeldBytes: this.held, heldBytes: this.total.held, budgetBytes: this.total.max }
      : { maxBytes };
  }
}
