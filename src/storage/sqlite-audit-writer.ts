/**
 * Appending audit rows to the SQLite file, three ways:
 * - `process-crash` durability: to the spool (./sqlite-audit-spool.ts, ADR 0015), a file of lines
 *   written with one `write` per batch; the rows reach the database shortly after, many per
 *   transaction, through the two ways below. Readers of this store see them first (`settled`).
 * - on the event loop, through a connection of its own that never waits for the file's write lock
 *   (busy_timeout 0). In WAL mode with synchronous=NORMAL a commit is a write to the WAL file, no
 *   fsync: cheaper than handing the rows to another thread and back.
 * - `power-loss` durability, or when the lock is held (another process, or a transaction of this
 *   process's other connection that is waiting on I/O): in the writer thread (./sqlite-audit-worker.ts),
 *   which may wait for the lock and fsync without stopping every request. It starts on first use
 *   and stops after a minute without work (unless `power-loss` batches came).
 * The log (src/audit/log.ts) appends one batch at a time, and a `power-loss` batch waits for the
 * spool to be stored first, so rows reach the file in chain order whichever way each batch goes.
 */
import { Worker } from 'node:worker_threads';
import Sqlite from 'better-sqlite3';
import type { AuditEvent } from '../model/audit-event.ts';
import { AuditSpool } from './sqlite-audit-spool.ts';
import { replaySpools } from './sqlite-audit-replay.ts';
import type { AuditDurability, SpoolReplay } from './types.ts';
import { TransientMap } from '../util/transient-map.ts';

type Pending = { resolve: () => void; reject: (err: Error) => void };

/** Spooled batches of at least this many rows, this many times in a row, go to the writer thread (see #ingest). */
const THREAD_BATCH = 16;
const THREAD_AFTER = 5;
/** The writer thread stops after this long without work (a load that ended), giving back its memory. */
const THREAD_IDLE_MS = 60_000;

/** The columns of a row, in the order the inserts bind them. */
export const AUDIT_COLUMNS = [
  'stream',
  'seq',
  'id',
  'at',
  'kind',
  'run_id',
  'subject',
  'tenant',
  'tool',
  'outcome',
  'intent_id',
  'body',
] as const;

const INTO_AUDIT_EVENTS = `into audit_events (${AUDIT_COLUMNS.join(', ')}) values (${AUDIT_COLUMNS.map(() => '?').join(', ')})`;
/**
 * An append's insert. `or rollback`: a row that breaks a constraint ends the whole transaction, as
 * the writers end it anyway (and then store the batch's records one by one). With the default
 * (`abort`), SQLite keeps a statement journal for every row, since the row's triggers write too: a
 * copy of each page the row changes, which cost a sixth of the insert (7 µs of 40 a row, measured).
 */
export const INSERT_AUDIT_ROW = `insert or rollback ${INTO_AUDIT_EVENTS}`;
/**
 * A replay's insert: a row whose (stream, seq) is stored already is skipped (another opener replayed
 * the same file at the same moment; the replay checked it is the same record). A writer's own
 * appends never skip: a stream name two writers share must fail loudly, not lose records.
 */
export const REPLAY_AUDIT_ROW = `insert ${INTO_AUDIT_EVENTS} on conflict (stream, seq) do nothing`;

type AuditRow = Record<(typeof AUDIT_COLUMNS)[number], unknown> & { body: string };

/** Rows as one flat array of their values: copying it to the worker costs less than copying objects. */
function flatten(rows: ReadonlyArray<AuditRow>): unknown[] {
  const out: unknown[] = [];
  for (const r of rows) for (const c of AUDIT_COLUMNS) out.push(r[c]);
  return out;
}

/** Inserts a row, its values bound in AUDIT_COLUMNS order as arguments: no array per row on the hot path. */
function insertRow(stmt: Sqlite.Statement, r: AuditRow): void {
  stmt.run(r.stream, r.seq, r.id, r.at, r.kind, r.run_id, r.subject, r.tenant, r.tool, r.outcome, r.intent_id, r.body);
}

/** A connection on the event loop that takes the write lock only when it is free, and never fsyncs a commit. */
class DirectWriter {
  readonly #db: Sqlite.Database;
  readonly #append: Sqlite.Transaction<(rows: ReadonlyArray<AuditRow>, replay: boolean) => void>;

