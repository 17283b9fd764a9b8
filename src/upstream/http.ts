/**
 * A Streamable HTTP upstream channel, either era, over one keep-alive undici Agent (the hot path:
 * no SDK client, no per-call setup). The era of each message is read off the message itself: one
 * with the 2026-07-28 `_meta` goes out with MCP-Protocol-Version, Mcp-Method and Mcp-Name; legacy
 * messages carry the session id and version that `initialize` negotiated. Everything received on a
 * request's response (JSON or SSE) is delivered as related to that request. Broken answers (HTML
 * error pages, truncated JSON, oversize bodies) become a JSON-RPC error for that request only.
 */
import { Agent, request } from 'undici';
import type { Logger } from '../observability/logger.ts';
import { declaredVersion } from '../protocol/era.ts';
import type { JsonObject, JsonRpcMessage, RequestId } from '../protocol/jsonrpc.ts';
import { readSse } from './sse-reader.ts';
import type { Channel } from './types.ts';

const MAX_BODY = 64 * 1024 * 1024;
const NAME_FIELD: Record<string, string> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' };

/** Header-safe value, or the `=?base64?…?=` sentinel form. */
export function encodeHeaderValue(v: string): string {
  const plain = /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(v) && !(v.startsWith('=?base64?') && v.endsWith('?='));
  return plain ? v : `=?base64?${Buffer.from(v, 'utf8').toString('base64')}?=`;
}

type Receiver = Parameters<Channel['setReceiver']>[0];

export class StreamableHttpChannel implements Channel {
  readonly description: string;
  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #agent = new Agent({ keepAliveTimeout: 30_000, connections: 128, pipelining: 1 });
  readonly #log: Logger;
  readonly #modern = new Map<RequestId, AbortController>();
  #receiver: Receiver | undefined;
  #sessionId: string | undefined;
  #version: string | undefined;
  #getStream: AbortController | undefined;
  #closed = false;

  constructor(name: string, opts: { url: string; headers?: Record<string, string> }, log: Logger) {
    this.description = `http:${name}`;
    this.#url = opts.url;
    this.#headers = opts.headers ?? {};
    this.#log = log;
  }

  setReceiver(r: Receiver): void {
    this.#receiver = r;
  }

  cancel(id: RequestId): boolean {
    const ac = this.#modern.get(id);
    if (!ac) return false;
    ac.abort();
    return true;
  }

