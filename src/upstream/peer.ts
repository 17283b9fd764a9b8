/**
 * JSON-RPC correlation over one upstream channel: ids, timeouts (inactivity reset by progress, plus a
 * hard maximum), cancellation, progress routing, and server->client requests routed to the request
 * that caused them. Malformed or unexpected upstream messages are dropped and logged, never thrown:
 * one broken upstream must not reach the wrong caller or crash the gateway. Every request and
 * notification is first looked up in the table of what a server may say
 * (src/protocol/upstream-methods.ts): one it does not name goes nowhere (a request is answered
 * -32601) and is reported (`onRefused`), and one it names goes where its row says.
 *
 * Which request caused a server->client request: the one whose response stream it arrived on (HTTP),
 * else the one whose progress token it carries in `_meta`, else the only call in flight. That last rule
 * is exact because, once the server has asked anything without saying for which call (always on
 * stdio and legacy HTTP+SSE; on Streamable HTTP when it asks on its GET stream, as the SDK's
 * `ctx.mcpReq.requestSampling` does), calls of callers that can be asked run one at a time
 * (ask-lane.ts). Otherwise the server gets an error that says why, and no caller is asked.
 */
import { cancelReasonOf } from '../protocol/cancel-reason.ts';
import { GatehouseError, quote, UpstreamRpcError } from '../protocol/errors.ts';
import {
  classify,
  type JsonObject,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type RequestId,
} from '../protocol/jsonrpc.ts';
import type { Logger } from '../observability/logger.ts';
import type { CallOptions, Channel, ServerRequestAnswer } from './types.ts';
import { AskLane } from './ask-lane.ts';
import { TransientMap } from '../util/transient-map.ts';
import { LogBudget } from '../util/log-budget.ts';
import { inexactIn, quoteNumber } from '../protocol/exact-numbers.ts';
import { hearerOf, upstreamNotification, upstreamRequest } from '../protocol/upstream-methods.ts';

const METHOD_NOT_FOUND = new GatehouseError('E_METHOD_NOT_FOUND');
/** What a server is told of a request the gateway does not take from servers. */
const refusedRequest = (method: string) =>
  `method not found: the gateway takes no ${quote(method)} request from a server (it relays none of it to a client)`;

/**
 * Answers whose altered numbers are let through: listings and the handshake, whose numbers are schema
 * bounds (int64 limits are common) and sizes, not names a caller acts on. Every other answer holding
 * a number JSON.parse altered is refused (../protocol/exact-numbers.ts).
 */
const LISTINGS = new Set(['initialize', 'tools/list', 'prompts/list', 'resources/list', 'resources/templates/list']);

interface Pending {
  id: number;
  method: string;
  opts: CallOptions;
  resolve(r: JsonObject): void;
  reject(e: Error): void;
  idle?: NodeJS.Timeout;
  hard?: NodeJS.Timeout;
  progressToken?: string | number;
  cleanup(): void;
}

/** A call in flight whose caller can be asked the server's requests. */
type AskingPending = Pending & { opts: Required<Pick<CallOptions, 'onServerRequest'>> };

const canAsk = (p: Pending | undefined): p is AskingPending => !!p?.opts.onServerRequest;

export class Peer {
  #nextId = 1;
  readonly #pending = new TransientMap<number, Pending>();
  readonly #byToken = new TransientMap<string | number, Pending>();
  readonly #channel: Channel;
  readonly #log: Logger;
  /** What this server's dropped messages and unattributable requests make the gateway log. */
  readonly #noisy = new LogBudget();
  #closed: Error | undefined;
  #onEvent: (n: JsonRpcNotification) => void = () => {};
  #onClose: (err?: Error) => void = () => {};
  /** A message whose method the table does not name was refused (a request) or dropped (a notification). */
  #onRefused: (kind: 'request' | 'notification', method: string) => void = () => {};
  readonly #lane = new AskLane();
  /** The server has asked something without saying for which call: from now on, calls of callers that can be asked run one at a time. */
  #asks = false;
  /** Server->client requests no call can be blamed for; `why` says why. */
  #onOrphanRequest: (r: JsonRpcRequest, why: string) => Promise<ServerRequestAnswer> = async (r, why) =>
    r.method === 'ping' ? { result: {} } : { error: { code: -32603, message: why } };

