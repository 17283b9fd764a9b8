/**
 * Writing MCP answers on an HTTP response. A POST's answer starts undecided: if the final response
 * comes first it goes out as one application/json body; if a notification or a server->client
 * request comes first (and the client accepts it) the answer becomes an SSE stream. Long-lived
 * streams (GET, subscriptions/listen) are SSE from the start, with keep-alive comments.
 */
import type { SseAnswer } from './guards.ts';
import type { ServerResponse } from 'node:http';
import { messageBody } from '../gateway/paginate.ts';
import type { JsonRpcMessage } from '../protocol/jsonrpc.ts';
import type { MessageSink } from '../sessions/sessions.ts';
import type { RequestHold } from '../util/request-budget.ts';

const KEEPALIVE_MS = 15_000;
/**
 * What a client may leave unread on a stream before it is cut off. Notifications and questions are
 * written as they come (progress, logs, resource updates, list changes); a client that stops reading
 * would otherwise make the gateway hold every later one in memory. Cut off, a GET stream can be
 * opened again; a POST's stream closing cancels its call, as the client leaving would.
 */
export const MAX_UNREAD_BYTES = 16 * 1024 * 1024;

/**
 * What a client has yet to read of a response, counted in the hold of its request's bytes
 * (src/util/request-budget.ts): its tenant's share of `gateway.maxBufferedRequestBytes` bounds it,
 * with the bodies its requests hold. Unbounded, a client that stops reading kept every answer it was
 * sent in the gateway's memory: 60 connections of one key, each sent an 8 MB answer and never read,
 * took a gateway from 134 MB to 1.2 GB, and the connection caps allow thousands (walk I). Counted at
 * its high-water mark after each write (an answer the socket takes at once, as most are, counts
 * nothing), given back with the request's bytes once the response has ended or its connection closed.
 * An event that does not fit cuts its stream off. A final answer that does not fit may go out past
 * the bounds when no other answer of its tenant's is (one at a time: a client that reads a large
 * answer as it comes gets it whole, whatever else is held), for as long as its client reads: with no
 * progress for STALL_MS it is cut off. What else does not fit is cut off. Cut off means the
 * connection closed (every answer pipelined on it with it: destroying only the response left a
 * pipelined answer queued, and it went out later, uncounted: walk J), counted and logged.
 */
const STALL_MS = 2000;

class Unsent {
  readonly #res: ServerResponse;
  readonly #hold: RequestHold | undefined;
  #counted = 0;
  #cut = false;

  constructor(res: ServerResponse, hold: RequestHold | undefined) {
    this.#res = res;
    this.#hold = hold;
  }

  /** After a write (`final`: the answer's last): what is left unread is taken from the hold, or the response is cut off. */
  count(final = false): void {
    const hold = this.#hold;
    if (!hold || this.#cut) return;
    const unsent = this.#res.writableLength;
    if (unsent <= this.#counted) return;
    const more = unsent - this.#counted;
    if (hold.take(more)) {
      this.#counted = unsent;
      return;
    }
    if (final && hold.overdraw(more)) {
      this.#counted = unsent;
      this.#watch(unsent);
      return;
    }
    this.#cutOff();
  }

  /**
   * An answer past the bounds goes on while its client reads it: cut off after STALL_MS without
   * progress. Each look ends the watch once the response is over (ended, closed, or all taken).
   */
  #watch(last: number): void {
    setTimeout(() => {
      const now = this.#res.writableLength;
      if (this.#res.closed || this.#res.destroyed || now === 0) return;
      if (now >= last) this.#cutOff();
      else this.#watch(now);
    }, STALL_MS).unref();
  }

  #cutOff(): void {
    this.#cut = true;
    this.#hold?.cutOff();
    (this.#res.socket ?? this.#res.req?.socket)?.destroy();
    this.#res.destroy();
  }
}

/** Writes one event, or cuts the stream off when the client left more than MAX_UNREAD_BYTES unread. */
function writeEvent(res: ServerResponse, msg: JsonRpcMessage, unsent: Unsent): void {
  if (res.writableLength > MAX_UNREAD_BYTES) {
    res.destroy();
    return;
  }
  res.write(`event: message\ndata: ${JSON.stringify(msg)}\n\n`);
  unsent.count();
}
const SSE_START = Buffer.from('event: message\ndata: ');
const SSE_END = Buffer.from('\n\n');

const byteLength = (chunks: readonly Buffer[]): number => chunks.reduce((n, c) => n + c.length, 0);

/** Ends `res` with `body`; chunks are written corked, so they leave in one writev (end() uncorks). */
function endWith(res: ServerResponse, body: string | readonly Buffer[]): void {
  if (typeof body === 'string') return void res.end(body);
  res.cork();
  for (let i = 0; i < body.length - 1; i++) res.write(body[i]);
  res.end(body[body.length - 1]);
}

function sseHeaders(res: ServerResponse, extra: Record<string, string>, status = 200): void {
  res.writeHead(status, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
    connection: 'keep-alive',
    ...extra,
  });
}

export class Responder implements MessageSink {
  readonly #res: ServerResponse;
  readonly #sseOk: boolean;
  /** The client's Accept takes no JSON: the final answer goes as a stream too. */
  readonly #sseOnly: boolean;
  readonly #headers: Record<string, string>;
  readonly #unsent: Unsent;
  #mode: 'pending' | 'sse' | 'done' = 'pending';

