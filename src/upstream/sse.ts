/**
 * A legacy HTTP+SSE upstream channel (protocol 2024-11-05, deprecated but still deployed): a GET
 * opens the event stream, whose first `endpoint` event names where to POST messages (resolved
 * against the stream's URL, refused on another origin). Every answer arrives on that one stream, so
 * the peer correlates by id alone. `ready()`, or the first `send`, connects within a time limit. If
 * the stream drops, the channel closes and the pool reconnects. Every message arrives on that stream,
 * answers included: an event over the server's `messages.maxBytes`, or that does not fit in the
 * gateway's budget of bytes held from upstreams, closes it (its requests fail) as a stream that drops.
 * A notification larger than `messages.maxNotificationBytes` is dropped once read, counted and
 * logged, as the Streamable HTTP channel drops one on its notification streams (here one stream
 * carries everything, so an event's kind is known only once it is parsed); a request of the server's
 * may belong to a call, and is bounded by `messages.maxBytes` like an answer.
 */
import { parseUpstreamJson } from '../protocol/exact-numbers.ts';
import { OriginPool } from '../util/http1/pool.ts';
import { type BodyReader, dropReader, exchange } from '../util/http1/exchange.ts';

import type { Logger } from '../observability/logger.ts';
import { classify, type JsonRpcMessage } from '../protocol/jsonrpc.ts';
import { mediaType } from './http-wire.ts';
import {
  DEFAULT_MAX_EVENT_BYTES,
  DEFAULT_MAX_NOTIFICATION_BYTES,
  type SseEvent,
  SseParser,
  SseTooLargeError,
} from './sse-reader.ts';
import { LogBudget } from '../util/log-budget.ts';
import { ByteBudget } from '../util/byte-budget.ts';
import type { Channel } from './types.ts';

const CONNECT_TIMEOUT_MS = 10_000;
const POST_TIMEOUT_MS = 30_000;

type Receiver = Parameters<Channel['setReceiver']>[0];

export class LegacySseChannel implements Channel {
  readonly description: string;
  readonly #url: URL;
  readonly #pool: OriginPool;
  readonly #headers: Record<string, string> = {};
  readonly #log: Logger;
  readonly #connectMs: number;
  readonly #stop = new AbortController();
  readonly #maxMessage: number;
  readonly #maxNotification: number;
  readonly #budget: ByteBudget;
  /** What this server's oversized notifications make the gateway log. */
  readonly #noisy = new LogBudget();
  #receiver: Receiver | undefined;
  /** The path (and query) to POST to, once the endpoint event has named it. */
  #endpoint: Promise<string> | undefined;
  #closed = false;

  constructor(
    name: string,
    opts: {
      url: string;
      headers?: Record<string, string>;
      connectTimeoutMs?: number;
      maxMessageBytes?: number;
      maxNotificationBytes?: number;
      budget?: ByteBudget;
    },
    log: Logger,
  ) {
    this.description = `sse:${name}`;
    this.#url = new URL(opts.url);
    this.#pool = new OriginPool(this.#url.origin, { connections: 64, keepAliveMs: 30_000 });
    for (const [k, v] of Object.entries(opts.headers ?? {})) this.#headers[k.toLowerCase()] = v;
    this.#connectMs = opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    this.#maxMessage = opts.maxMessageBytes ?? DEFAULT_MAX_EVENT_BYTES;
    this.#maxNotification = Math.min(opts.maxNotificationBytes ?? DEFAULT_MAX_NOTIFICATION_BYTES, this.#maxMessage);
    this.#budget = opts.budget ?? new ByteBudget();
    this.#log = log;
  }

  setReceiver(r: Receiver): void {
    this.#receiver = r;
  }

  /** Opens the event stream and waits for its endpoint event. */
  async ready(): Promise<void> {
    await this.#connect();
  }

