/**
 * Transport-level checks every MCP HTTP request passes before its body is read: Host (DNS
 * rebinding), Origin (browsers), and the body itself (size cap while reading, strict JSON). Pure
 * where possible.
 */
import type { IncomingMessage } from 'node:http';
import { GatehouseError } from '../protocol/errors.ts';
import { parseTime } from '../audit/timeline.ts';
import { repeatedCredentials } from '../identity/authorization-header.ts';
import type { Logger } from '../observability/logger.ts';
export { decodeHeaderValue } from '../protocol/header-value.ts';

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

export interface GuardConfig {
  port: number;
  publicUrl?: string;
  allowedOrigins: string[];
  allowedHosts: string[];
}

export function allowedHostSet(cfg: GuardConfig): Set<string> {
  const hosts = new Set<string>();
  for (const n of LOOPBACK_NAMES) {
    hosts.add(`${n}:${cfg.port}`);
    if (cfg.port === 80) hosts.add(n);
  }
  if (cfg.publicUrl) hosts.add(new URL(cfg.publicUrl).host);
  for (const h of cfg.allowedHosts) hosts.add(h.toLowerCase());
  return hosts;
}

export function allowedOriginSet(cfg: GuardConfig): Set<string> {
  const origins = new Set<string>();
  for (const n of LOOPBACK_NAMES) origins.add(`http://${n}:${cfg.port}`);
  if (cfg.publicUrl) origins.add(new URL(cfg.publicUrl).origin);
  for (const o of cfg.allowedOrigins) origins.add(o.replace(/\/+$/, ''));
  return origins;
}

/**
 * Headers a request must send at most once. Node keeps the first of several (host, authorization,
 * content-type) or joins them with ", " (origin, the mcp-* headers, last-event-id), while a proxy in
 * front may act on another one, or on each: the two would see different requests. One bit each.
 */
const ONCE: ReadonlyMap<string, number> = new Map(
  [
    'authorization',
    'host',
    'origin',
    'content-type',
    'mcp-session-id',
    'mcp-protocol-version',
    'mcp-method',
    'mcp-name',
    'last-event-id',
  ].map((name, i) => [name, 1 << i]),
);

/**
 * Refuses a request that repeats a header of `ONCE` (Authorization: 401 invalid_request, as the
 * credential readers always did; any other: 400 naming it). One pass over `req.rawHeaders` (name,
 * value, name, value...) at the listener's entry, for every route: no per-header arrays
 * (`headersDistinct` builds one for every header of every request).
 */
export function refuseRepeatedHeaders(raw: readonly string[]): void {
  let seen = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const bit = ONCE.get(raw[i].toLowerCase());
    if (bit === undefined) continue;
    if ((seen & bit) === 0) {
      seen |= bit;
      continue;
    }
    const name = raw[i].toLowerCase();
    let count = 0;
    for (let j = 0; j < raw.length; j += 2) if (raw[j].toLowerCase() === name) count++;
    if (name === 'authorization') throw repeatedCredentials(count);
    throw new GatehouseError(
      'E_REPEATED_HEADER',
      `the request carries ${count} \`${name}\` headers: send it once (a proxy in front may read another one)`,
    );
  }
}

export function checkHost(host: string | undefined, allowed: Set<string>): void {
  if (!host || !allowed.has(host.toLowerCase())) throw new GatehouseError('E_HOST');
}

/** A present Origin must be one we serve; `null` (sandboxed frames, file:) is refused. */
export function checkOrigin(origin: string | undefined, allowed: Set<string>): void {
  if (origin === undefined) return;
  if (!allowed.has(origin)) throw new GatehouseError('E_ORIGIN');
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * What a body's bytes are taken from as they arrive, beside its own bound: the budget of request
 * bytes held (a RequestHold, src/util/request-budget.ts). `refused` is the error a request that did
 * not fit is answered with (counted and logged once).
 */
export interface BodyBudget {
  fits(bytes: number): boolean;
  take(bytes: number): boolean;
  refused(): Error;
}

/**
 * Read the body up to `max` bytes within `timeoutMs`; beyond either, refuse without reading the rest
 * (a slow body cannot hold a connection). With a `budget`, each chunk is taken from it as it
 * arrives, and a chunk (or a declared length) that does not fit refuses the body the same way. The
 * bytes must be UTF-8: invalid sequences are refused (a parse error), never replaced with U+FFFD and
 * executed as something the caller did not send.
 */
export function readBody(req: IncomingMessage, max: number, timeoutMs = 0, budget?: BodyBudget): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max)
    return Promise.reject(new GatehouseError('E_BODY_TOO_LARGE', `request body larger than ${max} bytes`));
  if (budget && Number.isFinite(declared) && !budget.fits(declared)) return Promise.reject(budget.refused());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (err: Error) => {
      clearTimeout(timer);
      req.removeAllListeners('data');
      req.pause();
      reject(err);
    };
    const timer =
      timeoutMs > 0
        ? setTimeout(
            () => stop(new GatehouseError('E_REQUEST_TIMEOUT', `request body not received within ${timeoutMs} ms`)),
            timeoutMs,
          )
        : undefined;
    timer?.unref();
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) return stop(new GatehouseError('E_BODY_TOO_LARGE', `request body larger than ${max} bytes`));
      if (budget && !budget.take(c.length)) return stop(budget.refused());
      chunks.push(c);
    });
    req.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(UTF8.decode(Buffer.concat(chunks)));
      } catch {
        reject(new GatehouseError('E_PARSE', 'parse error: body is not valid utf-8'));
      }
    });
    // The only error a request stream has is its connection closing before the body ended ('aborted'):
    // the client's doing, not the gateway's failure (clientGone below logs it at debug).
    req.on('error', () => {
      clearTimeout(timer);
      reject(new GatehouseError('E_CLIENT_GONE'));
    });
  });
}

