/**
 * The audit trail of one gateway process: its stream (AuditLog), what it keeps of calls
 * (CallRecorder), recovery of calls a previous process left without an outcome, mirroring of
 * inventory events, and retention. Fail closed: when the store cannot take the write-ahead record,
 * WRITE and DESTRUCTIVE calls are refused, READ calls as configured.
 */
import type { AuditConfig } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { AuditStore, InventoryEventInput } from '../storage/types.ts';
import { AuditLog, newRecordId, newStreamName, stateDirCheckpoints, storeDown, type AuditInput } from './log.ts';
import { CallRecorder } from './calls.ts';
import type { AuditEvent } from '../model/audit-event.ts';
import { AuditExports } from './exports.ts';
import { Liveness } from './liveness.ts';
import { KeptOutcomeFiles, type KeptFile } from './kept-file.ts';
import { keptLine, notItsIntent, type KeptLine, type KeptRecord } from './kept-record.ts';

const DAY_MS = 86_400_000;
const PRUNE_EVERY_MS = 3_600_000;
/**
 * How often the calls of a writer that stopped are looked for while the gateway runs: a writer counts
 * as stopped once its last heartbeat is STOPPED_AFTER_MS (15 s) old by the store's clock (liveness.ts),
 * so a process restarted at once finds the calls of the one before it still "live" at start, and
 * closes them here: at most 25 s after that writer's last heartbeat.
 */
const ORPHANS_EVERY_MS = 10_000;
/** While the trail refuses records (or outcomes wait to be written), it is tried again this often. */
const MEND_EVERY_MS = 1_000;
/** Most outcomes kept in memory while the store refuses them; past that, their calls end as `call.unknown`. */
const MAX_HELD = 1_000;

const ORPHAN_REASON = 'no outcome was recorded: the process handling the call stopped before it finished';
const OWN_LOST_REASON =
  'the audit store failed during this call and this gateway holds no outcome for it: its intent was reported not written though it was (the call was refused, or ran as a READ let through without its record), or its outcome was refused while the gateway already kept as many as it holds';
const HELD_REFUSED_REASON =
  'the audit store refused the outcome when the call ended, and this record alone when it took records again';
const LATE_NOTE =
  'the audit store refused this outcome when the call ended: the caller was answered E_AUDIT_OUTCOME_UNRECORDED, and the gateway kept it until the store took records again';
/** The most open intents the store lists at once (audit-repo.ts openIntents). */
const OPEN_READ = 10_000;

