/**
 * A Streamable HTTP upstream channel, either era, over one keep-alive connection pool (the hot path: no
 * SDK client, no per-call setup beyond the request itself, and no stream object per response: each
 * POST is dispatched with handler callbacks that read its answer as the bytes arrive). The era of
 * each message is read off the message: one whose `_meta` declares a protocol version goes out with
 * MCP-Protocol-Version, Mcp-Method and Mcp-Name; the others carry the session id and version
 * `initialize` negotiated.
 * Whatever arrives on a request's own response (JSON or SSE) is delivered as related to it, and a
 * response for any other id is dropped. Broken answers (HTML error pages, truncated JSON, wrong
 * content types, oversize bodies) become a JSON-RPC error for that request only. What is read and not
 * yet parsed is bounded per message (the server's `messages.maxBytes`), in all by the gateway's
 * budget of bytes held from upstreams (src/util/byte-budget.ts), and, on the streams that carry only
 * notifications and the server's own requests (the GET stream, `subscriptions/listen`), per event by
 * `messages.maxNotificationBytes`: such an event is dropped unread and the stream read on.
 */
import { parseUpstreamJson } from '../protocol/exact-numbers.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { OriginPool } from '../util/http1/pool.ts';

import type { Logger } from '../observability/logger.ts';
import {
  classify,
  type JsonObject,
  type JsonRpcMessage,
  type JsonRpcRequest,
  type JsonRpcResponse,
  type RequestId,
} from '../protocol/jsonrpc.ts';
import {
  DEFAULT_MAX_EVENT_BYTES,
  DEFAULT_MAX_NOTIFICATION_BYTES,
  type SseEvent,
  SseParser,
  SseTooLargeError,
} from './sse-reader.ts';
import {
  type BodyReader,
  dropReader,
  exchange,
  NOT_UTF8,
  OVER_BUDGET,
  type ResponseHeaders,
  TOO_LARGE,
  textReader,
} from '../util/http1/exchange.ts';
import { ByteBudget, OVER_BUDGET_WHY } from '../util/byte-budget.ts';
import { GatehouseError } from '../protocol/errors.ts';
import { LogBudget } from '../util/log-budget.ts';
import type { Channel } from './types.ts';
import { currentTraceparent } from '../observability/tracing.ts';
import { TransientMap } from '../util/transient-map.ts';
import { RETRY_MAX_MS, runGetStream } from './http-get-stream.ts';
import { answerFor, INVALID, legacyHeaders, mediaType, protocolHeaders, synth, type LegacyState } from './http-wire.ts';

/** Largest JSON body, and largest SSE event, accepted from an upstream unless its config says otherwise. */
const MAX_BODY = DEFAULT_MAX_EVENT_BYTES;
const CONNECTIONS = 256;
/** Notifications, responses and the GET stream's headers: no peer timeout watches these. */
const CONTROL_TIMEOUT_MS = 30_000;
const DELETE_TIMEOUT_MS = 2_000;
/** A response stream still open this long after it delivered its answer is closed by us. */
const LINGER_MS = 5_000;
/** Legacy stream resumption (GET + Last-Event-ID): attempts in a row that bring no new event. */
const RESUME_TRIES = 3;
const ACCEPT = 'application/json, text/event-stream';

type Receiver = Parameters<Channel['setReceiver']>[0];

/** How much an HTTP channel reads from its server before parsing it (see the header comment). */
export interface ReadLimits {
  maxMessageBytes?: number;
  maxNotificationBytes?: number;
  /** The gateway's, shared by every channel (a channel without one has its own, of the default size). */
  budget?: ByteBudget;
}

interface Exchange {
  readonly ac: AbortController;
  readonly modern: boolean;
  /** Set once an SSE answer has been delivered: closes a stream the server leaves open (LINGER_MS). */
  linger?: NodeJS.Timeout;
}

export class StreamableHttpChannel implements Channel {
  readonly description: string;
  readonly #pool: OriginPool;
  readonly #path: string;
  readonly #base: Record<string, string> = {};
  readonly #log: Logger;
  readonly #exchanges = new TransientMap<RequestId, Exchange>();
  readonly #stop = new AbortController();
  readonly #legacy: LegacyState = {};
  readonly #maxMessage: number;
  readonly #maxNotification: number;
  readonly #budget: ByteBudget;
  /** What this server's oversized messages make the gateway log. */
  readonly #noisy = new LogBudget();
  #receiver: Receiver | undefined;
  #listening = false;
  #closed = false;