/**
 * Whether `err` is a client that went away mid-body; logged at debug if so, and the caller does
 * nothing more (no one is left to answer, and nothing failed here).
 */
export function clientGone(err: unknown, log: Logger): boolean {
  if (!(err instanceof GatehouseError) || err.code !== 'E_CLIENT_GONE') return false;
  log.debug('the client went away before its request body arrived');
  return true;
}

/** One media range of an Accept header: type/subtype and its q (0 means "not acceptable"). */
function mediaRanges(accept: string): Array<{ type: string; q: number }> {
  return accept.split(',').map((part) => {
    const [type, ...params] = part.split(';').map((x) => x.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    const qv = q ? Number(q.slice(2)) : 1;
    return { type, q: Number.isFinite(qv) ? qv : 0 };
  });
}

function accepts(ranges: Array<{ type: string; q: number }>, type: string): boolean {
  const [major] = type.split('/');
  // The most specific range decides (RFC 9110 12.5.1): exact, then major/*, then */*.
  const exact =
    ranges.find((r) => r.type === type) ??
    ranges.find((r) => r.type === `${major}/*`) ??
    ranges.find((r) => r.type === '*/*');
  return exact !== undefined && exact.q > 0;
}

/** How a POST's answer may go: as an SSE stream or JSON as the gateway chooses, only JSON, or only SSE. */
export type SseAnswer = boolean | 'only';

/**
 * What a POST may be answered with. The client must send Accept (the transport spec: it MUST list
 * application/json and text/event-stream); a missing header, or one that accepts neither, is 406.
 * A client that accepts only one of them is still served in that one, because refusing it would gain
 * nothing: only JSON, plain JSON responses (no stream); only SSE (`'only'`), every answer as a
 * stream, never a JSON body its Accept refused (walk AA).
 */
export function acceptsJsonAndSse(accept: string | undefined): { ok: boolean; sse: SseAnswer } {
  if (!accept?.trim()) return { ok: false, sse: false };
  const ranges = mediaRanges(accept);
  const json = accepts(ranges, 'application/json');
  const sse = accepts(ranges, 'text/event-stream');
  return { ok: json || sse, sse: sse && !json ? 'only' : sse };
}

/** A GET stream needs Accept to list text/event-stream (the transport spec). */
export function acceptsSse(accept: string | undefined): boolean {
  return !!accept && accepts(mediaRanges(accept), 'text/event-stream');
}

/**
 * The body's media type: `application/json`, in UTF-8 (the only charset JSON has, RFC 8259), not
 * compressed. Anything else is 415 — a gzip body, or `charset=utf-7` (whose `+ADw-` spellings would
 * mean one thing here and another to whatever decodes it next), is refused, not guessed at.
 */
export function checkMediaType(contentType: string | undefined, contentEncoding: string | undefined): void {
  const [type, ...params] = (contentType ?? '').split(';').map((x) => x.trim());
  if (type.toLowerCase() !== 'application/json') throw new GatehouseError('E_UNSUPPORTED_MEDIA');
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    const name = p.slice(0, eq).trim().toLowerCase();
    const value = p
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
    if (name === 'charset' && value !== 'utf-8' && value !== 'utf8') {
      throw new GatehouseError('E_UNSUPPORTED_MEDIA', `unsupported charset \`${value.slice(0, 40)}\`: json is utf-8`);
    }
  }
  const enc = (contentEncoding ?? '').trim().toLowerCase();
  if (enc && enc !== 'identity')
    throw new GatehouseError(
      'E_UNSUPPORTED_MEDIA',
      `unsupported content-encoding \`${enc.slice(0, 40)}\`: send the body uncompressed`,
    );
}

/**
 * A record position from a query parameter (`after`): absent or empty is undefined; anything but a
 * whole number from 0 to 2^53 - 1 is refused, naming the parameter (it reaches the database).
 */
export function positionParam(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null || v === '') return undefined;
  const n = /^\d{1,16}$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n))
    throw new GatehouseError(
      'E_INVALID_PARAMS',
      `invalid params: \`${name}\` must be a record position (a whole number)`,
    );
  return n || undefined;
}

/**
 * How many records to answer, from a query parameter (`limit`): absent or empty is `fallback`;
 * anything but a whole number from 1 to `max` is refused, naming the parameter and what it accepts
 * (`abc`, `-5` or `0` silently answered as the default, or a larger number cut to `max`, would be
 * another page than the one asked for).
 */
export function countParam(query: URLSearchParams, name: string, fallback: number, max: number): number {
  const v = query.get(name);
  if (v === null || v === '') return fallback;
  const n = /^\d{1,16}$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= 1 && n <= max))
    throw new GatehouseError('E_INVALID_PARAMS', `invalid params: \`${name}\` must be a whole number from 1 to ${max}`);
  return n;
}

/** A time from a query parameter (`since`, `until`): absent or empty is undefined; one that does not parse is refused. */
export function timeParam(name: string, v: string | null | undefined): number | undefined {
  if (v === null || v === undefined || v === '') return undefined;
  const t = parseTime(v);
  if (t === undefined)
    throw new GatehouseError(
      'E_INVALID_PARAMS',
      `invalid params: \`${name}\` must be an ISO time or a duration ago (30m, 24h, 7d)`,
    );
  return t;
}
