/**
 * HttpSink: Splunk HEC, Elasticsearch/OpenSearch `_bulk`, OTLP/HTTP JSON logs.
 *
 * Outcome rules (what the exporter does next):
 *   2xx                                   success (elastic: unless item errors, see below)
 *   408, 429, 5xx, network error, timeout SinkError (retryable; Retry-After honoured as a floor)
 *   any other status                      SinkRejected (not retryable: bad token, bad data...)
 *   elastic 200 + errors:true             success if every failed item is 409 (already there, from
 *                                         a retried `create`); SinkError if any item is 429/5xx;
 *                                         SinkRejected otherwise (mapping errors...)
 *   OTLP 200 + partialSuccess rejected>0  SinkRejected (the receiver says retrying will not help)
 * Header values (tokens) and URL credentials/queries never appear in an error message.
 */
import { OriginPool } from '../../util/http1/pool.ts';
import { type BodyReader, exchange } from '../../util/http1/exchange.ts';
import type { AuditEvent } from '../../model/audit-event.ts';
import { elasticBulk, otlpLogs, splunkHec, type OtlpResource, type SplunkHecOptions } from './formats.ts';
import { safeUrl, scrub, SinkError, SinkRejected, type Sink } from './sink.ts';

type HttpFormat = 'splunk-hec' | 'elastic-bulk' | 'otlp';

export interface HttpSinkOptions {
  name?: string;
  url: string;
  format: HttpFormat;
  /** e.g. { authorization: 'Splunk <token>' } or { authorization: 'ApiKey <key>' }. */
  headers?: Record<string, string>;
  /** Whole request, body included. Default 10 s. */
  timeoutMs?: number;
  /** Records per request; a larger batch is sent as several requests, in order. Default 500. */
  batchSize?: number;
  splunk?: SplunkHecOptions;
  /** Required for elastic-bulk. `op: 'create'` for data streams. */
  elastic?: { index: string; op?: 'index' | 'create' };
  /** Required for otlp. */
  otlp?: OtlpResource;
}

const MAX_RESPONSE = 16 * 1024 * 1024;

export class HttpSink implements Sink {
  readonly name: string;
  readonly #opts: HttpSinkOptions;
  readonly #secrets: string[];
  readonly #where: string;
  readonly #pool: OriginPool;
  /** Path and query of the URL (its user info is never sent: give credentials as headers). */
  readonly #path: string;

