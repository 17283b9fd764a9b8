/**
 * A legacy (2025-11-25) Streamable HTTP session's standalone GET stream: the server's notifications
 * and its own requests, read while the channel is open and reconnected with backoff (resumed with
 * Last-Event-ID). Only notifications and requests may come here; an event over their bound
 * (`messages.maxNotificationBytes`) is dropped unread and the stream read on.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../observability/logger.ts';
import { classify, type JsonRpcNotification, type JsonRpcRequest } from '../protocol/jsonrpc.ts';
import { parseUpstreamJson } from '../protocol/exact-numbers.ts';
import { doubled } from '../util/backoff.ts';
import type { ByteBudget } from '../util/byte-budget.ts';
import { type BodyReader, dropReader, exchange } from '../util/http1/exchange.ts';
import type { OriginPool } from '../util/http1/pool.ts';
import { mediaType } from './http-wire.ts';
import { SseParser } from './sse-reader.ts';

const RETRY_FIRST_MS = 500;
export const RETRY_MAX_MS = 30_000;
/** The GET stream's headers: no peer timeout watches them. */
const HEADERS_TIMEOUT_MS = 30_000;

export interface GetStreamContext {
  readonly pool: OriginPool;
  readonly path: string;
  /** The request's headers, with Last-Event-ID when there is one to resume from. */
  headers(lastEventId: string): Record<string, string>;
  readonly maxNotificationBytes: number;
  readonly budget: ByteBudget;
  /** Aborted when the channel closes. */
  readonly signal: AbortSignal;
  /** Whether the channel holds a legacy session (a 404 then means the server ended it). */
  hasSession(): boolean;
  deliver(msg: JsonRpcRequest | JsonRpcNotification): void;
  /** Events dropped unread for their size: logged (bounded) and counted by the channel. */
  dropped(parser: SseParser, count: number): void;
  /** The server ended the session (404). */
  expire(): void;
  readonly log: Logger;
  readonly description: string;
}

/** Reads the GET stream until the channel closes, the server offers none (405) or ends the session (404). */
export async function runGetStream(ctx: GetStreamContext): Promise<void> {
  const parser = new SseParser(ctx.maxNotificationBytes, { budget: ctx.budget, drop: true });
  const { signal } = ctx;
  let delay = RETRY_FIRST_MS;
  while (!signal.aborted) {
    let events = 0;
    const stream: BodyReader<true> = {
      data: (chunk) => {
        const dropped = parser.droppedEvents;
        for (const ev of parser.push(chunk)) {
          if (ev.data === '' || ev.event !== 'message') continue;
          events++;
          fromGetStream(ctx, ev.data);
        }
        if (parser.droppedEvents !== dropped) ctx.dropped(parser, parser.droppedEvents - dropped);
      },
      full: false,
      end: () => {
        parser.end();
        return true;
      },
      release: () => parser.end(),
    };
    try {
      let status = 0;
      const sse = await exchange(
        ctx.pool,
        {
          path: ctx.path,
          method: 'GET',
          headers: ctx.headers(parser.lastEventId),
          headersTimeout: HEADERS_TIMEOUT_MS,
        },
        signal,
        (s, h) => {
          status = s;
          if (s === 200 && mediaType(h['content-type']) === 'text/event-stream') return stream;
          return dropReader(h['content-length'], () => false);
        },
      );
      if (status === 405) return; // the server offers no GET stream
      if (status === 404 && ctx.hasSession()) return ctx.expire();
      if (!sse) throw new Error(`upstream get stream answered http ${status}`);
    } catch (err) {
      if (signal.aborted) return;
      ctx.log.debug({ upstream: ctx.description, err: (err as Error).message }, 'upstream get stream dropped');
    }
    if (events > 0) delay = RETRY_FIRST_MS;
    try {
      await sleep(Math.min(Math.max(delay, parser.retryMs ?? 0), RETRY_MAX_MS), undefined, { signal });
    } catch {
      return;
    }
    delay = doubled(delay, RETRY_MAX_MS);
  }
}

function fromGetStream(ctx: GetStreamContext, data: string): void {
  let m: unknown;
  try {
    m = parseUpstreamJson(data);
  } catch {
    return void ctx.log.warn({ upstream: ctx.description }, 'dropped a malformed sse event from upstream');
  }
  const c = classify(m);
  if (c.kind === 'request' || c.kind === 'notification') {
    ctx.deliver(c.msg);
    return;
  }
  ctx.log.warn({ upstream: ctx.description, kind: c.kind }, 'dropped an upstream message the get stream may not carry');
}
