/**
 * The audit trail of one gateway process: its stream (AuditLog), what it keeps of calls
 * (CallRecorder), recovery of calls a previous process left without an outcome, mirroring of
 * inventory events, and retention. Fail closed: when the store cannot take the write-ahead record,
 * WRITE and DESTRUCTIVE calls are refused, READ calls as configured.
 */
import type { AuditConfig } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { AuditStore, InventoryEventInput } from '../storage/types.ts';
import { AuditLog, newStreamName, stateDirCheckpoints, type AuditInput } from './log.ts';
import { CallRecorder } from './calls.ts';
import type { AuditEvent } from '../model/audit-event.ts';
import { AuditExports } from './exports.ts';
import { Liveness } from './liveness.ts';

const DAY_MS = 86_400_000;
const PRUNE_EVERY_MS = 3_600_000;
/**
 * How often the calls of a writer that stopped are looked for while the gateway runs: a writer counts
 * as stopped once its last heartbeat is STOPPED_AFTER_MS (15 s) old by the store's clock (liveness.ts),
 * so a process restarted at once finds the calls of the one before it still "live" at start, and
 * closes them here: at most 25 s after that writer's last heartbeat.
 */
const ORPHANS_EVERY_MS = 10_000;

export class Audit {
  readonly log: AuditLog;
  readonly store: AuditStore;
  recorder: CallRecorder;
  config: AuditConfig;
  readonly #ops: Logger;
  readonly #stateDir: string;
  #pruner: NodeJS.Timeout | undefined;
  /** The prune under way (one at a time), and what stops it between chunks when the log closes. */
  #pruning: Promise<number> | undefined;
  readonly #stopPruning = new AbortController();
  #orphans: NodeJS.Timeout | undefined;
  exports: AuditExports;
  /** Failed export attempts, by export (set by the composition root: the metrics count them). */
  exportFailed: (name: string, attempts: number) => void = () => {};
  /**
   * The streams of writers still running (set by the composition root: gateways heartbeat under their
   * stream's name, and the store reads them within STOPPED_AFTER_MS by its own clock, never this
   * process's). Their calls in flight are theirs to close; only a stopped writer's are orphans.
   */
  liveStreams: () => Promise<readonly string[]> = async () => [];
  /** This gateway's own heartbeats, and the late outcome of a call another gateway closed meanwhile. */
  readonly liveness: Liveness;

  constructor(store: AuditStore, config: AuditConfig, ops: Logger, stateDir: string, stream = newStreamName('gw')) {
    this.store = store;
    this.config = config;
    this.#ops = ops;
    this.liveness = new Liveness(store, ops);
    this.#stateDir = stateDir;
    // Signed checkpoints (checkpoint.ts) with the state directory's key, so a cut stream is detectable.
    this.log = new AuditLog(
      store,
      stream,
      () => this.exports.notify(),
      stateDirCheckpoints(stateDir, config.checkpoints),
    );
    this.log.durability = config.durability ?? 'process-crash';
    this.recorder = new CallRecorder(config);
    this.exports = new AuditExports(config.exports, store, stateDir, ops, (n, a) => this.exportFailed(n, a));
  }

  /** Open the stream, close out what a stopped process left open (now and every 10 s), start retention. */
  async start(detail: Record<string, unknown>, exports = true): Promise<void> {
    await this.log.append({ kind: 'stream.opened', detail });
    await this.closeOrphans();
    this.#orphans = setInterval(
      () =>
        void this.closeOrphans().catch((err: Error) =>
          this.#ops.error({ err: err.message }, 'audit: closing calls of stopped writers failed'),
        ),
      ORPHANS_EVERY_MS,
    );
    this.#orphans.unref();
    const pruneNow = () =>
      void this.prune().catch((err: Error) => this.#ops.error({ err: err.message }, 'audit: pruning failed'));
    this.#pruner = setInterval(pruneNow, PRUNE_EVERY_MS);
    this.#pruner.unref();
    // Not awaited: the first prune after retention is turned on over a long trail takes minutes (in
    // chunks that leave calls their turn), and the gateway serves meanwhile instead of waiting to listen.
    pruneNow();
    if (exports) this.exports.start();
  }

