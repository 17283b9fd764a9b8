/**
 * What the gateway says of the methods it refused from a server (src/protocol/upstream-methods.ts):
 * every one is counted, and each server's each method is logged once, at warn. A hostile server can
 * make up methods as fast as it likes, so the log is bounded twice: at most `perServer` lines a
 * window per server (the first after a quiet window says how many were left out), and the methods
 * remembered as told are at most `remembered` (the oldest forgotten: told again, within the budget).
 */
import { LogBudget } from '../util/log-budget.ts';

export type RefusedKind = 'request' | 'notification';

export class RefusedMethods {
  /** `server\0kind\0method` already logged, oldest first. */
  readonly #told = new Set<string>();
  readonly #budgets = new Map<string, LogBudget>();
  readonly #remembered: number;
  readonly #perServer: number;
  readonly #windowMs: number;

  constructor(opts: { remembered?: number; perServer?: number; windowMs?: number } = {}) {
    this.#remembered = opts.remembered ?? 1024;
    this.#perServer = opts.perServer ?? 5;
    this.#windowMs = opts.windowMs ?? 60_000;
  }

  /** `server` sent `method` as a `kind`, refused: `log` is called when it is to be logged. */
  refused(
    server: string,
    kind: RefusedKind,
    method: string,
    now: number,
    log: (suppressedBefore: number) => void,
  ): void {
    const key = `${server}\0${kind}\0${method}`;
    if (this.#told.has(key)) return;
    let budget = this.#budgets.get(server);
    if (!budget) {
      budget = new LogBudget(this.#perServer, this.#windowMs);
      this.#budgets.set(server, budget);
    }
    budget.line(now, (n) => {
      this.#told.add(key);
      if (this.#told.size > this.#remembered) this.#told.delete(this.#told.values().next().value as string);
      log(n);
    });
  }

  /** A server removed: what it was told goes with it. */
  forget(server: string): void {
    this.#budgets.delete(server);
    for (const key of this.#told) if (key.startsWith(`${server}\0`)) this.#told.delete(key);
  }
}
