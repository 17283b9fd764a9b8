/**
 * Who may be in flight together on a channel that cannot say which request a server->client request
 * belongs to (stdio, legacy HTTP+SSE). A call whose caller can be asked questions (sampling,
 * elicitation, roots) runs alone; calls whose callers cannot be asked run together, but never beside
 * one that can. So when the server asks something, either exactly one call could have caused it and
 * its caller can answer, or no caller in flight can answer: a question never reaches the wrong caller.
 * First come, first served: a waiting asker holds back later calls, so it is never starved.
 */
import { GatehouseError } from '../protocol/errors.ts';

interface Waiter {
  asker: boolean;
  go(): void;
}

export class AskLane {
  #running = 0;
  #askerRunning = false;
  readonly #queue: Waiter[] = [];

  /** Calls running now (for tests and diagnostics). */
  get running(): number {
    return this.#running;
  }

  /** Run `fn` in its turn; waiting ends with E_CANCELLED on abort, or E_UPSTREAM_TIMEOUT after `maxWaitMs`. */
  async run<T>(asker: boolean, fn: () => Promise<T>, opts: { signal?: AbortSignal; maxWaitMs: number }): Promise<T> {
    await this.#enter(asker, opts);
    try {
      return await fn();
    } finally {
      this.#running--;
      if (asker) this.#askerRunning = false;
      this.#drain();
    }
  }

  #admits(asker: boolean): boolean {
    return asker ? this.#running === 0 : !this.#askerRunning;
  }

  #enter(asker: boolean, opts: { signal?: AbortSignal; maxWaitMs: number }): Promise<void> {
    if (opts.signal?.aborted) return Promise.reject(new GatehouseError('E_CANCELLED'));
    if (!this.#queue.length && this.#admits(asker)) {
      this.#admit(asker);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const leave = (err: Error) => {
        const i = this.#queue.indexOf(w);
        if (i < 0) return;
        this.#queue.splice(i, 1);
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        reject(err);
        this.#drain();
      };
      const onAbort = () => leave(new GatehouseError('E_CANCELLED'));
      const timer = setTimeout(
        () =>
          leave(
            new GatehouseError(
              'E_UPSTREAM_TIMEOUT',
              `waited ${opts.maxWaitMs} ms for the calls ahead on this connection`,
            ),
          ),
        opts.maxWaitMs,
      );
      const w: Waiter = {
        asker,
        go: () => {
          clearTimeout(timer);
          opts.signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(w);
    });
  }

  #admit(asker: boolean): void {
    this.#running++;
    if (asker) this.#askerRunning = true;
  }

  #drain(): void {
    while (this.#queue.length) {
      const w = this.#queue[0];
      if (!this.#admits(w.asker)) return;
      this.#queue.shift();
      this.#admit(w.asker);
      w.go();
    }
  }
}
