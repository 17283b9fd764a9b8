/**
 * A legacy HTTP+SSE upstream channel (protocol 2024-11-05, deprecated but still deployed): a GET
 * opens the event stream, whose first `endpoint` event names the URL to POST messages to (it must
 * be on the same origin); every answer arrives on the stream. If the stream drops, the channel is
 * closed and the pool reconnects.
 */
import { Agent, request } from 'undici';
import type { Logger } from '../observability/logger.ts';
import type { JsonRpcMessage } from '../protocol/jsonrpc.ts';
import { readSse } from './sse-reader.ts';
import type { Channel } from './types.ts';

type Receiver = Parameters<Channel['setReceiver']>[0];

export class LegacySseChannel implements Channel {
  readonly description: string;
  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #agent = new Agent({ keepAliveTimeout: 30_000, connections: 32 });
  readonly #log: Logger;
  readonly #stream = new AbortController();
  #receiver: Receiver | undefined;
  #endpoint: Promise<string> | undefined;
  #closed = false;

  constructor(name: string, opts: { url: string; headers?: Record<string, string> }, log: Logger) {
    this.description = `sse:${name}`;
    this.#url = opts.url;
    this.#headers = opts.headers ?? {};
    this.#log = log;
  }

  setReceiver(r: Receiver): void {
    this.#receiver = r;
  }

  async send(msg: JsonRpcMessage, signal?: AbortSignal): Promise<void> {
    if (this.#closed) throw new Error('channel closed');
    const endpoint = await this.#connect();
    const res = await request(endpoint, {
      method: 'POST',
      headers: { ...this.#headers, 'content-type': 'application/json' },
      body: JSON.stringify(msg),
      dispatcher: this.#agent,
      signal,
    });
    await res.body.dump();
    if (res.statusCode >= 400 && 'id' in msg && 'method' in msg) {
      this.#receiver?.message({ jsonrpc: '2.0', id: msg.id, error: { code: -32603, message: `upstream http ${res.statusCode}`, data: { httpStatus: res.statusCode } } });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stream.abort();
    await this.#agent.close().catch(() => {});
  }

  #connect(): Promise<string> {
    this.#endpoint ??= new Promise<string>((resolve, reject) => {
      const fail = (err: Error) => {
        reject(err);
        if (!this.#closed) {
          this.#closed = true;
          this.#receiver?.closed(err);
        }
      };
      (async () => {
        const res = await request(this.#url, {
          method: 'GET',
          headers: { ...this.#headers, accept: 'text/event-stream' },
          dispatcher: this.#agent,
          signal: this.#stream.signal,
          bodyTimeout: 0,
        });
        if (res.statusCode !== 200) {
          await res.body.dump();
          throw new Error(`upstream sse stream answered http ${res.statusCode}`);
        }
        let ready = false;
        for await (const ev of readSse(res.body)) {
          if (ev.event === 'endpoint' && !ready) {
            const target = new URL(ev.data.trim(), this.#url);
            if (target.origin !== new URL(this.#url).origin) throw new Error('upstream sse endpoint is on another origin');
            ready = true;
            resolve(target.toString());
            continue;
          }
          if (ev.event !== 'message') continue;
          try {
            this.#receiver?.message(JSON.parse(ev.data));
          } catch {
            this.#log.warn({ upstream: this.description }, 'dropped malformed sse event from upstream');
          }
        }
        throw new Error('upstream sse stream ended');
      })().catch((err: Error) => fail(this.#stream.signal.aborted ? new Error('closed') : err));
    });
    return this.#endpoint;
  }
}
