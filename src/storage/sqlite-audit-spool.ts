/**
 * The spool of the embedded store's audit appends (ADR 0015). Under `process-crash` durability an
 * append is durable once its records are in this file: one `write` per batch, where a SQLite commit
 * is a dozen page writes, locks and a checkpoint now and then. The records reach `audit_events`
 * shortly after, many per transaction (ingestion). What is in the file survives this process dying
 * (it is in the operating system, as a commit with synchronous=NORMAL is); whoever opens the store
 * next replays a dead writer's file (recoverSpools).
 *
 * One file per writer, `<database>-spool/<host>.<pid>.<start>.<random>.jsonl` (0600): each line is a
 * record's stored text, exactly what `audit_events.body` holds. Bounded: when ingestion falls behind
 * (the database locked or failing) by MAX_RECORDS or MAX_BYTES, appends are refused, so calls fail
 * closed as they do when the store cannot take a record; and once storing them has failed (the
 * database refusing writes), appends are refused until a retry succeeds.
 */
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  futimesSync,
  mkdirSync,
  openSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { writerFileName } from '../util/writer-file.ts';

/** A record as stored: its columns, `body` its text (see audit-repo.ts auditRow). */
export interface SpoolRow {
  body: string;
}

/** Ingestion waits this long for more records after the first one pending... */
const INGEST_MS = 10;
/** ...or ingests at once when this many are pending. */
const INGEST_BATCH = 500;
/** Most records in one ingesting transaction. */
const MAX_PER_TRANSACTION = 5000;
/** Appends are refused past either bound (records spooled, not yet in the database). */
export const MAX_RECORDS = 10_000;
const MAX_BYTES = 16 * 1024 * 1024;
/** An ingested-through file is emptied once it is this large. */
const TRUNCATE_AT = 4 * 1024 * 1024;
/** A live writer touches its file this often (another host's file untouched for 30 s is a dead writer's: util/writer-file.ts). */
const HEARTBEAT_MS = 10_000;

/** The spool directory of the SQLite file at `dbPath`. */
export function spoolDir(dbPath: string): string {
  return `${dbPath}-spool`;
}

/**
 * Writes the whole text, or nothing: a write that fails part-way (the disk full) is cut back, so
 * the file never holds half a line before the next one. Returns the bytes written. The string goes
 * to the write as it is (Node encodes it outside the JavaScript heap); only a short write, which a
 * regular file gives only when something is wrong, pays for a Buffer to write the rest from.
 */
function appendAll(fd: number, text: string, sizeBefore: number): number {
  const bytes = Buffer.byteLength(text, 'utf8');
  try {
    let off = writeSync(fd, text, null, 'utf8');
    if (off < bytes) {
      const buf = Buffer.from(text, 'utf8');
      while (off < bytes) off += writeSync(fd, buf, off);
    }
    return bytes;
  } catch (err) {
    try {
      ftruncateSync(fd, sizeBefore);
    } catch {
      // the write's own error says more
    }
    throw err;
  }
}

export class AuditSpool<R extends SpoolRow> {
  readonly path: string;
  readonly #ingest: (rows: R[]) => Promise<void>;
  #fd: number;
  #size = 0;
  #pending: R[] = [];
  #bytes = 0;
  #running: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #heartbeat: NodeJS.Timeout;
  #closed = false;
  /** Why the last ingestion failed (cleared by one that succeeds). */
  lastError: string | undefined;

