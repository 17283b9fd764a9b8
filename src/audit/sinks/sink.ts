/**
 * The one interface every audit sink implements, and the two error classes the exporter acts on.
 *
 * Contract: `send` resolves only once the batch is durable at the destination (as far as the
 * transport can tell) and throws otherwise; the exporter then retries the same batch, so a sink
 * must tolerate receiving a record twice (destinations dedupe by (stream, seq)).
 */
import type { AuditEvent } from '../../model/audit-event.ts';

export interface Sink {
  readonly name: string;
  /** Throws on failure: `SinkError` (retryable) or `SinkRejected` (the destination refused the data). */
  send(batch: AuditEvent[]): Promise<void>;
  close(): Promise<void>;
}

/** A transient failure (network, timeout, 429, 5xx): retry the same batch after a backoff. */
export class SinkError extends Error {
  readonly retryable: boolean = true;
  readonly status: number | undefined;
  /** The destination's Retry-After, when it sent one (a floor for the next backoff). */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, opts: { status?: number; retryAfterMs?: number } = {}) {
    super(message);
    this.name = 'SinkError';
    this.status = opts.status;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/**
 * The destination refused the data or the credentials (4xx other than 408/429, a bulk item rejected
 * by mapping, an OTLP partial success). Retrying soon will not help, but the records must not be
 * dropped: the exporter keeps the cursor, surfaces the error in `status()`, and retries only at its
 * slowest cadence (backoff.maxMs) until an operator fixes the destination or the configuration.
 */
export class SinkRejected extends SinkError {
  override readonly retryable: boolean = false;
  constructor(message: string, opts: { status?: number } = {}) {
    super(message, opts);
    this.name = 'SinkRejected';
  }
}

/**
 * Removes every secret (header values, URL credentials) from a text meant for errors, logs or status,
 * and strips control characters so an error message cannot forge log lines. Secrets shorter than 4
 * characters are not scrubbed (they would mangle ordinary text; such values are not real secrets).
 */
export function scrub(text: string, secrets: readonly string[], max = 500): string {
  let out = text;
  for (const s of secrets) {
    if (s.length < 4) continue;
    out = out.split(s).join('[REDACTED]');
    // An `Authorization: Splunk <token>` value: the token alone may also be quoted somewhere.
    const last = s.split(/\s+/).pop() ?? '';
    if (last !== s && last.length >= 8) out = out.split(last).join('[REDACTED]');
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this blanks out
  out = out.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  return out.length > max ? `${out.slice(0, max)}…` : out;
}

/** A URL safe to show: no user info, no query (tokens hide there), no fragment. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '[invalid url]';
  }
}