  constructor(path: string) {
    this.#db = new Sqlite(path);
    this.#db.pragma('busy_timeout = 0');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.pragma('temp_store = MEMORY');
    const insert = this.#db.prepare(INSERT_AUDIT_ROW);
    const replayInsert = this.#db.prepare(REPLAY_AUDIT_ROW);
    this.#append = this.#db.transaction((rows: ReadonlyArray<AuditRow>, replay: boolean) => {
      const stmt = replay ? replayInsert : insert;
      for (const r of rows) insertRow(stmt, r);
    });
  }

  /** The last record stored of `stream`, else the checkpoint its pruning left. */
  head(stream: string): { seq: number; hash: string } | undefined {
    const last = this.#db
      .prepare<[string], { body: string }>('select body from audit_events where stream = ? order by seq desc limit 1')
      .get(stream);
    if (last) {
      const e = JSON.parse(last.body) as AuditEvent;
      return { seq: e.seq, hash: e.hash };
    }
    const cp = this.#db
      .prepare<[string], { seq: number; hash: string }>('select seq, hash from audit_checkpoints where stream = ?')
      .get(stream);
    return cp ? { seq: Number(cp.seq), hash: cp.hash } : undefined;
  }

  /** The hash of the stored record `seq` of `stream`, if there is one. */
  storedHash(stream: string, seq: number): string | undefined {
    const row = this.#db
      .prepare<[string, number], { body: string }>('select body from audit_events where stream = ? and seq = ?')
      .get(stream, seq);
    return row ? (JSON.parse(row.body) as AuditEvent).hash : undefined;
  }

  /** Whether the rows were committed; false when another connection holds the write lock. Throws on other errors. */
  tryAppend(rows: ReadonlyArray<AuditRow>, replay = false): boolean {
    try {
      this.#append.immediate(rows, replay);
      return true;
    } catch (err) {
      if (String((err as { code?: unknown }).code).startsWith('SQLITE_BUSY')) return false;
      throw err;
    }
  }

  close(): void {
    this.#db.close();
  }
}

export class SqliteAuditWriter {
  readonly #path: string;
  #direct: DirectWriter | undefined;
  #worker: Worker | undefined;
  #spool: AuditSpool<AuditRow> | undefined;
  /** Spooled batches of THREAD_BATCH rows or more in a row, up to now. */
  #loaded = 0;
  readonly #pending = new TransientMap<number, Pending>();
  #next = 0;
  #dead: Error | undefined;
  /** Spool files whose replay stopped at a line that does not chain: kept for the operator, not replayed again here. */
  readonly #kept = new Set<string>();
  /** Replays not yet reported (takeReplayed). */
  #replayed: SpoolReplay[] = [];
  readonly #idleMs: number;
  #idle: NodeJS.Timeout | undefined;
  /** `power-loss` batches came: the thread serves each of them, and stays. */
  #fsyncs = false;

  /** `idleMs`: how long the writer thread waits for work before it stops (THREAD_IDLE_MS). */
  constructor(path: string, opts: { idleMs?: number } = {}) {
    this.#path = path;
    this.#idleMs = opts.idleMs ?? THREAD_IDLE_MS;
  }