  constructor(opts: HttpSinkOptions) {
    if (opts.format === 'elastic-bulk' && !opts.elastic?.index) throw new Error('elastic-bulk needs elastic.index');
    if (opts.format === 'otlp' && !opts.otlp) throw new Error('otlp needs otlp.serviceName and otlp.serviceInstanceId');
    this.#opts = opts;
    this.name = opts.name ?? `http:${opts.format}`;
    this.#where = safeUrl(opts.url);
    if (!URL.canParse(opts.url)) throw new Error(`${this.name}: the url is not a url`);
    const target = new URL(opts.url);
    this.#pool = new OriginPool(target.origin, { connections: 4, keepAliveMs: 10_000 });
    this.#path = `${target.pathname}${target.search}`;
    // Everything that could leak: header values and the URL's user info / query.
    const u = URL.canParse(opts.url) ? new URL(opts.url) : undefined;
    const query = u ? [u.search.slice(1), ...u.searchParams.values()] : [];
    this.#secrets = [
      ...Object.values(opts.headers ?? {}),
      u ? decodeURIComponent(u.password) : '',
      u?.password ?? '',
      ...query,
    ]
      .filter((s) => s.length > 0)
      .sort((a, b) => b.length - a.length); // longest first, so a token inside a header value is covered whole
  }

  async send(batch: AuditEvent[]): Promise<void> {
    const size = Math.max(1, this.#opts.batchSize ?? 500);
    for (let i = 0; i < batch.length; i += size) await this.#post(batch.slice(i, i + size));
  }

  async close(): Promise<void> {
    await this.#pool.destroy();
  }

  #body(events: AuditEvent[]): { body: string; contentType: string } {
    const o = this.#opts;
    if (o.format === 'splunk-hec')
      return { body: events.map((e) => splunkHec(e, o.splunk)).join('\n'), contentType: 'application/json' };
    // The constructor refuses these formats without their options; the checks here are for the type.
    if (o.format === 'elastic-bulk') {
      if (!o.elastic) throw new Error('elastic-bulk needs elastic.index');
      return { body: elasticBulk(events, o.elastic.index, o.elastic.op), contentType: 'application/x-ndjson' };
    }
    if (!o.otlp) throw new Error('otlp needs otlp.serviceName and otlp.serviceInstanceId');
    return { body: JSON.stringify(otlpLogs(events, o.otlp)), contentType: 'application/json' };
  }

  #fail(text: string): string {
    return scrub(`${this.name}: POST ${this.#where}: ${text}`, this.#secrets);
  }

  async #post(events: AuditEvent[]): Promise<void> {
    const { body, contentType } = this.#body(events);
    const timeoutMs = this.#opts.timeoutMs ?? 10_000;
    let status = 0;
    let text: string;
    let retryAfter: string | string[] | undefined;
    try {
      text = await exchange(
        this.#pool,
        { method: 'POST', path: this.#path, headers: { ...this.#opts.headers, 'content-type': contentType }, body },
        AbortSignal.timeout(timeoutMs),
        (s, h) => {
          status = s;
          retryAfter = h['retry-after'];
          return cappedText();
        },
      );
    } catch (err) {
      const e = err as { code?: string; message?: string; name?: string };
      const why =
        e.name === 'TimeoutError'
          ? `timed out after ${timeoutMs} ms`
          : `${e.code ?? e.name ?? 'error'}: ${e.message ?? String(err)}`;
      throw new SinkError(this.#fail(why));
    }
    if (status >= 200 && status < 300) return this.#checkBody(text);
    const detail = `HTTP ${status}${text ? ` ${text.slice(0, 200)}` : ''}`;
    if (status === 408 || status === 429 || status >= 500)
      throw new SinkError(this.#fail(detail), { status, retryAfterMs: parseRetryAfter(retryAfter) });
    throw new SinkRejected(this.#fail(detail), { status });
  }

  /** A 2xx can still carry a per-record failure (elastic item errors, OTLP partial success). */
  #checkBody(text: string): void {
    if (this.#opts.format === 'elastic-bulk') {
      const r = parse(text) as
        | {
            errors?: boolean;
            items?: Array<Record<string, { status?: number; error?: { type?: string; reason?: string } }>>;
          }
        | undefined;
      if (!r?.errors) return;
      const failed = (r.items ?? []).map((i) => Object.values(i)[0]).filter((i) => i && (i.status ?? 0) >= 300);
      const real = failed.filter((i) => i.status !== 409);
      if (real.length === 0) return; // every failure is "already exists": a retried create
      const first = real[0];
      const detail =
        `bulk: ${real.length} item(s) failed, first: ${first.status} ${first.error?.type ?? ''} ${first.error?.reason ?? ''}`.slice(
          0,
          300,
        );
      if (real.some((i) => i.status === 429 || (i.status ?? 0) >= 500))
        throw new SinkError(this.#fail(detail), { status: 200 });
      throw new SinkRejected(this.#fail(detail), { status: 200 });
    }
    if (this.#opts.format === 'otlp') {
      const r = parse(text) as
        | { partialSuccess?: { rejectedLogRecords?: string | number; errorMessage?: string } }
        | undefined;
      const rejected = Number(r?.partialSuccess?.rejectedLogRecords ?? 0);
      if (rejected > 0)
        throw new SinkRejected(
          this.#fail(`partial success: ${rejected} rejected: ${r?.partialSuccess?.errorMessage ?? ''}`),
          { status: 200 },
        );
    }
  }
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The answer's text, up to MAX_RESPONSE bytes: a hostile or broken endpoint cannot make us buffer without bound. */
function cappedText(): BodyReader<string> {
  const parts: Buffer[] = [];
  let n = 0;
  return {
    data(chunk) {
      if (n + chunk.length <= MAX_RESPONSE) parts.push(chunk);
      n += chunk.length;
    },
    get full() {
      return n > MAX_RESPONSE;
    },
    end: () => Buffer.concat(parts).toString('utf8'),
  };
}

/** Retry-After as milliseconds (delta-seconds or an HTTP date), bounded to an hour. */
export function parseRetryAfter(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return undefined;
  const ms = /^\d+$/.test(s.trim()) ? Number(s.trim()) * 1000 : Date.parse(s) - Date.now();
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, 3_600_000) : undefined;
}
