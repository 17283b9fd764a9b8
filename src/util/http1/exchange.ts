/**
 * One HTTP request and its answer over the gateway's HTTP client (./pool.ts) with handler callbacks: no
 * stream object per response, the body read by a small reader as its bytes arrive (text bounded at
 * 64 MiB, dropped after at most 128 KiB, or the caller's own, such as an SSE parser). Upstreams'
 * exchanges (src/upstream/http.ts, sse.ts) and the audit trail's HTTP sink go through here.
 */
import { AsyncResource } from 'node:async_hooks';
import type { ByteBudget } from '../byte-budget.ts';
import type { Cancel, OriginPool, RequestOptions, ResponseHandler, ResponseHeaders } from './pool.ts';

/** Largest body accepted as text. */
const MAX_BODY = 64 * 1024 * 1024;
/** A body read only to be dropped is read up to this (more closes the connection). */
const DROP_LIMIT = 128 * 1024;

export type { ResponseHeaders } from './pool.ts';

const UTF8 = new TextDecoder('utf-8', { fatal: true });
/** A body larger than MAX_BODY: refused, and not read past the bound. */
export const TOO_LARGE = Symbol('too large');
/** A body that is not UTF-8: refused, never decoded with U+FFFD and passed on. */
export const NOT_UTF8 = Symbol('not utf-8');
/** A body that did not fit in the budget of bytes held from upstreams: refused, and not read further. */
export const OVER_BUDGET = Symbol('over budget');

/** What reads one response body as it arrives, piece by piece (see exchange). */
export interface BodyReader<T> {
  /** Takes one chunk. May throw: the exchange is then aborted and rejects with the error. */
  data(chunk: Buffer): void;
  /** True once no more of the body is wanted: the connection is closed, the rest is never read. */
  readonly full: boolean;
  /** Errors after the status and headers (network, abort) end the body as its end would. */
  readonly lenient?: boolean;
  /** What the exchange resolves with once the body ended (or is full). Runs after the pool's callbacks. */
  end(): T;
  /** The exchange failed after this reader was made (network, abort, a throw): `end` never runs; give back what it holds. */
  release?(): void;
}

/** A declared Content-Length over `max` counts as that many bytes already, so that nothing is read. */
const declaredOver = (declared: string | string[] | undefined, max: number): number =>
  typeof declared === 'string' && Number(declared) > max ? Number.POSITIVE_INFINITY : 0;

/**
 * Reads a body as UTF-8 text for `then`: TOO_LARGE when it is larger than `max` (a declared length
 * over it: not read at all), OVER_BUDGET when a chunk does not fit in `budget` (a declared length
 * that does not fit: not read at all), NOT_UTF8 when it is not UTF-8. What it holds is taken from
 * `budget` chunk by chunk and given back when it ends, is refused or its exchange fails.
 */
export function textReader<T>(
  declared: string | string[] | undefined,
  then: (text: string | typeof TOO_LARGE | typeof NOT_UTF8 | typeof OVER_BUDGET) => T,
  max = MAX_BODY,
  budget?: ByteBudget,
): BodyReader<T> {
  return new TextReader(declared, then, max, budget);
}

/** One object per body (no closures): the JSON answer of every call is read by one. */
class TextReader<T> implements BodyReader<T> {
  readonly #then: (text: string | typeof TOO_LARGE | typeof NOT_UTF8 | typeof OVER_BUDGET) => T;
  readonly #max: number;
  readonly #budget: ByteBudget | undefined;
  #chunks: Buffer[] = [];
  #size: number;
  #over: boolean;
  /** Taken from the budget. */
  #held = 0;

  constructor(
    declared: string | string[] | undefined,
    then: (text: string | typeof TOO_LARGE | typeof NOT_UTF8 | typeof OVER_BUDGET) => T,
    max: number,
    budget: ByteBudget | undefined,
  ) {
    this.#then = then;
    this.#max = max;
    this.#budget = budget;
    this.#size = declaredOver(declared, max);
    this.#over =
      this.#size === 0 && budget !== undefined && typeof declared === 'string' && !budget.fits(Number(declared));
  }

