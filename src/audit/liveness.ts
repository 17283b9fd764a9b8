/**
 * When another gateway may take this one for stopped, and what a call's outcome then says.
 *
 * Every gateway heartbeats once a second, by the store's clock (RevocationStore.heartbeat), and a
 * gateway closes as `call.unknown` the calls in flight of a writer whose heartbeat is older than
 * STOPPED_AFTER_MS by that same clock (Audit.closeOrphans). The grace is three times the window the
 * CLI waits on (LIVE_MS): a store pause or a busy event loop shorter than it costs nothing. A gateway
 * silent for longer (cut off from the store, frozen) may find a call of its own closed when it
 * finishes it; its outcome is then recorded as a late outcome naming the `call.unknown` record, and
 * logged, rather than contradicting it silently (ADR 0013).
 */
import type { AuditEvent } from '../model/audit-event.ts';
import type { Logger } from '../observability/logger.ts';
import type { AuditStore } from '../storage/types.ts';
import type { AuditInput } from './log.ts';

/** A writer whose heartbeat is older than this, by the store's clock, has stopped: its calls in flight are closed. */
export const STOPPED_AFTER_MS = 15_000;
/**
 * Heartbeats further apart than this (sent to taken, by this process's monotonic clock) mean another
 * gateway may have seen this one as stopped: half the grace, for the clocks' rates and the reads' delays.
 */
const AT_RISK_MS = STOPPED_AFTER_MS / 2;
/**
 * No heartbeat taken for this long (they go every second): the store is slow to answer now, so an
 * outcome written now may land after another gateway's look, whatever the silence so far.
 */
const STALLED_MS = 3000;

/** Pure: what this process knows of its own heartbeats. Times are performance.now(). */
export class HeartbeatGaps {
  #lastSent: number;
  #lastTaken: number;
  /** When the last silence of AT_RISK_MS or more ended (-Infinity: none yet). */
  #gapEnded = Number.NEGATIVE_INFINITY;

  constructor(now = performance.now()) {
    this.#lastSent = now;
    this.#lastTaken = now;
  }

  /** A heartbeat sent at `sentAt` was taken by the store at `takenAt`. */
  beat(sentAt: number, takenAt: number): void {
    if (takenAt - this.#lastSent >= AT_RISK_MS) this.#gapEnded = takenAt;
    this.#lastSent = Math.max(this.#lastSent, sentAt);
    this.#lastTaken = Math.max(this.#lastTaken, takenAt);
  }

  /**
   * Whether another gateway may have closed, or may close before its outcome lands, a call started at
   * `startedAt`: a silence long enough to look stopped overlapped it, or the store is stalled now.
   */
  atRisk(startedAt: number, now = performance.now()): boolean {
    return now - this.#lastSent >= AT_RISK_MS || this.#gapEnded > startedAt || now - this.#lastTaken >= STALLED_MS;
  }
}

export class Liveness {
  readonly gaps = new HeartbeatGaps();
  readonly #store: AuditStore;
  readonly #ops: Logger;

  constructor(store: AuditStore, ops: Logger) {
    this.#store = store;
    this.#ops = ops;
  }

  /**
   * The outcome record of `intent` as it is to be written: unchanged, unless this gateway was silent
   * long enough during the call and another closed the intent as `call.unknown` meanwhile; then it
   * says it is late and which record it follows (`detail.lateAfter`), and the gateway logs it. While
   * the store is stalled the question waits in line with the heartbeats sent before it, so it is
   * answered after they land, just before the outcome: a closer that read this gateway's heartbeat as
   * stale in the milliseconds before that, and wrote after the answer, is the one case left unmarked.
   */
  outcome(input: AuditInput, intent: AuditEvent, startedAt: number): AuditInput | Promise<AuditInput> {
    // Every call's outcome passes here: the healthy case answers at once, no promise made.
    return this.gaps.atRisk(startedAt) ? this.#lateOrNot(input, intent) : input;
  }

  async #lateOrNot(input: AuditInput, intent: AuditEvent): Promise<AuditInput> {
    const unknown = await this.#store.closedAsUnknown(intent).catch((err: Error) => {
      this.#ops.warn({ err: err.message, intent: intent.id }, 'audit: could not read whether a call was closed');
      return undefined;
    });
    if (!unknown) return input;
    this.#ops.warn(
      { intent: intent.id, unknown: unknown.id, by: unknown.stream },
      'audit: another gateway took this one for stopped and closed a call as unknown; its outcome is recorded as late',
    );
    const lateAfter = { id: unknown.id, stream: unknown.stream, seq: unknown.seq };
    return { ...input, detail: { ...input.detail, lateAfter } };
  }
}