  constructor(channel: Channel, log: Logger) {
    this.#channel = channel;
    this.#log = log;
    channel.setReceiver({
      message: (m, relatedTo) => this.#receive(m, relatedTo),
      closed: (err) => this.#shutdown(err ?? new Error('channel closed')),
      failed: (id, err) => this.#failed(id, err),
    });
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }
  get inFlight(): number {
    return this.#pending.size;
  }
  onEvent(fn: (n: JsonRpcNotification) => void): void {
    this.#onEvent = fn;
  }
  onClose(fn: (err?: Error) => void): void {
    this.#onClose = fn;
  }
  onRefused(fn: (kind: 'request' | 'notification', method: string) => void): void {
    this.#onRefused = fn;
  }
  onOrphanRequest(fn: (r: JsonRpcRequest, why: string) => Promise<ServerRequestAnswer>): void {
    this.#onOrphanRequest = fn;
  }

  request(method: string, params: JsonObject | undefined, opts: CallOptions): Promise<JsonObject> {
    if (!opts.onServerRequest || !this.#asks) return this.#request(method, params, opts);
    const send = opts.beforeSend
      ? () => (opts.beforeSend as () => Promise<void>)().then(() => this.#request(method, params, opts))
      : () => this.#request(method, params, opts);
    return this.#lane.run(Boolean(opts.askable), send, {
      signal: opts.signal,
      maxWaitMs: opts.maxTotalMs,
    });
  }