  async send(msg: JsonRpcMessage, signal?: AbortSignal, extraHeaders?: Record<string, string>): Promise<void> {
    if (this.#closed) throw new Error('channel closed');
    const isRequest = 'method' in msg && 'id' in msg;
    const id = isRequest ? (msg as { id: RequestId }).id : undefined;
    const headers: Record<string, string> = {
      ...this.#headers,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    };
    const params = 'params' in msg ? (msg.params as JsonObject | undefined) : undefined;
    const modern = 'method' in msg ? declaredVersion(params) : undefined;
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (modern) {
      headers['mcp-protocol-version'] = modern;
      headers['mcp-method'] = (msg as { method: string }).method;
      const field = NAME_FIELD[(msg as { method: string }).method];
      const name = field ? params?.[field] : undefined;
      if (typeof name === 'string') headers['mcp-name'] = encodeHeaderValue(name);
      if (extraHeaders) for (const [k, v] of Object.entries(extraHeaders)) headers[k] = encodeHeaderValue(v);
      if (id !== undefined) this.#modern.set(id, ac);
    } else {
      if (this.#sessionId) headers['mcp-session-id'] = this.#sessionId;
      if (this.#version) headers['mcp-protocol-version'] = this.#version;
    }
    try {
      const res = await request(this.#url, { method: 'POST', headers, body: JSON.stringify(msg), dispatcher: this.#agent, signal: ac.signal });
      const method = 'method' in msg ? msg.method : undefined;
      if (method === 'initialize') {
        const sid = res.headers['mcp-session-id'];
        if (typeof sid === 'string') this.#sessionId = sid;
      }
      if (res.statusCode === 202 || res.statusCode === 204) {
        await res.body.dump();
        if (method === 'notifications/initialized' && !modern) this.#openGetStream();
        return;
      }
      if (!modern && this.#sessionId && res.statusCode === 404) {
        await res.body.dump();
        this.#receiver?.closed(new Error('upstream session expired'));
        return;
      }
      if (id === undefined) return void (await res.body.dump());
      const ctype = String(res.headers['content-type'] ?? '');
      let answered = false;
      const deliver = (m: unknown) => {
        if (m && typeof m === 'object' && 'id' in m && (m as { id: unknown }).id === id && !('method' in m)) {
          answered = true;
          if (method === 'initialize') this.#captureVersion(m);
        }
        this.#receiver?.message(m, id);
      };
      if (res.statusCode < 400 && ctype.includes('text/event-stream')) {
        for await (const ev of readSse(res.body, MAX_BODY)) {
          if (ev.event !== 'message') continue;
          try {
            deliver(JSON.parse(ev.data));
          } catch {
            this.#log.warn({ upstream: this.description }, 'dropped malformed sse event from upstream');
          }
        }
        if (!answered) this.#synth(id, 'upstream closed the stream without a response');
        return;
      }
      const text = await readBounded(res.body);
      let parsed: unknown;
      try {
        parsed = text === undefined ? undefined : JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      const isRpcAnswer = parsed && typeof parsed === 'object' && (parsed as { id?: unknown }).id === id && ('result' in parsed || 'error' in parsed);
      if (isRpcAnswer && (res.statusCode < 400 || 'error' in (parsed as object))) return deliver(parsed);
      if (res.statusCode >= 400) return this.#synth(id, `upstream http ${res.statusCode}`, { httpStatus: res.statusCode });
      this.#synth(id, 'upstream sent an invalid response');
    } catch (err) {
      if (ac.signal.aborted) return; // cancelled: the peer already settled the request
      if (id !== undefined && err instanceof Error && err.message === 'response too large') return this.#synth(id, 'upstream response too large');
      if (id !== undefined && err instanceof Error && /sse/.test(err.message)) return this.#synth(id, 'upstream sent an invalid response');
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (id !== undefined) this.#modern.delete(id);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#getStream?.abort();
    for (const ac of this.#modern.values()) ac.abort();
    if (this.#sessionId) {
      await request(this.#url, {
        method: 'DELETE',
        headers: { ...this.#headers, 'mcp-session-id': this.#sessionId, ...(this.#version ? { 'mcp-protocol-version': this.#version } : {}) },
        dispatcher: this.#agent,
        signal: AbortSignal.timeout(2000),
      }).then((r) => r.body.dump(), () => {});
    }
    await this.#agent.close().catch(() => {});
  }

  #captureVersion(m: unknown): void {
    const v = (m as { result?: { protocolVersion?: unknown } }).result?.protocolVersion;
    if (typeof v === 'string') this.#version = v;
  }

  #synth(id: RequestId, message: string, data?: JsonObject): void {
    this.#receiver?.message({ jsonrpc: '2.0', id, error: { code: -32603, message, ...(data ? { data } : {}) } }, id);
  }

  /** Legacy: the standalone GET stream for server-initiated messages; reconnects with backoff. */
  #openGetStream(): void {
    if (this.#getStream || !this.#sessionId) return;
    const ac = new AbortController();
    this.#getStream = ac;
    let delay = 500;
    const loop = async () => {
      while (!this.#closed && !ac.signal.aborted) {
        try {
          const headers: Record<string, string> = { ...this.#headers, accept: 'text/event-stream', 'mcp-session-id': this.#sessionId! };
          if (this.#version) headers['mcp-protocol-version'] = this.#version;
          const res = await request(this.#url, { method: 'GET', headers, dispatcher: this.#agent, signal: ac.signal, bodyTimeout: 0 });
          if (res.statusCode === 405 || res.statusCode === 404 || res.statusCode >= 400) {
            await res.body.dump();
            return; // no GET stream offered (or session gone: the next POST will say so)
          }
          delay = 500;
          for await (const ev of readSse(res.body)) {
            if (ev.event !== 'message') continue;
            try {
              this.#receiver?.message(JSON.parse(ev.data));
            } catch {
              /* malformed event: dropped */
            }
          }
        } catch {
          if (ac.signal.aborted) return;
        }
        await new Promise((r) => setTimeout(r, delay).unref());
        delay = Math.min(delay * 2, 30_000);
      }
    };
    void loop();
  }
}

async function readBounded(body: AsyncIterable<Uint8Array> & { destroy?: () => void }): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    size += c.length;
    if (size > MAX_BODY) {
      body.destroy?.();
      throw new Error('response too large');
    }
    chunks.push(Buffer.from(c));
  }
  return Buffer.concat(chunks).toString('utf8');
}