/** The `call.unknown` record closing intent `i`. */
function unknownOf(i: AuditEvent, reason: string): AuditInput {
  return {
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
    detail: { reason, stream: i.stream, seq: i.seq },
  };
}

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
  /** The intents of calls in flight (closeOrphans leaves them to their call). */
  readonly #inFlight = new Set<string>();
  /** Outcomes the store refused, by intent: written once it takes records again (#closeOwn). */
  readonly #held = new Map<string, KeptRecord>();
  /** The same outcomes on disk, for the next process should this one stop first (kept-file.ts). */
  readonly #kept: KeptOutcomeFiles;
  /** When the trail first refused a record since it last took one; undefined while it takes them. */
  #failedSince: number | undefined;
  #mender: NodeJS.Timeout | undefined;
  #mending = false;
  #sweeping: Promise<number> | undefined;
  #closed = false;
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
    this.#kept = new KeptOutcomeFiles(stateDir);
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
   * Closes the calls no one will close: marks `call.unknown` the intents of writers that stopped
   * before recording an outcome (streams other than this one and the live writers': a gateway still
   * running, another replica or the stdio command, keeps its calls in flight), and this process's own
   * intents that no call in flight holds (#closeOwn). The number of other writers' calls closed.
   */
  closeOrphans(): Promise<number> {
    // One sweep at a time (the 10 s one and the mending one): two would both close an intent they read open.
    this.#sweeping ??= this.#sweep().finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  async #sweep(): Promise<number> {
    // Taken before the store is read: a call that ends while it is read counts as in flight.
    const busy = new Set(this.#inFlight);
    const heldBefore = new Set(this.#held.keys());
    const live = (await this.liveStreams()).filter((s) => s !== this.log.stream);
    const open = await this.store.openIntents(live);
    await this.#recordReplays();
    // Before any intent is closed as unknown: the outcomes a stopped process kept on disk close theirs.
    const recovered = await this.#recordKept();
    let orphans = 0;
    for (const i of open) {
      if (recovered.has(i.id)) continue;
      if (i.stream !== this.log.stream) {
        await this.log.append(unknownOf(i, ORPHAN_REASON));
        orphans++;
      } else if (!busy.has(i.id) && !this.#inFlight.has(i.id)) await this.#closeOwn(i);
    }
    // An outcome kept for an intent no longer open was stored after all (a commit whose answer was lost).
    const openIds = new Set(open.map((i) => i.id));
    if (open.length < OPEN_READ)
      for (const id of heldBefore) if (!openIds.has(id) && !this.#inFlight.has(id)) this.#held.delete(id);
    // Nothing of this process's waits any more: its file of kept outcomes goes (what it holds is settled:
    // a file left behind is read back by the next start, which finds those intents closed).
    if (!this.#held.size)
      try {
        this.#kept.clearOwn();
      } catch (err) {
        this.#ops.warn({ err: (err as Error).message }, 'audit: the file of kept outcomes could not be removed');
      }
    if (orphans) this.#ops.warn({ count: orphans }, 'audit: calls without a recorded outcome were marked unknown');
    return orphans;
  }

  /**
   * An intent of this process's own stream that no call in flight holds: its outcome, when the store
   * refused it and it is kept, else `call.unknown` (the gateway did not learn whether the intent was
   * written: a commit whose answer was lost).
   */
  async #closeOwn(i: AuditEvent): Promise<void> {
    const held = this.#held.get(i.id);
    if (held) {
      try {
        await this.log.append({ ...held, detail: { ...held.detail, recordedLate: LATE_NOTE } });
        this.#held.delete(i.id);
        this.#ops.warn({ intent: i.id }, 'audit: an outcome the store refused is recorded now');
        return;
      } catch (err) {
        // The store away (it may even have stored it, unanswered: the next sweep finds the intent
        // closed): tried again then. Only a record the store refuses alone is given up for unknown.
        if (storeDown((err as Error).cause ?? err)) throw err;
      }
    }
    await this.log.append(unknownOf(i, held ? HELD_REFUSED_REASON : OWN_LOST_REASON));
    this.#held.delete(i.id);
    this.#ops.warn({ intent: i.id }, 'audit: a call of this gateway without a recorded outcome was marked unknown');
  }

  /**
   * The write-ahead intent of a call, durable when it resolves. The call is in flight until its
   * outcome (outcome()): no sweep closes its intent meanwhile.
   */
  async intent(input: AuditInput): Promise<AuditEvent> {
    input.id ??= newRecordId();
    const id = input.id;
    this.#inFlight.add(id);
    try {
      return await this.#written(input);
    } catch (err) {
      // Refused: the call fails closed. Had the store taken it all the same (a commit whose answer
      // was lost), the sweep closes it (#closeOwn).
      this.#inFlight.delete(id);
      throw err;
    }
  }

  /**
   * The outcome of a call whose intent is written; resolves once it is durable. When the store
   * refuses it, it is kept and written (closing its intent) once the store takes records again, and
   * this rejects: the answer must not leave as if it were recorded (ADR 0006).
   */
  async outcome(input: AuditInput): Promise<void> {
    const intent = input.intent ?? '';
    try {
      await this.#written(input);
    } catch (err) {
      if (this.#held.size < MAX_HELD) this.#keep(intent, input);
      throw err;
    } finally {
      this.#inFlight.delete(intent);
    }
  }

  /**
   * Keeps the outcome the store refused: in memory, and on disk before the caller is answered, so a
   * process that stops before the store is back leaves it to the next. Its record id is set now: the
   * record written later, by this process or the next, is the same one.
   */
  #keep(intent: string, input: AuditInput): void {
    const kept: KeptRecord = { ...input, id: input.id ?? newRecordId(), intent };
    this.#held.set(intent, kept);
    try {
      this.#kept.keep(keptLine(this.log.stream, kept));
    } catch (err) {
      this.#ops.error(
        { intent, err: (err as Error).message },
        'audit: an outcome the store refused could not be kept on disk: it is lost if the gateway stops before the store takes records again',
      );
    }
  }

  /**
   * The outcomes processes that stopped kept on disk (kept-file.ts), each recorded once: by its own
   * record (the one that process would have written), closing its intent, when the intent is open;
   * dropped when the store holds it closed. A file refused is kept for the operator, logged and
   * recorded (`audit.replayed`, `stopped`); its calls are then closed as `call.unknown` like any
   * stopped writer's. The intents closed here.
   */
  async #recordKept(): Promise<Set<string>> {
    const closed = new Set<string>();
    const files = this.#kept.take();
    if (!files.length) return closed;
    // Every open intent, the live writers' too: a writer stopped a moment ago still looks live by its
    // heartbeat (15 s), where its file says it stopped.
    const open = await this.store.openIntents([]);
    const byId = new Map(open.map((i) => [i.id, i]));
    for (const f of files) await this.#recordKeptFile(f, byId, open.length < OPEN_READ, closed);
    return closed;
  }

  async #recordKeptFile(
    f: KeptFile,
    open: Map<string, AuditEvent>,
    complete: boolean,
    closed: Set<string>,
  ): Promise<void> {
    const due: KeptLine[] = [];
    const waiting: KeptLine[] = [];
    for (const [n, k] of f.lines.entries()) {
      const i = open.get(k.record.intent);
      const why = i && notItsIntent(k, i, this.log.stream);
      if (why) f.refused ??= { line: n + 1, reason: why };
      else if (i) due.push(k);
      // Not open: recorded before that process stopped (or closed otherwise), unless the list was cut short.
      else if (complete) f.dropped++;
      else waiting.push(k);
    }
    if (f.refused) return this.#refuseKept(f);
    f.lines = [...due, ...waiting];
    for (const k of due) {
      try {
        await this.#written({ ...k.record, detail: { ...k.record.detail, recordedLate: LATE_NOTE } });
        f.stored++;
        closed.add(k.record.intent);
      } catch (err) {
        // The store away: tried again at the next sweep. A record the store refuses alone is given up:
        // its intent is closed as unknown like any stopped writer's.
        if (storeDown((err as Error).cause ?? err)) throw err;
        this.#ops.error({ intent: k.record.intent, err: (err as Error).message }, 'audit: a kept outcome was refused');
      }
      open.delete(k.record.intent);
      f.lines = f.lines.filter((x) => x !== k);
    }
    if (waiting.length) return;
    this.#kept.settle(f);
    this.#ops.warn(
      { file: f.name, stored: f.stored, dropped: f.dropped, torn: f.torn },
      'audit: outcomes a stopped gateway kept on disk are recorded',
    );
    await this.record({ kind: 'audit.replayed', outcome: 'ok', detail: this.#keptReport(f) });
  }

  async #refuseKept(f: KeptFile): Promise<void> {
    const keptAs = this.#kept.refuse(f);
    this.#ops.error(
      { file: f.name, keptAs, line: f.refused?.line, reason: f.refused?.reason },
      'audit: a kept-outcomes file was refused: nothing of it is recorded, it is kept for the operator, and its calls are closed as unknown',
    );
    await this.record({ kind: 'audit.replayed', outcome: 'error', detail: { ...this.#keptReport(f), keptAs } });
  }

  #keptReport(f: KeptFile): Record<string, unknown> {
    return {
      file: `${f.name}`,
      keptOutcomes: true,
      stored: f.stored,
      dropped: f.dropped,
      torn: f.torn,
      stopped: f.refused,
    };
  }

  /** Whether the trail takes records: false from a write the store refused until it takes one again. */
  get writable(): boolean {
    return this.#failedSince === undefined;
  }

  /** An append that notes the store refusing it, and has the trail tried again until it takes records. */
  #written(input: AuditInput): Promise<AuditEvent> {
    return this.log.append(input).catch((err: Error) => {
      // The log counts a failure of the store, not a record it refused alone (log.ts storeDown).
      if (this.log.failures > 0) this.#failing();
      throw err;
    });
  }

  #failing(): void {
    this.#failedSince ??= Date.now();
    if (this.#mender || this.#closed) return;
    this.#mender = setInterval(() => void this.#mend(), MEND_EVERY_MS);
    this.#mender.unref();
  }

  /**
   * Once the store takes records again: an `audit.resumed` record says since when it refused them,
   * and this process's own open intents are closed (the outcomes it kept, else unknown).
   */
  async #mend(): Promise<void> {
    if (this.#mending) return;
    this.#mending = true;
    try {
      if (this.#failedSince !== undefined) {
        const since = this.#failedSince;
        await this.log.append({
          kind: 'audit.resumed',
          detail: { failedSince: new Date(since).toISOString(), outcomesKept: this.#held.size },
        });
        if (this.#failedSince === since) this.#failedSince = undefined;
        this.#ops.warn({ failedSince: new Date(since).toISOString() }, 'audit: the store takes records again');
      }
      await this.closeOrphans();
      if (!this.#held.size && this.#failedSince === undefined) {
        clearInterval(this.#mender);
        this.#mender = undefined;
      }
    } catch {
      // Still refused: tried again in a second (logged every 10 s by the sweep of stopped writers).
    } finally {
      this.#mending = false;
    }
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
    return this.#written(input).catch((err: Error) => {
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
    this.#closed = true;
    clearInterval(this.#mender);
    // Outcomes kept while the store refused them: one more try before the stream closes.
    if (this.#held.size || this.#failedSince !== undefined) await this.#mend();
    if (this.#held.size)
      this.#ops.warn(
        { count: this.#held.size, file: this.#kept.ownFile },
        'audit: outcomes the store refused are left on disk; the next start records them',
      );
    // A prune still going stops after its chunk; what it removed is recorded before the stream closes.
    this.#stopPruning.abort();
    await this.#pruning?.catch(() => {});
    await this.log.close();
    await this.exports.stop();
  }
}