  #request(method: string, params: JsonObject | undefined, opts: CallOptions): Promise<JsonObject> {
    if (this.#closed) return Promise.reject(new GatehouseError('E_UPSTREAM_UNAVAILABLE'));
    if (opts.signal?.aborted) return Promise.reject(new GatehouseError('E_CANCELLED'));
    const id = this.#nextId++;
    return new Promise<JsonObject>((resolve, reject) => {
      // The caller's own reason when it gave a plain one (src/protocol/cancel-reason.ts).
      const onAbort = () => this.#cancel(p, new GatehouseError('E_CANCELLED'), cancelReasonOf(opts.signal?.reason));
      const p: Pending = {
        id,
        method,
        opts,
        resolve,
        reject,
        cleanup: () => {
          clearTimeout(p.idle);
          clearTimeout(p.hard);
          opts.signal?.removeEventListener('abort', onAbort);
          this.#pending.delete(id);
          if (p.progressToken !== undefined) this.#byToken.delete(p.progressToken);
        },
      };
      const token = (params?._meta as JsonObject | undefined)?.progressToken;
      if (typeof token === 'string' || typeof token === 'number') {
        p.progressToken = token;
        this.#byToken.set(token, p);
      }
      this.#pending.set(id, p);
      this.#armIdle(p);
      p.hard = setTimeout(
        () =>
          this.#cancel(
            p,
            new GatehouseError('E_UPSTREAM_TIMEOUT', `upstream timed out after ${opts.maxTotalMs} ms`),
            'timeout',
          ),
        opts.maxTotalMs,
      );
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const msg =
        params === undefined
          ? { jsonrpc: '2.0' as const, id, method }
          : { jsonrpc: '2.0' as const, id, method, params };
      this.#channel.send(msg, opts.signal, opts.headers).catch((err: Error) => {
        if (!this.#pending.has(id)) return;
        p.cleanup();
        reject(err instanceof GatehouseError || err instanceof UpstreamRpcError ? err : this.#failure(err));
      });
    });
  }

  async notify(method: string, params?: JsonObject): Promise<void> {
    if (this.#closed) throw new GatehouseError('E_UPSTREAM_UNAVAILABLE');
    await this.#channel.send(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params });
  }

  async close(): Promise<void> {
    this.#shutdown(new Error('closed by the gateway'));
    await this.#channel.close();
  }

  #failure(err: Error): GatehouseError {
    this.#log.warn({ upstream: this.#channel.description, err: err.message }, 'upstream send failed');
    return new GatehouseError('E_UPSTREAM_FAILED');
  }

  #armIdle(p: Pending): void {
    clearTimeout(p.idle);
    p.idle = setTimeout(
      () =>
        this.#cancel(
          p,
          new GatehouseError('E_UPSTREAM_TIMEOUT', `upstream timed out after ${p.opts.timeoutMs} ms`),
          'timeout',
        ),
      p.opts.timeoutMs,
    );
  }

  #cancel(p: Pending, err: GatehouseError, reason: string): void {
    if (!this.#pending.has(p.id)) return;
    p.cleanup();
    p.reject(err);
    if (this.#closed) return;
    if (this.#channel.cancel?.(p.id)) return;
    this.notify('notifications/cancelled', { requestId: p.id, reason }).catch(() => {});
  }

  #shutdown(err: Error): void {
    if (this.#closed) return;
    this.#closed = err;
    for (const p of this.#pending.values()) {
      p.cleanup();
      p.reject(new GatehouseError('E_UPSTREAM_FAILED'));
    }
    this.#onClose(err);
  }

  /** The channel refused request `id`'s answer unparsed: the request fails with the channel's error. */
  #failed(id: RequestId, err: GatehouseError): void {
    const p = typeof id === 'number' ? this.#pending.get(id) : undefined;
    if (!p) return;
    p.cleanup();
    p.reject(err);
  }

  #receive(raw: unknown, relatedTo?: RequestId): void {
    const c = classify(raw);
    switch (c.kind) {
      case 'response': {
        const p = typeof c.msg.id === 'number' ? this.#pending.get(c.msg.id) : undefined;
        if (!p) {
          this.#noisy.line(Date.now(), (n) =>
            this.#log.warn(
              {
                upstream: this.#channel.description,
                id: String(c.msg.id).slice(0, 80),
                ...(n ? { suppressed: n } : {}),
              },
              'dropped upstream response with unknown id',
            ),
          );
          return;
        }
        p.cleanup();
        const altered = LISTINGS.has(p.method) ? undefined : inexactIn(raw);
        if (altered !== undefined) {
          this.#log.warn(
            { upstream: this.#channel.description, method: p.method, number: quoteNumber(altered) },
            'refused an upstream answer holding a number the gateway cannot carry exactly',
          );
          p.reject(
            new GatehouseError(
              'E_INEXACT_RESULT',
              `the upstream answered with the number \`${quoteNumber(altered)}\`, which the gateway cannot carry exactly (json numbers are read as 64-bit floats): refused rather than passed on altered`,
            ),
          );
        } else if ('error' in c.msg)
          p.reject(new UpstreamRpcError(c.msg.error.code, c.msg.error.message, c.msg.error.data));
        else p.resolve(c.msg.result);
        return;
      }
      case 'notification':
        this.#notification(c.msg, relatedTo);
        return;
      case 'request':
        void this.#serverRequest(c.msg, relatedTo);
        return;
      default:
        this.#noisy.line(Date.now(), (n) =>
          this.#log.warn(
            { upstream: this.#channel.description, reason: c.reason, ...(n ? { suppressed: n } : {}) },
            'dropped invalid upstream message',
          ),
        );
    }
  }

  #notification(n: JsonRpcNotification, relatedTo?: RequestId): void {
    // Only what the table names goes anywhere (src/protocol/upstream-methods.ts).
    const row = upstreamNotification(n.method);
    if (!row) {
      this.#onRefused('notification', n.method);
      return;
    }
    const p = this.#callOf(n, relatedTo);
    const hearer = hearerOf(row, p !== undefined);
    if (p && hearer === 'caller') {
      if (n.method === 'notifications/progress') this.#armIdle(p);
      p.opts.onNotification?.(n);
      return;
    }
    // Anyone else's (a task's starter, a resource's subscribers, the listing): the connection's
    // event, whichever stream it came on (src/gateway/upstream-fleet.ts). Nobody's: dropped.
    if (hearer !== undefined) this.#onEvent(n);
  }

  /**
   * The call a notification is said during: the one whose progress token it carries (progress), whose
   * stream it came on, or — a log message on a channel that cannot say which request it belongs to
   * (stdio) — the only call in flight, if there is exactly one.
   */
  #callOf(n: JsonRpcNotification, relatedTo?: RequestId): Pending | undefined {
    if (n.method === 'notifications/progress') {
      const token = n.params?.progressToken;
      return typeof token === 'string' || typeof token === 'number' ? this.#byToken.get(token) : undefined;
    }
    const p = typeof relatedTo === 'number' ? this.#pending.get(relatedTo) : undefined;
    if (p || relatedTo !== undefined || n.method !== 'notifications/message') return p;
    const calls = this.#pending.values().filter((x) => x.method !== 'subscriptions/listen');
    return calls.length === 1 ? calls[0] : undefined;
  }

  /** The call that caused server->client request `r`, or why none can be named. */
  #causeOf(r: JsonRpcRequest, relatedTo?: RequestId): AskingPending | string {
    const related = typeof relatedTo === 'number' ? this.#pending.get(relatedTo) : undefined;
    if (canAsk(related)) return related;
    this.#asks = true;
    const token = (r.params?._meta as JsonObject | undefined)?.progressToken;
    const byToken = typeof token === 'string' || typeof token === 'number' ? this.#byToken.get(token) : undefined;
    if (canAsk(byToken)) return byToken;
    const calls = this.#pending.values().filter(canAsk);
    const what = `\`${r.method}\``;
    if (!calls.length)
      return `${what} outside any call: the gateway relays questions only to the caller whose call caused them`;
    if (calls.length === 1) return calls[0];
    if (calls.every((p) => !p.opts.askable)) return `${what}: none of the callers with calls in flight can answer it`;
    return `${what}: ${calls.length} calls are in flight on this connection and the server did not say which one asks (no progress token); the gateway asks no caller it cannot be sure of`;
  }

  async #serverRequest(r: JsonRpcRequest, relatedTo?: RequestId): Promise<void> {
    // Only what the table names is asked of anyone (src/protocol/upstream-methods.ts); the gateway
    // answers ping itself. Refused before any call is looked for: it neither reaches a caller nor
    // makes this connection's calls run one at a time.
    const row = upstreamRequest(r.method);
    if (!row) this.#onRefused('request', r.method);
    const cause = !row || row.inCall === 'gateway' ? undefined : this.#causeOf(r, relatedTo);
    let answer: ServerRequestAnswer;
    try {
      if (!row) {
        answer = { error: { code: METHOD_NOT_FOUND.rpc, message: refusedRequest(r.method) } };
      } else if (cause === undefined) {
        answer = { result: {} };
      } else if (typeof cause === 'object') {
        this.#armIdle(cause);
        answer = await cause.opts.onServerRequest(r);
      } else {
        // Servers ask for roots as soon as they are initialized, before any call (both quickstart
        // servers do), and the refusal is expected (they carry on without): at debug, not a line that
        // reads like an error to a new operator. A question no call can be blamed for is worth info.
        this.#noisy.line(Date.now(), (n) =>
          this.#log[r.method === 'roots/list' ? 'debug' : 'info'](
            { upstream: this.#channel.description, method: r.method, why: cause, ...(n ? { suppressed: n } : {}) },
            'server request no call can be blamed for',
          ),
        );
        answer = await this.#onOrphanRequest(r, cause);
      }
    } catch (err) {
      this.#log.warn(
        { upstream: this.#channel.description, method: r.method, err: (err as Error).message },
        'server request failed',
      );
      answer = { error: { code: -32603, message: 'internal error' } };
    }
    if (this.#closed) return;
    const msg =
      'result' in answer
        ? { jsonrpc: '2.0' as const, id: r.id, result: answer.result }
        : { jsonrpc: '2.0' as const, id: r.id, error: answer.error };
    this.#channel.send(msg).catch(() => {});
  }
}
