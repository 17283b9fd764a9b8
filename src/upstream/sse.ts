/**
 * A legacy HTTP+SSE upstream channel (protocol 2024-11-05, deprecated but still deployed): a GET
 * opens the event stream, whose first `endpoint` event names where to POST messages (resolved
 * against the stream's URL, refused on another origin). Every answer arrives on that one stream, so
 * the peer correlates by id alone. `ready()`, or the first `send`, connects within a time limit. If
 * the stream drops, the channel closes and the pool reconnects.
 */
import type { Pool } from 'undici';
import { undiciPool } from './undici-pool.ts';

import type { Logger } from '../observability/logger.ts';
import type { JsonRpcMessage } from '../protocol/jsonrpc.ts';
import { mediaType } from './http.ts';
import { readSse } from './sse-reader.ts';
import type { Channel } from './types.ts';

const CONNECT_TIMEOUT_MS = 10_000;
const POST_TIMEOUT_MS = 30_000;

type Receiver = Parameters<Channel['setReceiver']>[0];

export class LegacySseChannel implements Channel {
  readonly description: string;
  readonly #url: URL;
  readonly #pool: Pool;
  readonly #headers: Record<string, string> = {};
  readonly #log: Logger;
  readonly #connectMs: number;
  readonly #stop = new AbortController();
  #receiver: Receiver | undefined;
  /** The path (and query) to POST to, once the endpoint event has named it. */
  #endpoint: Promise<string> | undefined;
  #closed = false;

  constructor(
    name: string,
    opts: { url: string; headers?: Record<string, string>; connectTimeoutMs?: number },
    log: Logger,
  ) {
    this.description = `sse:${name}`;
    this.#url = new URL(opts.url);
    this.#pool = new (undiciPool())(this.#url.origin, { connections: 64, keepAliveTimeout: 30_000 });
    for (const [k, v] of Object.entries(opts.headers ?? {})) this.#headers[k.toLowerCase()] = v;
    this.#connectMs = opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
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
    const res = await this.#pool.request({
      path,
      method: 'POST',
      headers: { ...this.#headers, 'content-type': 'application/json' },
      body: JSON.stringify(msg),
      signal,
      headersTimeout: POST_TIMEOUT_MS,
      bodyTimeout: POST_TIMEOUT_MS,
    });
    await res.body.dump();
    const status = res.statusCode;
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
      const run = async () => {
        const res = await this.#pool.request({
          path: `${this.#url.pathname}${this.#url.search}`,
          method: 'GET',
          headers: { ...this.#headers, accept: 'text/event-stream' },
          signal: this.#stop.signal,
          headersTimeout: this.#connectMs,
          bodyTimeout: 0,
        });
        if (res.statusCode !== 200 || mediaType(res.headers['content-type']) !== 'text/event-stream') {
          await res.body.dump();
          throw new Error(`upstream sse stream answered http ${res.statusCode}`);
        }
        let named = false;
        for await (const ev of readSse(res.body)) {
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
        throw new Error('upstream sse stream ended');
      };
      run().catch((err: Error) => fail(this.#closed ? new Error('channel closed') : err));
    });
  }

  #deliver(data: string): void {
    let m: unknown;
    try {
      m = JSON.parse(data);
    } catch {
      return void this.#log.warn({ upstream: this.description }, 'dropped a malformed sse event from upstream');
    }
    this.#receiver?.message(m);
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