  /** `ingest`: store the rows, in order, in one transaction (it fails when one is stored already). */
  constructor(dbPath: string, ingest: (rows: R[]) => Promise<void>) {
    const dir = spoolDir(dbPath);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.path = join(dir, writerFileName());
    this.#fd = openSync(this.path, 'a', 0o600);
    this.#ingest = ingest;
    this.#heartbeat = setInterval(() => this.#beat(), HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  /** Records spooled and not yet in the database. */
  get pending(): number {
    return this.#pending.length;
  }

  /** Durable (against this process dying) when it returns; throws when the spool is full or the write fails. */
  append(rows: ReadonlyArray<R>): void {
    if (this.#closed) throw new Error('the audit spool is closed');
    // The spool absorbs the cost of a commit, not an outage: once the database failed to take the
    // spooled records, appends are refused (calls fail closed) until a retry stores them.
    if (this.lastError)
      throw new Error(
        `the audit store cannot take records (${this.lastError}); ${this.#pending.length} wait in the spool`,
      );
    if (this.#pending.length + rows.length > MAX_RECORDS || this.#bytes > MAX_BYTES)
      throw new Error(`the audit store is behind: ${this.#pending.length} records wait to be stored`);
    let text = '';
    for (const r of rows) text += `${r.body}\n`;
    const written = appendAll(this.#fd, text, this.#size);
    this.#size += written;
    this.#bytes += written;
    for (const r of rows) this.#pending.push(r);
    this.#schedule();
  }

  /** Ingestion INGEST_MS after the first record pending, or at once when INGEST_BATCH are. */
  #schedule(): void {
    const ms = this.#pending.length >= INGEST_BATCH ? 0 : INGEST_MS;
    if (this.#running || this.#closed) return;
    if (this.#timer && ms > 0) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.settled();
    }, ms);
    this.#timer.unref();
  }

  /**
   * Store what is pending now (one ingestion at a time); resolves when it is stored or the attempt
   * failed. Records appended while it runs wait for an interval of their own (#schedule), as all
   * records do: taken at once, they would make a small transaction after every large one.
   */
  async settled(): Promise<void> {
    while (this.#running) await this.#running;
    if (!this.#pending.length) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#running = this.#ingestPending(this.#pending.length).finally(() => {
      this.#running = undefined;
      if (this.#pending.length && !this.lastError) this.#schedule();
    });
    await this.#running;
  }

  /** The first `count` pending records, in transactions of at most MAX_PER_TRANSACTION. */
  async #ingestPending(count: number): Promise<void> {
    while (count > 0) {
      const rows = this.#pending.slice(0, Math.min(count, MAX_PER_TRANSACTION));
      try {
        await this.#ingest(rows);
      } catch (err) {
        this.lastError = (err as Error).message;
        // Kept, and tried again: the bound turns a store that stays down into refused appends.
        if (!this.#closed) this.#retryLater();
        return;
      }
      this.lastError = undefined;
      this.#pending.splice(0, rows.length);
      count -= rows.length;
      for (const r of rows) this.#bytes -= Buffer.byteLength(r.body) + 1;
    }
    // The file can be emptied only once every line in it is stored (none came since the last await).
    if (this.#pending.length) return;
    this.#bytes = 0;
    if (this.#size > TRUNCATE_AT) {
      ftruncateSync(this.#fd, 0);
      this.#size = 0;
    }
  }

  #retryLater(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.settled();
    }, 250);
    this.#timer.unref();
  }

  /**
   * Touch the file (another host's reader sees a live writer), and make sure it is still the file at
   * its path: one taken away (replayed by a reader that took this writer for dead) is written again
   * from what is pending, so what this process acknowledged stays on disk until stored.
   */
  #beat(): void {
    try {
      const own = fstatSync(this.#fd);
      const named = statSync(this.path, { throwIfNoEntry: false });
      if (named && named.ino === own.ino) {
        const now = new Date();
        futimesSync(this.#fd, now, now);
        return;
      }
      closeSync(this.#fd);
      this.#fd = openSync(this.path, 'a', 0o600);
      this.#size = 0;
      this.#size = appendAll(this.#fd, this.#pending.map((r) => `${r.body}\n`).join(''), 0);
    } catch (err) {
      this.lastError = `the spool file cannot be kept: ${(err as Error).message}`;
    }
  }

  /** Store everything pending and remove the file; what cannot be stored stays in the file for the next opener. */
  async close(): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#heartbeat);
    // Until nothing is left (records may arrive while one ingestion runs) or the store refuses them.
    do await this.settled();
    while (this.#pending.length && !this.lastError);
    this.#closed = true;
    clearTimeout(this.#timer);
    while (this.#running) await this.#running;
    closeSync(this.#fd);
    if (!this.#pending.length) unlinkSync(this.path);
  }
}