  data(chunk: Buffer): void {
    this.#size += chunk.length;
    if (this.#size <= this.#max && !this.#over && (!this.#budget || this.#budget.take(chunk.length))) {
      if (this.#budget) this.#held += chunk.length;
      this.#chunks.push(chunk);
      return;
    }
    if (this.#size <= this.#max) this.#over = true; // the chunk did not fit in the budget
    this.release();
  }

  get full(): boolean {
    return this.#size > this.#max || this.#over;
  }

  end(): T {
    try {
      if (this.#size > this.#max) return this.#then(TOO_LARGE);
      if (this.#over) return this.#then(OVER_BUDGET);
      const chunks = this.#chunks;
      let text: string;
      try {
        text = UTF8.decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.#size));
      } catch {
        return this.#then(NOT_UTF8);
      }
      return this.#then(text);
    } finally {
      this.release();
    }
  }

  release(): void {
    this.#budget?.give(this.#held);
    this.#held = 0;
    this.#chunks.length = 0;
  }
}

/** Reads a body only to drop it: DROP_LIMIT at most, errors ignored. */
export function dropReader<T>(declared: string | string[] | undefined, end: () => T): BodyReader<T> {
  let size = declaredOver(declared, DROP_LIMIT);
  return {
    lenient: true,
    data(chunk) {
      size += chunk.length;
    },
    get full() {
      return size > DROP_LIMIT;
    },
    end,
  };
}

export type Head<T> = (status: number, headers: ResponseHeaders) => BodyReader<T>;

/**
 * One request/response exchange over `pool`. `head` gets the final status and headers and returns
 * the body's reader; the promise resolves with the reader's `end()`. It rejects on a network error,
 * on a request the pool refuses to send, on `signal` (whether the request is still waiting, its head
 * pending or its body arriving), and on an exception thrown by `head` or the reader, which cancels
 * the exchange (its connection is closed). Callbacks run in the caller's async context, as code
 * after an `await` would: a message met on a stream is handled in the trace of the call that opened it.
 */
export function exchange<T>(
  pool: OriginPool,
  req: RequestOptions,
  signal: AbortSignal | undefined,
  head: Head<T>,
): Promise<T> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<BodyReader<T>>((resolve, reject) => {
    new ExchangeHandler(head, resolve, reject, signal).send(pool, req);
  }).then((reader) => reader.end());
}

class ExchangeHandler<T> extends AsyncResource implements ResponseHandler {
  readonly #head: Head<T>;
  readonly #resolve: (reader: BodyReader<T>) => void;
  readonly #reject: (err: unknown) => void;
  readonly #signal: AbortSignal | undefined;
  #cancel: Cancel | undefined;
  #reader: BodyReader<T> | undefined;
  #done = false;

  constructor(
    head: Head<T>,
    resolve: (reader: BodyReader<T>) => void,
    reject: (err: unknown) => void,
    signal: AbortSignal | undefined,
  ) {
    super('gatehouse.upstream-exchange');
    this.#head = head;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#signal = signal;
  }

  send(pool: OriginPool, req: RequestOptions): void {
    this.#cancel = pool.dispatch(req, this); // throws (nothing sent) on a request it refuses
    this.#signal?.addEventListener('abort', this.#onAbort);
  }

  head(status: number, headers: ResponseHeaders): void {
    try {
      this.#reader = this.runInAsyncScope(this.#head, undefined, status, headers);
    } catch (err) {
      this.#settle(undefined, err);
      return;
    }
    if (this.#reader.full) this.#settle(this.#reader);
  }

  data(chunk: Buffer): void {
    const reader = this.#reader;
    if (this.#done || !reader) return;
    try {
      this.runInAsyncScope(reader.data, reader, chunk);
    } catch (err) {
      this.#settle(undefined, err);
      return;
    }
    if (reader.full) this.#settle(reader);
  }

  end(): void {
    if (!this.#done && this.#reader) this.#settle(this.#reader, undefined, false);
  }

  error(err: Error): void {
    if (this.#done) return;
    if (this.#reader?.lenient) this.#settle(this.#reader, undefined, false);
    else this.#settle(undefined, err, false);
  }

  readonly #onAbort = (): void => {
    if (!this.#done) this.#settle(undefined, this.#signal?.reason);
  };

  /**
   * Ends the exchange with its reader or an error. Before its response ended (`cancel`: the reader
   * wants no more, it threw, or the signal fired) the pool stops it: its connection is closed, the
   * rest is never read.
   */
  #settle(reader: BodyReader<T> | undefined, err?: unknown, cancel = true): void {
    this.#done = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    if (cancel) this.#cancel?.();
    if (reader) this.#resolve(reader);
    else {
      this.#reader?.release?.(); // its end() will never run: what it holds is given back here
      this.#reject(err);
    }
  }
}