  constructor(name: string, opts: { url: string; headers?: Record<string, string> } & ReadLimits, log: Logger) {
    const url = new URL(opts.url);
    this.description = `http:${name}`;
    this.#pool = new OriginPool(url.origin, { connections: CONNECTIONS, keepAliveMs: 30_000 });
    this.#path = `${url.pathname}${url.search}`;
    for (const [k, v] of Object.entries(opts.headers ?? {})) this.#base[k.toLowerCase()] = v;
    this.#log = log;
    this.#maxMessage = opts.maxMessageBytes ?? MAX_BODY;
    this.#maxNotification = Math.min(opts.maxNotificationBytes ?? DEFAULT_MAX_NOTIFICATION_BYTES, this.#maxMessage);
    this.#budget = opts.budget ?? new ByteBudget();
  }

  setReceiver(r: Receiver): void {
    this.#receiver = r;
  }

  /** Closes the request's stream. Modern: that is the cancellation (true). Legacy: the peer still sends notifications/cancelled. */
  cancel(id: RequestId): boolean {
    const ex = this.#exchanges.get(id);
    if (!ex) return false;
    ex.ac.abort();
    return ex.modern;
  }

  async send(msg: JsonRpcMessage, signal?: AbortSignal, extra?: Record<string, string>): Promise<void> {
    if (this.#closed) throw new Error('channel closed');
    const headers = protocolHeaders(msg, this.#legacy, extra, {
      ...this.#base,
      'content-type': 'application/json',
      accept: ACCEPT,
    });
    const traceparent = currentTraceparent(); // inside a traced stage: the upstream joins the caller's trace
    if (traceparent) headers.traceparent = traceparent;
    const body = JSON.stringify(msg);
    if ('method' in msg && 'id' in msg) return this.#request(msg, headers, body, signal);
    const status = await exchange(
      this.#pool,
      {
        path: this.#path,
        method: 'POST',
        headers,
        body,
        headersTimeout: CONTROL_TIMEOUT_MS,
        bodyTimeout: CONTROL_TIMEOUT_MS,
      },
      signal,
      (s, h) => dropReader(h['content-length'], () => s),
    );
    if (status === 404 && headers['mcp-session-id'] !== undefined) return this.#expire();
    if (status >= 300) throw new Error(`upstream answered http ${status}`);
    if ('method' in msg && msg.method === 'notifications/initialized' && headers['mcp-method'] === undefined)
      this.#listen();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#abortAll();
    const sid = this.#legacy.sessionId;
    if (sid !== undefined) {
      await exchange(
        this.#pool,
        { path: this.#path, method: 'DELETE', headers: legacyHeaders(this.#legacy, { ...this.#base }) },
        AbortSignal.timeout(DELETE_TIMEOUT_MS),
        (_, h) => dropReader(h['content-length'], () => undefined),
      ).catch(() => {});
    }
    await this.#pool.destroy().catch(() => {});
  }

  async #request(
    msg: JsonRpcRequest,
    headers: Record<string, string>,
    body: string,
    signal?: AbortSignal,
  ): Promise<void> {
    const ex: Exchange = { ac: new AbortController(), modern: headers['mcp-method'] !== undefined };
    this.#exchanges.set(msg.id, ex);
    const onAbort = () => ex.ac.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const sentSession = headers['mcp-session-id'] !== undefined;
    try {
      await exchange(
        this.#pool,
        { path: this.#path, method: 'POST', headers, body, headersTimeout: 0, bodyTimeout: 0 },
        ex.ac.signal,
        (status, h) => this.#answer(msg, ex, status, h, sentSession),
      );
    } catch (err) {
      if (ex.ac.signal.aborted) return; // cancelled, timed out or closed: the peer has settled the request
      throw err;
    } finally {
      clearTimeout(ex.linger);
      signal?.removeEventListener('abort', onAbort);
      if (this.#exchanges.get(msg.id) === ex) this.#exchanges.delete(msg.id);
    }
  }

  /** How a request's answer is read, from its status and headers: SSE, JSON, or a 404 that ends the session. */
  #answer(
    msg: JsonRpcRequest,
    ex: Exchange,
    status: number,
    headers: ResponseHeaders,
    sentSession: boolean,
  ): BodyReader<Promise<void> | undefined> {
    if (msg.method === 'initialize' && status < 300) {
      const sid = headers['mcp-session-id'];
      if (typeof sid === 'string' && /^[\x21-\x7e]{1,1024}$/.test(sid)) this.#legacy.sessionId = sid;
    }
    if (status === 404 && sentSession) return dropReader(headers['content-length'], () => void this.#expire());
    const type = mediaType(headers['content-type']);
    if (status < 300 && type === 'text/event-stream') return this.#stream(msg, ex);
    return textReader(
      headers['content-length'],
      (text) => void this.#json(msg, status, type, text),
      this.#maxMessage,
      this.#budget,
    );
  }

  /**
   * Request `msg`'s answer was refused before it was parsed: too large for this server, or over the
   * gateway's budget of bytes held from upstreams. Its caller gets the error; it is logged and counted.
   */
  #refuse(msg: JsonRpcRequest, overBudget: boolean, answered = false): void {
    const fields = this.#budget.refusal(overBudget, this.#maxMessage);
    this.#noisy.line(Date.now(), (n) =>
      this.#log.warn(
        { upstream: this.description, method: msg.method, ...fields, ...(n ? { suppressed: n } : {}) },
        overBudget ? `refused an upstream message: ${OVER_BUDGET_WHY}` : 'refused an oversized upstream message',
      ),
    );
    if (answered) return;
    const err = overBudget
      ? new GatehouseError('E_OVERLOADED')
      : new GatehouseError('E_UPSTREAM_TOO_LARGE', `upstream response larger than ${this.#maxMessage} bytes`);
    if (this.#receiver?.failed) this.#receiver.failed(msg.id, err);
    else this.#settle(msg, synth(msg.id, err.message));
  }