  append(rows: ReadonlyArray<AuditRow>, durability: AuditDurability = 'power-loss'): Promise<void> {
    if (this.#dead) return Promise.reject(this.#dead);
    if (durability === 'process-crash') {
      try {
        this.#spool ??= new AuditSpool(this.#path, (r) => this.#ingest(r));
        this.#spool.append(rows);
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(err);
      }
    }
    // After what is spooled, so that the stream's rows reach the file in chain order. Every such
    // batch goes to the thread: it stays, so no call waits for a thread to start (#retire).
    this.#fsyncs = true;
    return (this.#spool?.settled() ?? Promise.resolve()).then(() => this.#inWorker(rows, durability));
  }

  /**
   * Spooled rows into the table. Under load (batches of dozens of rows every 10 ms) the inserts are
   * the largest part of what the event loop spends on the trail (about 14% of it at 16 concurrent
   * calls), and the writer thread has a core to itself (ADR 0015 has what that measured end to end).
   * Light traffic stays on the event loop, and so does a burst (the inventory records of a first
   * catalogue): a gateway that is only started never starts the thread (about 15 MB). The spool
   * stores one batch at a time, so order holds either way.
   */
  #ingest(rows: ReadonlyArray<AuditRow>): Promise<void> {
    this.#loaded = rows.length >= THREAD_BATCH ? this.#loaded + 1 : 0;
    return this.#loaded >= THREAD_AFTER ? this.#inWorker(rows, 'process-crash') : this.#store(rows);
  }

  /** Rows in one transaction: on the event loop when the write lock is free, else in the writer thread. */
  #store(rows: ReadonlyArray<AuditRow>, replay = false): Promise<void> {
    if (this.#dead) return Promise.reject(this.#dead);
    try {
      if (this.#directWriter().tryAppend(rows, replay)) return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#inWorker(rows, 'process-crash', replay);
  }

  /** Records spooled and not yet stored, and why the last attempt to store them failed. */
  spooled(): { pending: number; lastError?: string } {
    return { pending: this.#spool?.pending ?? 0, lastError: this.#spool?.lastError };
  }

  /** The replays of stopped writers' spools since the last call (each reported once). */
  takeReplayed(): SpoolReplay[] {
    const replayed = this.#replayed;
    this.#replayed = [];
    return replayed;
  }

  /** Store what this process spooled so far: a reader then sees every record appended before it asked. */
  settled(): Promise<void> {
    return this.#spool?.settled() ?? Promise.resolve();
  }

  /** The event loop's connection, opened on first use (a store only read never opens it). */
  #directWriter(): DirectWriter {
    this.#direct ??= new DirectWriter(this.#path);
    return this.#direct;
  }

  /**
   * Replay the spools of writers that stopped (./sqlite-audit-replay.ts); `row`: a record's stored
   * row. What was replayed is reported by takeReplayed.
   */
  async replay(row: (e: AuditEvent) => AuditRow): Promise<void> {
    const reports = await replaySpools(this.#path, {
      head: async (stream) => this.#directWriter().head(stream),
      storedHash: (stream, seq) => this.#directWriter().storedHash(stream, seq),
      insert: (rows) => this.#store(rows, true),
      row,
      skip: (file) => this.#kept.has(file),
    });
    for (const r of reports) if (r.stopped) this.#kept.add(r.file);
    this.#replayed.push(...reports);
  }

  #inWorker(rows: ReadonlyArray<AuditRow>, durability: AuditDurability, replay = false): Promise<void> {
    const worker = this.#startWorker();
    clearTimeout(this.#idle);
    return new Promise<void>((resolve, reject) => {
      const id = ++this.#next;
      this.#pending.set(id, { resolve, reject });
      worker.ref(); // keep the process alive while a write is in flight
      worker.postMessage({ id, values: flatten(rows), sync: durability === 'power-loss' ? 'FULL' : 'NORMAL', replay });
    }).finally(() => {
      if (this.#pending.size) return;
      worker.unref();
      clearTimeout(this.#idle);
      this.#idle = setTimeout(() => this.#retire(), this.#idleMs);
      this.#idle.unref();
    });
  }

  /**
   * The load ended: the thread (with its own heap, SQLite cache and malloc arena) stops, and light
   * traffic goes back to the event loop until load is sustained again. A write that comes meanwhile
   * starts a new thread; the old one closes its connection first, with nothing in flight. Under
   * `power-loss` durability every batch is the thread's: it stays, or calls after a quiet minute
   * would wait for a thread to start.
   */
  #retire(): void {
    const worker = this.#worker;
    if (!worker || this.#pending.size || this.#dead || this.#fsyncs) return;
    this.#worker = undefined;
    this.#loaded = 0;
    const id = ++this.#next;
    worker.on('message', (m: { id: number }) => {
      if (m.id === id) void worker.terminate();
    });
    worker.postMessage({ id, close: true });
  }

  #startWorker(): Worker {
    if (this.#worker) return this.#worker;
    // The worker is a sibling module: .ts when run from source, .js from dist (a bundle whose files
    // are all in one directory, so this holds from whichever chunk this code landed in).
    const file = new URL(
      import.meta.url.endsWith('.ts') ? './sqlite-audit-worker.ts' : './sqlite-audit-worker.js',
      import.meta.url,
    );
    const worker = new Worker(file, { workerData: { path: this.#path } });
    this.#worker = worker;
    worker.unref();
    worker.on('message', (m: { id: number; error?: string }) => {
      const p = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      if (m.error) p?.reject(new Error(m.error));
      else p?.resolve();
    });
    const die = (err: Error) => {
      this.#dead = err;
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
    };
    // A retired thread's end is not the writer's: only the current thread's is.
    worker.on('error', (err) => this.#worker === worker && die(err));
    worker.on('exit', () => this.#worker === worker && die(new Error('the audit writer stopped')));
    return worker;
  }

  async close(): Promise<void> {
    clearTimeout(this.#idle);
    await this.#spool?.close().catch(() => {}); // what is not stored stays in the file for the next opener
    this.#spool = undefined;
    this.#direct?.close();
    this.#direct = undefined;
    const worker = this.#worker;
    if (this.#dead || !worker) return;
    await new Promise<void>((resolve) => {
      const id = ++this.#next;
      this.#pending.set(id, { resolve, reject: () => resolve() });
      worker.ref(); // the reply must keep the process alive until it arrives
      worker.postMessage({ id, close: true });
    });
    await worker.terminate();
  }
}
