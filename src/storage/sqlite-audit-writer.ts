/**
 * Appending audit rows to the SQLite file, two ways:
 * - `process-crash` durability: on the event loop, through a connection of its own that never waits
 *   for the file's write lock (busy_timeout 0). In WAL mode with synchronous=NORMAL a commit is a
 *   write to the WAL file, no fsync: cheaper than handing the rows to another thread and back.
 * - `power-loss` durability, or when the lock is held (another process, or a transaction of this
 *   process's other connection that is waiting on I/O): in the writer thread (./sqlite-audit-worker.ts),
 *   which may wait for the lock and fsync without stopping every request. It starts on first use.
 * The log (src/audit/log.ts) appends one batch at a time, so rows reach the file in chain order
 * whichever way each batch goes.
 */
import { Worker } from 'node:worker_threads';
import Sqlite from 'better-sqlite3';
import type { AuditDurability } from './types.ts';

type Pending = { resolve: () => void; reject: (err: Error) => void };

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

export const INSERT_AUDIT_ROW = `insert into audit_events (${AUDIT_COLUMNS.join(', ')}) values (${AUDIT_COLUMNS.map(() => '?').join(', ')})`;

type AuditRow = Record<(typeof AUDIT_COLUMNS)[number], unknown>;

/** Rows as one flat array of their values: copying it to the worker costs less than copying objects. */
function flatten(rows: ReadonlyArray<AuditRow>): unknown[] {
  const out: unknown[] = [];
  for (const r of rows) for (const c of AUDIT_COLUMNS) out.push(r[c]);
  return out;
}

/** A connection on the event loop that takes the write lock only when it is free, and never fsyncs a commit. */
class DirectWriter {
  readonly #db: Sqlite.Database;
  readonly #append: Sqlite.Transaction<(rows: ReadonlyArray<AuditRow>) => void>;

  constructor(path: string) {
    this.#db = new Sqlite(path);
    this.#db.pragma('busy_timeout = 0');
    this.#db.pragma('synchronous = NORMAL');
    const insert = this.#db.prepare(INSERT_AUDIT_ROW);
    this.#append = this.#db.transaction((rows: ReadonlyArray<AuditRow>) => {
      for (const r of rows) insert.run(AUDIT_COLUMNS.map((c) => r[c]));
    });
  }

  /** Whether the rows were committed; false when another connection holds the write lock. Throws on other errors. */
  tryAppend(rows: ReadonlyArray<AuditRow>): boolean {
    try {
      this.#append.immediate(rows);
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
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  #dead: Error | undefined;

  constructor(path: string) {
    this.#path = path;
  }

  append(rows: ReadonlyArray<AuditRow>, durability: AuditDurability = 'power-loss'): Promise<void> {
    if (this.#dead) return Promise.reject(this.#dead);
    if (durability === 'process-crash') {
      try {
        this.#direct ??= new DirectWriter(this.#path);
        if (this.#direct.tryAppend(rows)) return Promise.resolve();
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.#inWorker(rows, durability);
  }

  #inWorker(rows: ReadonlyArray<AuditRow>, durability: AuditDurability): Promise<void> {
    const worker = this.#startWorker();
    return new Promise<void>((resolve, reject) => {
      const id = ++this.#next;
      this.#pending.set(id, { resolve, reject });
      worker.ref(); // keep the process alive while a write is in flight
      worker.postMessage({ id, values: flatten(rows), sync: durability === 'power-loss' ? 'FULL' : 'NORMAL' });
    }).finally(() => {
      if (!this.#pending.size) worker.unref();
    });
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
    worker.on('error', die);
    worker.on('exit', () => die(new Error('the audit writer stopped')));
    return worker;
  }

  async close(): Promise<void> {
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