  /** `hold`: the request's bytes, which what its client leaves unread of the answer joins (see Unsent). */
  constructor(res: ServerResponse, acceptsSse: SseAnswer, headers: Record<string, string> = {}, hold?: RequestHold) {
    this.#res = res;
    this.#sseOk = acceptsSse !== false;
    this.#sseOnly = acceptsSse === 'only';
    this.#headers = headers;
    this.#unsent = new Unsent(res, hold);
  }

  get closed(): boolean {
    return this.#mode === 'done' || this.#res.destroyed;
  }

  /** A message before the final response (notification or server->client request). */
  send(msg: JsonRpcMessage): void {
    if (this.closed || !this.#sseOk) return;
    if (this.#mode === 'pending') {
      sseHeaders(this.#res, this.#headers);
      this.#mode = 'sse';
    }
    writeEvent(this.#res, msg, this.#unsent);
  }

  /** The final response; `status` applies only when nothing was streamed yet. */
  finish(msg: JsonRpcMessage, status = 200, extraHeaders: Record<string, string> = {}): void {
    if (this.closed) return;
    // JSON.stringify(msg); a listing's kept page is serialised once for every caller, and its bytes
    // go out as kept, in one writev with the rest.
    const body = messageBody(msg);
    if (this.#mode === 'pending' && this.#sseOnly) {
      sseHeaders(this.#res, { ...this.#headers, ...extraHeaders }, status);
      this.#mode = 'sse';
    }
    if (this.#mode === 'sse')
      endWith(
        this.#res,
        typeof body === 'string' ? `event: message\ndata: ${body}\n\n` : [SSE_START, ...body, SSE_END],
      );
    else {
      this.#res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': typeof body === 'string' ? Buffer.byteLength(body) : byteLength(body),
        ...this.#headers,
        ...extraHeaders,
      });
      endWith(this.#res, body);
    }
    this.#mode = 'done';
    this.#unsent.count(true);
  }

  close(): void {
    if (this.#mode === 'done') return;
    this.#mode = 'done';
    this.#res.end();
  }
}

/** A long-lived SSE stream (GET stream of a legacy session, or subscriptions/listen). */
export class StreamSink implements MessageSink {
  readonly #res: ServerResponse;
  readonly #timer: NodeJS.Timeout;
  readonly #unsent: Unsent;
  #closed = false;

  /** `hold`: the bytes of the request that opened it, which what its client leaves unread joins (see Unsent). */
  constructor(res: ServerResponse, headers: Record<string, string> = {}, onClose?: () => void, hold?: RequestHold) {
    this.#res = res;
    this.#unsent = new Unsent(res, hold);
    sseHeaders(res, headers);
    res.flushHeaders();
    this.#timer = setInterval(() => res.write(':\n\n'), KEEPALIVE_MS);
    this.#timer.unref();
    res.on('close', () => {
      this.#closed = true;
      clearInterval(this.#timer);
      onClose?.();
    });
  }

  get closed(): boolean {
    return this.#closed || this.#res.destroyed;
  }

  send(msg: JsonRpcMessage): void {
    if (!this.closed) writeEvent(this.#res, msg, this.#unsent);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#res.end();
  }
}