  /**
   * Marks `call.unknown` the calls whose writer stopped before recording an outcome: intents of
   * streams other than this one and the live writers'. A gateway still running (another replica, the
   * stdio command) keeps its calls in flight. The number closed.
   */
  async closeOrphans(): Promise<number> {
    const open = await this.store.openIntents([this.log.stream, ...(await this.liveStreams())]);
    await this.#recordReplays();
    for (const i of open) {
      await this.log.append({
        kind: 'call.unknown',
        intent: i.id,
        outcome: 'unknown',
        requestId: i.requestId,
        sessionId: i.sessionId,
        runId: i.runId,
        traceId: i.traceId,
        actor: i.actor,
        client: i.client,
        server: i.server,
        tool: i.tool,
        class: i.class,
        argsHash: i.argsHash,
        detail: {
          reason: 'no outcome was recorded: the process handling the call stopped before it finished',
          stream: i.stream,
          seq: i.seq,
        },
      });
    }
    if (open.length)
      this.#ops.warn({ count: open.length }, 'audit: calls without a recorded outcome were marked unknown');
    return open.length;
  }

  /**
   * The spools of stopped writers the store replayed (embedded store, ADR 0015), each recorded once:
   * how many records were stored, a torn last line dropped, a line that stopped the replay (the file
   * is kept for the operator: an error in the gateway's log too). Also logs, every 10 s, records
   * the store cannot take.
   */
  async #recordReplays(): Promise<void> {
    const spool = this.store.spool?.();
    if (spool?.lastError)
      this.#ops.error(
        { pending: spool.pending, err: spool.lastError },
        'audit: spooled records cannot be stored; calls fail closed until they are',
      );
    for (const r of spool?.replayed ?? []) {
      if (r.stopped)
        this.#ops.error(
          { file: r.file, line: r.stopped.line, reason: r.stopped.reason },
          'audit: a spool file stopped replaying; it is kept for the operator',
        );
      else if (r.torn) this.#ops.warn({ file: r.file, torn: r.torn }, 'audit: a spool file ended in a torn line');
      await this.log.append({ kind: 'audit.replayed', outcome: r.stopped ? 'error' : 'ok', detail: { ...r } });
    }
  }

  /** Apply a reloaded config (capture modes, redaction, retention). */
  async reconfigure(config: AuditConfig): Promise<void> {
    const exportsChanged = JSON.stringify(config.exports) !== JSON.stringify(this.config.exports);
    this.config = config;
    this.log.durability = config.durability ?? 'process-crash';
    this.recorder = new CallRecorder(config);
    if (exportsChanged) {
      await this.exports.stop();
      this.exports = new AuditExports(config.exports, this.store, this.#stateDir, this.#ops, (n, a) =>
        this.exportFailed(n, a),
      );
      this.exports.start();
    }
  }

  /** The retention actually applied, given the configured one (set by the composition root: shortening needs two people). */
  retentionGuard: ((configured: number) => Promise<number>) | undefined;

  /** Prune what retention lets go (one run at a time: a run still going is waited for, not doubled). */
  prune(now = Date.now()): Promise<number> {
    this.#pruning ??= this.#prune(now).finally(() => {
      this.#pruning = undefined;
    });
    return this.#pruning;
  }

  async #prune(now: number): Promise<number> {
    const days = this.retentionGuard ? await this.retentionGuard(this.config.retentionDays) : this.config.retentionDays;
    if (!days || this.#stopPruning.signal.aborted) return 0;
    const removed = await this.store.prune(now - days * DAY_MS, this.#stopPruning.signal);
    if (removed) await this.log.append({ kind: 'audit.pruned', detail: { removed, olderThanDays: days } });
    return removed;
  }

  /** Best effort for records nothing waits on (a failure is logged, and counted by the log). */
  record(input: AuditInput): Promise<AuditEvent | undefined> {
    return this.log.append(input).catch((err: Error) => {
      this.#ops.error({ kind: input.kind, err: err.message }, 'audit: record not written');
      return undefined;
    });
  }

  inventoryEvents(events: InventoryEventInput[]): void {
    for (const e of events) {
      void this.record({
        kind: 'inventory.event',
        at: e.at,
        server: e.server,
        tool: e.tool ?? undefined,
        detail: { event: e.kind, actor: e.actor, ...e.detail },
      });
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#pruner);
    clearInterval(this.#orphans);
    // A prune still going stops after its chunk; what it removed is recorded before the stream closes.
    this.#stopPruning.abort();
    await this.#pruning?.catch(() => {});
    await this.log.close();
    await this.exports.stop();
  }
}
