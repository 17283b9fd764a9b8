/**
 * Traces: a span per request (SERVER) with a child span per pipeline stage (INTERNAL), W3C Trace
 * Context in and out, exported over OTLP/HTTP as JSON in batches. Hand-written rather than the
 * OpenTelemetry SDK: what is needed is one span shape, one propagator and one exporter (about 250
 * lines), where the SDK brings a dozen packages and tens of MB of RSS to a process whose idle
 * footprint is measured (docs/architecture/0013-scale-out.md).
 *
 * - A caller's `traceparent` is taken only when trusted (`trust`): from a proxy the operator named
 *   (`gateway.trustedProxies`), from authenticated callers, or never. Otherwise a new trace starts:
 *   an untrusted caller cannot choose the ids that land in audit records, nor switch sampling off.
 * - The trace id is the request's `traceId` (audit records and log lines carry it).
 * - Upstream HTTP requests made while a stage runs carry that stage's `traceparent` (AsyncLocalStorage:
 *   no argument threaded through the upstream layer).
 * - Spans are telemetry, not the audit: the queue is bounded and drops (counted) when the collector
 *   is away; a failed export is logged at most once a minute and never slows a call.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { attachment } from '../util/attach.ts';

export interface SpanContext {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

/** `traceparent` (version 00): ids of the right length, lowercase hex, not all zeros; else undefined. */
export function parseTraceparent(value: string | undefined): (SpanContext & { parentSpanId: string }) | undefined {
  if (!value) return undefined;
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(value.trim());
  if (!m || m[1] === 'ff' || /^0+$/.test(m[2]) || /^0+$/.test(m[3])) return undefined;
  return { traceId: m[2], spanId: m[3], parentSpanId: m[3], sampled: (parseInt(m[4], 16) & 1) === 1 };
}

export function formatTraceparent(c: SpanContext): string {
  return `00-${c.traceId}-${c.spanId}-${c.sampled ? '01' : '00'}`;
}

const newTraceId = (): string => randomBytes(16).toString('hex');
const newSpanId = (): string => randomBytes(8).toString('hex');

type AttrValue = string | number | boolean;

/** A finished span in OTLP/JSON form (ids hex, times as decimal nanoseconds). */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Array<{ key: string; value: Record<string, AttrValue> }>;
  status: { code: number; message?: string };
}

const SPAN_KIND = { internal: 1, server: 2 } as const;

function nowNanos(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
}

function attr(key: string, v: AttrValue): OtlpSpan['attributes'][number] {
  return { key, value: attrValue(v) };
}

/** OTLP's typed value: a string, a boolean, an integer or a double. */
function attrValue(v: AttrValue): OtlpSpan['attributes'][number]['value'] {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Number.isInteger(v)) return { intValue: v };
  return { doubleValue: v };
}

export class Span {
  readonly context: SpanContext;
  readonly #parent: string | undefined;
  readonly #name: string;
  readonly #kind: number;
  readonly #start = nowNanos();
  readonly #attrs: Record<string, AttrValue> = {};
  readonly #sink: (s: OtlpSpan) => void;
  #ended = false;

  constructor(
    name: string,
    kind: number,
    context: SpanContext,
    parent: string | undefined,
    sink: (s: OtlpSpan) => void,
  ) {
    this.#name = name;
    this.#kind = kind;
    this.context = context;
    this.#parent = parent;
    this.#sink = sink;
  }

  set(key: string, value: AttrValue | undefined): this {
    if (value !== undefined) this.#attrs[key] = typeof value === 'string' ? value.slice(0, 256) : value;
    return this;
  }

  end(error?: string): void {
    if (this.#ended) return;
    this.#ended = true;
    if (!this.context.sampled) return;
    this.#sink({
      traceId: this.context.traceId,
      spanId: this.context.spanId,
      ...(this.#parent ? { parentSpanId: this.#parent } : {}),
      name: this.#name,
      kind: this.#kind,
      startTimeUnixNano: this.#start.toString(),
      endTimeUnixNano: nowNanos().toString(),
      attributes: Object.entries(this.#attrs).map(([k, v]) => attr(k, v)),
      status: error ? { code: 2, message: error } : { code: 0 },
    });
  }
}

export interface ExporterOptions {
  /** The full traces URL (`.../v1/traces`). */
  url: string;
  headers?: Record<string, string>;
  serviceName?: string;
  /** Resource attributes besides service.name (service.instance.id, say). */
  resource?: Record<string, AttrValue>;
  /** Flush at least this often; default 1000 ms. */
  intervalMs?: number;
  /** Spans per request; default 512. */
  maxBatch?: number;
  /** Spans waiting at most; beyond this new spans are dropped (counted). Default 4096. */
  maxQueue?: number;
  timeoutMs?: number;
  onError?: (err: Error) => void;
}

/** OTLP/HTTP with JSON bodies, batched. */
export class OtlpHttpExporter {
  readonly #o: Required<Omit<ExporterOptions, 'headers' | 'resource' | 'onError'>> &
    Pick<ExporterOptions, 'headers' | 'resource' | 'onError'>;
  #queue: OtlpSpan[] = [];
  readonly #timer: NodeJS.Timeout;
  #inflight: Promise<void> = Promise.resolve();
  dropped = 0;
  exported = 0;