  /** A request's answer that is not an SSE stream, read whole. */
  #json(
    msg: JsonRpcRequest,
    status: number,
    type: string,
    text: string | typeof TOO_LARGE | typeof NOT_UTF8 | typeof OVER_BUDGET,
  ): void {
    if (text === TOO_LARGE || text === OVER_BUDGET) {
      this.#refuse(msg, text === OVER_BUDGET);
      return;
    }
    if (text === NOT_UTF8) {
      this.#log.warn(
        { upstream: this.description, method: msg.method },
        'refused an upstream response that is not valid utf-8',
      );
      this.#settle(msg, synth(msg.id, 'upstream response is not valid utf-8'));
      return;
    }
    let parsed: unknown;
    try {
      parsed = parseUpstreamJson(text);
    } catch {
      // not JSON: answerFor turns it into an error for this request
    }
    const answer = answerFor(msg.id, status, type === 'application/json', parsed);
    if ('error' in answer && answer.error.message === INVALID)
      this.#log.warn({ upstream: this.description, status, type }, 'upstream sent an invalid response');
    this.#settle(msg, answer);
  }

  /**
   * How a request's SSE answer is read: its events are handled as their bytes arrive. A legacy stream
   * that ends before the answer is resumed with GET + Last-Event-ID, through the same parser.
   */
  #stream(msg: JsonRpcRequest, ex: Exchange): BodyReader<Promise<void> | undefined> {
    const token = (msg.params?._meta as JsonObject | undefined)?.progressToken;
    // A listen stream carries notifications (its answer is small): an event over their bound is dropped unread.
    const notifications = msg.method === 'subscriptions/listen';
    const parser = new SseParser(notifications ? this.#maxNotification : this.#maxMessage, {
      budget: this.#budget,
      drop: notifications,
    });
    let answered = false;
    let malformed = false;
    let refused = false;
    const push = (chunk: Buffer): void => {
      let events: SseEvent[];
      const dropped = parser.droppedEvents;
      try {
        events = parser.push(chunk);
      } catch (err) {
        if (!(err instanceof SseTooLargeError)) throw err;
        refused = true;
        this.#refuse(msg, err.overBudget, answered);
        return;
      }
      if (parser.droppedEvents !== dropped) this.#dropped(parser, parser.droppedEvents - dropped);
      for (const ev of events) {
        if (ev.data === '' || ev.event !== 'message') continue; // priming events carry no message
        const verdict = this.#fromStream(msg, token, ev.data);
        if (verdict === 'malformed') malformed = true;
        else if (verdict === 'answer' && !answered) {
          answered = true;
          ex.linger = setTimeout(() => ex.ac.abort(), LINGER_MS);
        }
      }
    };
    const ended = async (): Promise<void> => {
      let seen = ''; // the last event id before the body just read
      let stalls = 0;
      const resumed: BodyReader<boolean> = {
        data: push,
        get full() {
          return refused;
        },
        end: () => {
          parser.end();
          return true;
        },
        release: () => parser.end(),
      };
      parser.end(); // the body ended: an event it did not finish is discarded (a resumption is a new stream)
      while (!answered && !refused && !ex.modern) {
        stalls = parser.lastEventId === seen ? stalls + 1 : 0;
        seen = parser.lastEventId;
        if (!(await this.#resume(parser, ex, stalls, resumed))) break;
      }
      if (!answered && !refused && !ex.ac.signal.aborted)
        this.#settle(msg, synth(msg.id, malformed ? INVALID : 'upstream closed the stream without a response'));
    };
    return {
      data: push,
      get full() {
        return refused;
      },
      end: ended,
      release: () => parser.end(),
    };
  }

  /** Events of a notification stream dropped unread for their size: logged (bounded) and counted. */
  #dropped(parser: SseParser, count: number): void {
    for (let i = 0; i < count; i++) this.#budget.refused('notification');
    this.#noisy.line(Date.now(), (n) =>
      this.#log.warn(
        {
          upstream: this.description,
          maxBytes: this.#maxNotification,
          dropped: parser.droppedEvents,
          overBudget: parser.droppedOverBudget,
          ...(n ? { suppressed: n } : {}),
        },
        'dropped an oversized upstream notification unread',
      ),
    );
  }

  /** One message from request `msg`'s stream: delivered as related to it, unless it belongs elsewhere. */
  #fromStream(msg: JsonRpcRequest, token: unknown, data: string): 'answer' | 'malformed' | 'other' {
    let m: unknown;
    try {
      m = parseUpstreamJson(data);
    } catch {
      this.#log.warn({ upstream: this.description }, 'dropped a malformed sse event from upstream');
      return 'malformed';
    }
    const c = classify(m);
    if (c.kind === 'response') {
      if (c.msg.id === msg.id) {
        this.#settle(msg, c.msg);
        return 'answer';
      }
      this.#log.warn(
        { upstream: this.description, id: c.msg.id },
        'dropped an upstream response on another request stream',
      );
      return 'other';
    }
    if (c.kind === 'invalid') {
      this.#log.warn({ upstream: this.description, reason: c.reason }, 'dropped an invalid upstream message');
      if (c.id !== msg.id || 'method' in (m as object)) return 'malformed';
      this.#settle(msg, synth(msg.id, INVALID));
      return 'answer';
    }
    if (
      c.kind === 'notification' &&
      c.msg.method === 'notifications/progress' &&
      c.msg.params?.progressToken !== token
    ) {
      this.#log.warn({ upstream: this.description }, 'dropped upstream progress for another request');
      return 'other';
    }
    this.#receiver?.message(c.msg, msg.id);
    return 'other';
  }

  /** Resumes a legacy stream with GET + Last-Event-ID, its events read by `reader`; false when the server did not. */
  async #resume(parser: SseParser, ex: Exchange, stalls: number, reader: BodyReader<boolean>): Promise<boolean> {
    if (!parser.lastEventId || stalls >= RESUME_TRIES || this.#closed) return false;
    await sleep(Math.min(parser.retryMs ?? 1000, RETRY_MAX_MS), undefined, { signal: ex.ac.signal });
    let status = 0;
    const resumed = await exchange(
      this.#pool,
      { path: this.#path, method: 'GET', headers: this.#getHeaders(parser.lastEventId) },
      ex.ac.signal,
      (s, h) => {
        status = s;
        if (s === 200 && mediaType(h['content-type']) === 'text/event-stream') return reader;
        return dropReader(h['content-length'], () => false);
      },
    );
    if (!resumed && status === 404 && this.#legacy.sessionId !== undefined) this.#expire();
    return resumed;
  }

  #settle(msg: JsonRpcRequest, answer: JsonRpcResponse): void {
    if (msg.method === 'initialize' && 'result' in answer && typeof answer.result.protocolVersion === 'string') {
      this.#legacy.version = answer.result.protocolVersion;
    }
    this.#receiver?.message(answer, msg.id);
  }

  #getHeaders(lastEventId: string): Record<string, string> {
    const h = legacyHeaders(this.#legacy, { ...this.#base, accept: 'text/event-stream' });
    if (lastEventId) h['last-event-id'] = lastEventId;
    return h;
  }

  /** Legacy: the standalone GET stream for server-initiated messages, reconnected with backoff while open. */
  #listen(): void {
    if (this.#listening || this.#closed) return;
    this.#listening = true;
    void runGetStream({
      pool: this.#pool,
      path: this.#path,
      headers: (lastEventId) => this.#getHeaders(lastEventId),
      maxNotificationBytes: this.#maxNotification,
      budget: this.#budget,
      signal: this.#stop.signal,
      hasSession: () => this.#legacy.sessionId !== undefined,
      deliver: (m) => this.#receiver?.message(m),
      dropped: (parser, count) => this.#dropped(parser, count),
      expire: () => this.#expire(),
      log: this.#log,
      description: this.description,
    });
  }

  #abortAll(): void {
    this.#closed = true;
    this.#stop.abort();
    for (const ex of this.#exchanges.values()) ex.ac.abort();
  }

  /** The server ended the legacy session: this channel is done; the pool reconnects with a new one. */
  #expire(): void {
    if (this.#closed) return;
    this.#legacy.sessionId = undefined;
    this.#abortAll();
    void this.#pool.destroy().catch(() => {});
    this.#receiver?.closed(new Error('upstream session expired'));
  }
}
