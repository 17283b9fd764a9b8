/**
 * Exporter: pushes audit records to one sink, in order, at least once.
 *
 * Loop: read up to `batchSize` records after the persisted cursor, send them, and only once the sink
 * says they are delivered, persist the cursor at the last position. A failed send is retried with the
 * SAME batch (kept in memory, not re-read) after an exponential backoff with jitter, bounded by
 * `backoff.maxMs`; a crash between send and cursor write resends the batch at the next start. So a
 * destination may see a record twice, never out of order per stream (one sender, batches in position
 * order), and never a gap: duplicates are removed by (stream, seq).
 *
 * Non-retryable errors (SinkRejected: bad token, mapping error, partial rejection): nothing is dropped
 * and the cursor does not move. The exporter marks itself `rejected` in status() (and calls onError),
 * and keeps retrying the same batch, but only every `backoff.maxMs`, so a fix at the destination
 * (token re-enabled, mapping fixed) resumes the export by itself. A record the destination will never
 * accept blocks the export until an operator acts: that is deliberate (an audit export with a silent
 * hole is worse than a stalled one, which status and alerts make visible).
 */
import type { AuditEvent } from '../../model/audit-event.ts';
import { equalJitter, nthDelay } from '../../util/backoff.ts';
import { scrub, SinkError, type Sink } from './sink.ts';

export interface AuditSource {
  /** Records with position > afterPosition, ascending, at most `limit`. */
  read(afterPosition: number, limit: number): Promise<Array<{ position: number; event: AuditEvent }>>;
}

export interface CursorStore {
  /** The last delivered position for this exporter (0 when none). */
  get(name: string): Promise<number>;
  set(name: string, position: number): Promise<void>;
}

export interface ExporterOptions {
  name: string;
  sink: Sink;
  source: AuditSource;
  cursors: CursorStore;
  batchSize?: number;
  backoff?: { initialMs: number; maxMs: number };
  /** Idle poll when caught up (default 1000 ms); `notify()` wakes the loop earlier. */
  pollMs?: number;
  /** Called with a sanitised message on every failed attempt (for logs and metrics). */
  onError?: (message: string, retryable: boolean) => void;
  /** Extra strings to scrub from error texts (the sinks already scrub their own secrets). */
  secrets?: string[];
  /** For tests: the jitter source, in [0, 1). */
  random?: () => number;
}

export interface ExporterStatus {
  name: string;
  /** Last delivered position (undefined before the first read of the cursor store). */
  cursor: number | undefined;
  /** Sanitised message of the last failure; cleared by a success. */
  lastError: string | undefined;
  /** Consecutive failed attempts (0 after a success). */
  failures: number;
  /** The last failure was non-retryable: the export is blocked until the destination accepts. */
  rejected: boolean;
  /** ISO time of the last delivered batch. */
  lastSuccessAt: string | undefined;
  /** Records waiting in the batch being retried. */
  pending: number;
  running: boolean;
}

export class Exporter {
  readonly name: string;
  readonly #o: ExporterOptions;
  #cursor: number | undefined;
  #pending: Array<{ position: number; event: AuditEvent }> = [];
  #lastError: string | undefined;
  #failures = 0;
  #rejected = false;
  #lastSuccessAt: string | undefined;
  #loop: Promise<void> | undefined;
  #stopping = false;
  #draining = false;
  #wake: (() => void) | undefined;

  constructor(opts: ExporterOptions) {
    this.#o = opts;
    this.name = opts.name;
  }

  status(): ExporterStatus {
    return {
      name: this.name,
      cursor: this.#cursor,
      lastError: this.#lastError,
      failures: this.#failures,
      rejected: this.#rejected,
      lastSuccessAt: this.#lastSuccessAt,
      pending: this.#pending.length,
      running: this.#loop !== undefined,
    };
  }

  /**
   * Sends everything available now, batch after batch, then returns the number of records delivered.
   * On a failure it records it in status() and throws (no backoff: the caller decides). Not to be
   * called while the background loop runs.
   */
  async runOnce(): Promise<number> {
    if (this.#loop || this.#draining)
      throw new Error(`exporter ${this.name}: runOnce while another run is in progress`);
    this.#draining = true; // two concurrent drains would send the same batch twice, out of order
    try {
      let sent = 0;
      for (;;) {
        const n = await this.#step();
        if (n === 0) return sent;
        sent += n;
      }
    } finally {
      this.#draining = false;
    }
  }

  /** Starts the background loop (idempotent). Failures never escape as unhandled rejections. */
  start(): void {
    if (this.#loop) return;
    if (this.#draining) throw new Error(`exporter ${this.name}: start while runOnce is in progress`);
    this.#stopping = false;
    this.#loop = this.#run().finally(() => (this.#loop = undefined));
  }

  /** Stops the loop; waits for an in-flight send (and its cursor write) to finish. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.#loop;
  }

  /** New records were appended: skip the rest of the idle wait (not a failure backoff). */
  notify(): void {
    if (this.#failures === 0) this.#wake?.();
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      let wait: number;
      try {
        const n = await this.#step();
        wait = n > 0 ? 0 : (this.#o.pollMs ?? 1000);
      } catch (err) {
        wait = this.#delay(err);
      }
      if (wait > 0 && !this.#stopping) await this.#sleep(wait);
    }
  }

  /** One batch: read (or reuse the pending one), send, persist the cursor. Returns records delivered. */
  async #step(): Promise<number> {
    try {
      if (this.#pending.length === 0) {
        // The cursor is shared by every replica exporting to this sink: what another one sent since
        // is not sent again (only a batch two replicas read at the same moment goes twice).
        this.#cursor = Math.max(this.#cursor ?? 0, await this.#o.cursors.get(this.name));
        this.#pending = await this.#o.source.read(this.#cursor, Math.max(1, this.#o.batchSize ?? 500));
      }
      const batch = this.#pending;
      if (batch.length === 0) return 0;
      await this.#o.sink.send(batch.map((r) => r.event));
      const last = batch[batch.length - 1].position;
      await this.#o.cursors.set(this.name, last); // a failure here resends the batch: a duplicate, not a loss
      this.#cursor = last;
      this.#pending = [];
      this.#failures = 0;
      this.#rejected = false;
      this.#lastError = undefined;
      this.#lastSuccessAt = new Date().toISOString();
      return batch.length;
    } catch (err) {
      this.#failures++;
      this.#rejected = err instanceof SinkError && !err.retryable;
      this.#lastError = scrub(`${(err as Error)?.message ?? String(err)}`, this.#o.secrets ?? []);
      try {
        this.#o.onError?.(this.#lastError, !this.#rejected);
      } catch {
        // a broken callback must not break the loop
      }
      throw err;
    }
  }

  /** Backoff before retrying: exponential, "equal jitter" (never zero), bounded; rejected → maxMs. */
  #delay(err: unknown): number {
    const { initialMs, maxMs } = this.#o.backoff ?? { initialMs: 500, maxMs: 60_000 };
    if (this.#rejected) return maxMs;
    const jittered = equalJitter(nthDelay(initialMs, this.#failures, maxMs), this.#o.random);
    const floor = err instanceof SinkError ? (err.retryAfterMs ?? 0) : 0;
    return Math.min(maxMs, Math.max(jittered, floor));
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }
}