  constructor(o: ExporterOptions) {
    this.#o = { intervalMs: 1000, maxBatch: 512, maxQueue: 4096, timeoutMs: 10_000, serviceName: 'gatehouse', ...o };
    this.#timer = setInterval(() => void this.flush(), this.#o.intervalMs);
    this.#timer.unref();
  }

  add(span: OtlpSpan): void {
    if (this.#queue.length >= this.#o.maxQueue) {
      this.dropped++;
      return;
    }
    this.#queue.push(span);
    if (this.#queue.length >= this.#o.maxBatch) void this.flush();
  }

  /** Send what is queued (one batch after another); resolves when sent or given up. */
  flush(): Promise<void> {
    this.#inflight = this.#inflight.then(async () => {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#o.maxBatch);
        await this.#send(batch);
      }
    });
    return this.#inflight;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }

  async #send(spans: OtlpSpan[]): Promise<void> {
    const resource = { 'service.name': this.#o.serviceName, ...this.#o.resource };
    const body = JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: Object.entries(resource).map(([k, v]) => attr(k, v)) },
          scopeSpans: [{ scope: { name: 'gatehouse' }, spans }],
        },
      ],
    });
    try {
      const r = await fetch(this.#o.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...this.#o.headers },
        body,
        signal: AbortSignal.timeout(this.#o.timeoutMs),
      });
      await r.arrayBuffer().catch(() => undefined);
      if (!r.ok) throw new Error(`the collector answered ${r.status}`);
      this.exported += spans.length;
    } catch (err) {
      this.dropped += spans.length;
      this.#o.onError?.(err as Error);
    }
  }
}

/** Whose `traceparent` is believed: a trusted proxy's, an authenticated caller's, or nobody's. */
type TraceparentTrust = 'proxies' | 'authenticated' | 'never';

export interface TracerOptions {
  exporter: { add(s: OtlpSpan): void; close(): Promise<void> };
  trust: TraceparentTrust;
  /** `gateway.trustedProxies` (read per request: a reload applies). */
  trustedProxies: () => readonly string[];
  /** Fraction of new traces recorded (a trusted parent's decision is kept); default 1. */
  ratio?: number;
  /** One debug line per request with its trace id (correlates the operational log with traces and audit). */
  log?: { debug(o: object, m: string): void };
}

/** What the tracer needs of a request context (the pipeline's RequestContext has these). */
interface TraceableContext {
  traceId: string;
  principal: { authenticated: boolean };
}

const current = new AsyncLocalStorage<SpanContext>();

/** The `traceparent` for an outgoing request made now (inside a traced stage), or undefined. */
export function currentTraceparent(): string | undefined {
  const c = current.getStore();
  return c ? formatTraceparent(c) : undefined;
}

export class Tracer {
  readonly #o: TracerOptions;
  readonly #requests = attachment<Span>('requestSpan');
  readonly #sink: (s: OtlpSpan) => void;

  constructor(o: TracerOptions) {
    this.#o = o;
    this.#sink = (s) => o.exporter.add(s);
  }