  async send(msg: JsonRpcMessage, signal?: AbortSignal): Promise<void> {
    if (this.#closed) throw new Error('channel closed');
    const path = await this.#connect();
    const status = await exchange(
      this.#pool,
      {
        path,
        method: 'POST',
        headers: { ...this.#headers, 'content-type': 'application/json' },
        body: JSON.stringify(msg),
        headersTimeout: POST_TIMEOUT_MS,
        bodyTimeout: POST_TIMEOUT_MS,
      },
      signal,
      (s, h) => dropReader(h['content-length'], () => s),
    );
    if (status < 300) return;
    if (status === 404) return this.#shutdown(new Error('upstream session expired'));
    if (!('method' in msg && 'id' in msg)) throw new Error(`upstream answered http ${status}`);
    const error = { code: -32603, message: `upstream http ${status}`, data: { httpStatus: status } };
    this.#receiver?.message({ jsonrpc: '2.0', id: msg.id, error }, msg.id);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop.abort();
    await this.#pool.destroy().catch(() => {});
  }

  #connect(): Promise<string> {
    if (!this.#endpoint) {
      this.#endpoint = this.#open();
      this.#endpoint.catch(() => {}); // callers see the rejection; this only marks it handled
    }
    return this.#endpoint;
  }

  #open(): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
        this.#shutdown(err);
      };
      const timer = setTimeout(
        () => fail(new Error(`upstream sse stream named no endpoint within ${this.#connectMs} ms`)),
        this.#connectMs,
      );
      const parser = new SseParser(this.#maxMessage, { budget: this.#budget });
      let named = false;
      const stream: BodyReader<true> = {
        data: (chunk) => {
          for (const ev of this.#events(parser, chunk)) {
            if (!named) {
              if (ev.event !== 'endpoint') continue; // the endpoint comes first; anything earlier has no session
              const target = new URL(ev.data.trim(), this.#url);
              if (target.origin !== this.#url.origin)
                throw new Error(`upstream sse endpoint \`${target.origin}\` is on another origin`);
              named = true;
              clearTimeout(timer);
              resolve(`${target.pathname}${target.search}`);
            } else if (ev.event === 'message' && ev.data !== '') this.#deliver(ev.data);
          }
        },
        full: false,
        end: () => {
          parser.end();
          return true;
        },
        release: () => parser.end(),
      };
      const run = async () => {
        let status = 0;
        const sse = await exchange(
          this.#pool,
          {
            path: `${this.#url.pathname}${this.#url.search}`,
            method: 'GET',
            headers: { ...this.#headers, accept: 'text/event-stream' },
            headersTimeout: this.#connectMs,
          },
          this.#stop.signal,
          (s, h) => {
            status = s;
            if (s === 200 && mediaType(h['content-type']) === 'text/event-stream') return stream;
            return dropReader(h['content-length'], () => false);
          },
        );
        if (!sse) throw new Error(`upstream sse stream answered http ${status}`);
        throw new Error('upstream sse stream ended');
      };
      run().catch((err: Error) => fail(this.#closed ? new Error('channel closed') : err));
    });
  }

  /** The events `chunk` completes; an event over a bound is counted and closes the stream (thrown). */
  #events(parser: SseParser, chunk: Buffer): SseEvent[] {
    try {
      return parser.push(chunk);
    } catch (err) {
      if (err instanceof SseTooLargeError) this.#budget.refused(err.overBudget ? 'budget' : 'too_large');
      throw err;
    }
  }

  #deliver(data: string): void {
    let m: unknown;
    try {
      m = parseUpstreamJson(data);
    } catch {
      return void this.#log.warn({ upstream: this.description }, 'dropped a malformed sse event from upstream');
    }
    // Its length in UTF-16 units is at most its bytes: only a string that long can be over the bound.
    // A request of the server's is not dropped (its call would wait for an answer until it timed out,
    // walk M): on this one stream it may belong to a call, where Streamable HTTP allows maxBytes too.
    if (
      data.length > this.#maxNotification / 3 &&
      classify(m).kind === 'notification' &&
      Buffer.byteLength(data) > this.#maxNotification
    ) {
      this.#dropped();
      return;
    }
    this.#receiver?.message(m);
  }

  /** A notification over `messages.maxNotificationBytes`: counted, logged (bounded). */
  #dropped(): void {
    this.#budget.refused('notification');
    this.#noisy.line(Date.now(), (n) =>
      this.#log.warn(
        { upstream: this.description, maxBytes: this.#maxNotification, ...(n ? { suppressed: n } : {}) },
        'dropped an oversized upstream notification',
      ),
    );
  }

  /** The stream is gone (or never came): close everything and tell the peer, once. */
  #shutdown(err: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop.abort();
    void this.#pool.destroy().catch(() => {});
    this.#log.warn({ upstream: this.description, err: err.message }, 'upstream sse stream closed');
    this.#receiver?.closed(err);
  }
}