  /** The caller's trace context when `req` may set it; undefined otherwise (a new trace starts). */
  trustedParent(req: IncomingMessage | undefined, authenticated: boolean): ReturnType<typeof parseTraceparent> {
    if (!req || this.#o.trust === 'never') return undefined;
    const raw = req.headers.traceparent;
    const value = Array.isArray(raw) ? undefined : raw; // two traceparent headers: neither is believed
    if (this.#o.trust === 'authenticated') return authenticated ? parseTraceparent(value) : undefined;
    const peer = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    return this.#o.trustedProxies().includes(peer) ? parseTraceparent(value) : undefined;
  }

  /**
   * Run one request in its SERVER span. Sets `ctx.traceId` (from a trusted parent, else new) before
   * anything is recorded, so audit records and logs carry the trace id.
   */
  async request<T>(
    ctx: TraceableContext,
    method: string,
    req: IncomingMessage | undefined,
    run: () => Promise<T>,
  ): Promise<T> {
    const parent = this.trustedParent(req, ctx.principal.authenticated);
    const traceId = parent?.traceId ?? newTraceId();
    const sampled = parent ? parent.sampled : Math.random() < (this.#o.ratio ?? 1);
    ctx.traceId = traceId;
    const span = new Span(
      method,
      SPAN_KIND.server,
      { traceId, spanId: newSpanId(), sampled },
      parent?.spanId,
      this.#sink,
    )
      .set('rpc.system', 'jsonrpc')
      .set('rpc.method', method);
    this.#requests.set(ctx, span);
    const started = performance.now();
    let error: string | undefined;
    try {
      const out = await current.run(span.context, run);
      span.end();
      return out;
    } catch (err) {
      error = (err as { code?: string }).code ?? 'error';
      span.set('error.type', error).end((err as Error).message?.slice(0, 200));
      throw err;
    } finally {
      this.#o.log?.debug(
        {
          traceId,
          spanId: span.context.spanId,
          method,
          ms: Math.round((performance.now() - started) * 1000) / 1000,
          ...(error ? { error } : {}),
        },
        'request',
      );
    }
  }

  /** Run one pipeline stage in an INTERNAL span, the child of its request's span. */
  async stage<T>(
    ctx: object,
    name: string,
    run: () => T | Promise<T>,
    attrs: Record<string, AttrValue | undefined> = {},
  ): Promise<T> {
    const parent = this.#requests.get(ctx);
    if (!parent) return run();
    const span = new Span(
      `stage ${name}`,
      SPAN_KIND.internal,
      { ...parent.context, spanId: newSpanId() },
      parent.context.spanId,
      this.#sink,
    ).set('gatehouse.stage', name);
    for (const [k, v] of Object.entries(attrs)) span.set(k, v);
    try {
      const out = await current.run(span.context, run);
      span.end();
      return out;
    } catch (err) {
      span.set('error.type', (err as { code?: string }).code ?? 'error').end((err as Error).message?.slice(0, 200));
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.#o.exporter.close();
  }
}

/**
 * A tracer from the standard OpenTelemetry environment variables, or undefined when no endpoint is
 * set: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is) or OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/traces),
 * OTEL_EXPORTER_OTLP_HEADERS (`k=v,k2=v2`), OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER_ARG (a ratio);
 * GATEHOUSE_TRACEPARENT_TRUST = proxies (default) | authenticated | never.
 */
export function tracerFromEnv(
  env: NodeJS.ProcessEnv,
  trustedProxies: () => readonly string[],
  log: { debug(o: object, m: string): void; warn(o: object, m: string): void },
  resource: Record<string, AttrValue> = {},
): Tracer | undefined {
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || (base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined);
  if (!url || env.OTEL_TRACES_EXPORTER === 'none' || env.OTEL_SDK_DISABLED === 'true') return undefined;
  const headers: Record<string, string> = {};
  for (const pair of (env.OTEL_EXPORTER_OTLP_HEADERS ?? '').split(',')) {
    const i = pair.indexOf('=');
    if (i > 0) headers[decodeURIComponent(pair.slice(0, i).trim())] = decodeURIComponent(pair.slice(i + 1).trim());
  }
  const trust =
    (['proxies', 'authenticated', 'never'] as const).find((t) => t === env.GATEHOUSE_TRACEPARENT_TRUST) ?? 'proxies';
  const ratio =
    env.OTEL_TRACES_SAMPLER_ARG === undefined ? 1 : Math.min(1, Math.max(0, Number(env.OTEL_TRACES_SAMPLER_ARG) || 0));
  const interval = Number(env.OTEL_BSP_SCHEDULE_DELAY);
  let warnedAt = 0;
  const onError = (err: Error) => {
    if (Date.now() - warnedAt < 60_000) return;
    warnedAt = Date.now();
    log.warn({ err: err.message, url }, 'tracing: spans not exported (dropped; counted)');
  };
  const exporter = new OtlpHttpExporter({
    url,
    headers,
    serviceName: env.OTEL_SERVICE_NAME || 'gatehouse',
    resource,
    intervalMs: interval > 0 ? interval : 1000,
    onError,
  });
  return new Tracer({ exporter, trust, trustedProxies, ratio, log });
}
