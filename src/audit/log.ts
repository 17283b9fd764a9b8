/**
 * The audit log of one writer (a gateway process or a CLI invocation): its own hash-chained stream.
 * Appends are group-committed: records that arrive while a batch is being written go together in the
 * next transaction, so a busy gateway pays one durable commit per batch, not per record, and every
 * `append` resolves only once its record is durable. A failed batch leaves the chain head where it
 * was (nothing half-written is ever chained on).
 *
 * Each record stands on its own merits: one that cannot be chained (it holds text RFC 8785 cannot
 * encode) is made storable or refused alone, and when a batch fails for a reason that is not the
 * store being down, its records are written one by one, so a record the database refuses (a NUL in
 * a column, a value too large) costs no other caller its record. When the store is down, the whole
 * batch is refused at once: the callers fail closed without waiting on one round trip each.
 */
import { randomBytes, randomUUID, randomUUIDv7 } from 'node:crypto';
import { hostname } from 'node:os';
import type { AuditDurability, AuditStore } from '../storage/types.ts';
import { AUDIT_SCHEMA_VERSION, GENESIS, seal, type AuditEvent } from '../model/audit-event.ts';
import { loadOrCreateSigner, type CheckpointSigner } from './checkpoint.ts';
import { setImmediate as nextTurn } from 'node:timers/promises';

export interface CheckpointOptions {
  signer: CheckpointSigner;
  /** A checkpoint after this many records... */
  everyRecords: number;
  /** ...or this long after the first record not yet checkpointed. */
  everyMs: number;
}

/**
 * Checkpoints signed with the key of the state directory `stateDir` (made there at first use), every
 * `everyRecords` records or `everySeconds` after the first unsigned one (1,000 and 60 unless told).
 */
export function stateDirCheckpoints(
  stateDir: string,
  every: { everyRecords?: number; everySeconds?: number } = {},
): CheckpointOptions {
  return {
    signer: loadOrCreateSigner(stateDir),
    everyRecords: every.everyRecords ?? 1000,
    everyMs: (every.everySeconds ?? 60) * 1000,
  };
}

export type AuditInput = Omit<AuditEvent, 'v' | 'id' | 'time' | 'stream' | 'seq' | 'prev' | 'hash'> & {
  id?: string;
  at?: number;
};

interface Pending {
  input: AuditInput;
  resolve: (e: AuditEvent) => void;
  reject: (err: Error) => void;
}

const MAX_BATCH = 500;

const UNSURE = new Error(
  'the audit store refused the write: it is unavailable, and cannot say whether the last write was stored',
);

function refused(err: unknown): Error {
  return new Error(`the audit store refused the write: ${(err as Error).message}`, { cause: err });
}

/**
 * Whether a failed write says the store itself is unavailable (connection, server, lock, resources)
 * rather than refusing this data. PostgreSQL errors carry an SQLSTATE: classes 08 (connection), 53
 * (resources), 57 (operator intervention: shutdown, terminated), 58 (system) and XX (internal) are
 * the store's; 22 (data), 23 (integrity), 54 (too large) are the record's. A failed system call (the
 * disk full under the spool) is the store's. Other errors (a socket, the SQLite writer thread) are
 * read by their message.
 */
export function storeDown(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  // A system call's failure (the spool's write: ENOSPC, EFBIG past a file size limit, EIO) is the
  // store's, whatever its message says ("file too large" is no record too large).
  if (
    typeof (err as { errno?: unknown })?.errno === 'number' &&
    typeof (err as { syscall?: unknown }).syscall === 'string'
  )
    return true;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return /^(08|53|57|58|XX)/.test(code);
  const message = String((err as Error)?.message ?? err);
  return !/SQLITE_(CONSTRAINT|TOOBIG|MISMATCH|RANGE)|constraint|too (big|large|long)|invalid (byte|input)|out of range/i.test(
    message,
  );
}

/**
 * The record sealed as it can be chained and stored. RFC 8785 JSON cannot hold a lone UTF-16
 * surrogate, so one in any string (a hostile tool name, say) is replaced by U+FFFD and the record
 * says so (`detail.replacedUnpairedSurrogates`); the alternative, refusing the record, would lose
 * the trace of the very call that sent it. NUL characters stay as they are: the body is JSON
 * (`\u0000`), and the store's indexed columns hold a sanitised copy (storage/audit-repo.ts).
 */
function sealStorable(e: Omit<AuditEvent, 'hash'>): AuditEvent {
  try {
    return seal(e);
  } catch (err) {
    if (!/surrogate/i.test((err as Error).message)) throw err;
    const clean = mend(e, 0) as Omit<AuditEvent, 'hash'>;
    return seal({ ...clean, detail: { ...clean.detail, replacedUnpairedSurrogates: true } });
  }
}

function mend(v: unknown, depth: number): unknown {
  if (typeof v === 'string') return v.toWellFormed();
  if (!v || typeof v !== 'object' || depth > 64) return v;
  if (Array.isArray(v)) return v.map((x) => mend(x, depth + 1));
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.toWellFormed(), mend(x, depth + 1)]));
}

/**
 * A record's id: a UUID whose first 48 bits are the time (RFC 9562 version 7). Ids, and the outcomes'
 * references to their intents, are indexed: in time order each insert lands on the index's last
 * page, where random ids (version 4) dirtied a page each, and every dirty page is a 4 KB write per
 * commit. Node 24 before 24.16 lacks randomUUIDv7: those get a random id, as before.
 */
export const newRecordId: () => string = typeof randomUUIDv7 === 'function' ? () => randomUUIDv7() : () => randomUUID();

/**
 * A stream name no other writer uses: host, kind of writer, a random suffix of 64 bits. Every CLI
 * invocation that records something opens a stream, so a trail holds many; with 32 bits two of a few
 * hundred thousand would likely share a name, and a writer whose (stream, seq) is taken cannot append.
 */
export function newStreamName(kind: 'gw' | 'cli'): string {
  return `${hostname()
    .replace(/[^A-Za-z0-9.-]/g, '_')
    .slice(0, 40)}/${kind}/${randomBytes(8).toString('hex')}`;
}

export class AuditLog {
  readonly stream: string;
  readonly #store: AuditStore;
  #seq = 0;
  #prev = GENESIS;
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #closed = false;
  /** A write failed with the store away: whether it was stored is read back before the next (#resync). */
  #unsure = false;
  /** Consecutive failed batches; the call path reads it to fail closed quickly. */
  failures = 0;
  /** What an acknowledged append survives (`audit.durability`); the strongest unless told otherwise. */
  durability: AuditDurability = 'power-loss';

  readonly #onWritten: () => void;
  readonly #checkpoints: CheckpointOptions | undefined;
  /** Records written since the last checkpoint, and the timer that bounds their wait. */
  #unsigned = 0;
  #checkpointTimer: NodeJS.Timeout | undefined;
  #checkpointQueued = false;

  /** `onWritten`: after each durable batch (exporters wake up). `checkpoints`: sign the stream as it grows (checkpoint.ts). */
  constructor(store: AuditStore, stream: string, onWritten: () => void = () => {}, checkpoints?: CheckpointOptions) {
    this.#store = store;
    this.stream = stream;
    this.#onWritten = onWritten;
    this.#checkpoints = checkpoints;
  }

  /** Append a signed checkpoint of the record written last (if anything was written since the last one). */
  checkpoint(): Promise<AuditEvent | undefined> {
    if (!this.#checkpoints || this.#checkpointQueued || (this.#unsigned === 0 && this.#queue.length === 0))
      return Promise.resolve(undefined);
    this.#checkpointQueued = true;
    return this.append({ kind: 'audit.checkpoint' });
  }

  #afterWrite(events: AuditEvent[]): void {
    const cp = this.#checkpoints;
    if (!cp) return;
    for (const e of events) {
      if (e.kind === 'audit.checkpoint') {
        this.#unsigned = 0;
        this.#checkpointQueued = false;
        clearTimeout(this.#checkpointTimer);
        this.#checkpointTimer = undefined;
      } else this.#unsigned++;
    }
    if (this.#unsigned >= cp.everyRecords) void this.checkpoint().catch(() => (this.#checkpointQueued = false));
    else if (this.#unsigned > 0 && !this.#checkpointTimer && !this.#closed) {
      this.#checkpointTimer = setTimeout(() => {
        this.#checkpointTimer = undefined;
        void this.checkpoint().catch(() => (this.#checkpointQueued = false));
      }, cp.everyMs);
      this.#checkpointTimer.unref();
    }
  }

  /** Durable when it resolves; rejects when the store could not take it. */
  append(input: AuditInput): Promise<AuditEvent> {
    if (this.#closed) return Promise.reject(new Error('the audit log is closed'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ input, resolve, reject });
      this.#flushing ??= this.#flush();
    });
  }

  async #flush(): Promise<void> {
    try {
      // Let the rest of this event-loop turn append too: every request whose I/O arrived together
      // joins one transaction (with a synchronous driver nothing can join while a commit runs).
      await nextTurn();
      while (this.#queue.length) {
        const batch = this.#queue.splice(0, MAX_BATCH);
        if (this.#unsure && !(await this.#resync())) {
          this.failures++;
          for (const p of batch) p.reject(UNSURE);
          continue;
        }
        const { events, taken } = this.#chain(batch);
        if (!events.length) continue;
        try {
          await this.#store.appendBatch(events, this.durability);
        } catch (err) {
          if (storeDown(err)) this.#unsure = true;
          if (events.length === 1 || storeDown(err)) {
            this.failures++;
            const e = refused(err);
            for (const p of taken) p.reject(e);
            continue;
          }
          await this.#oneByOne(taken);
          continue;
        }
        this.#commit(taken, events);
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  /**
   * After a write failed with the store away, the store may have made it all the same (a commit
   * whose answer was lost): before anything is chained again, the head moves to the last record of
   * this stream the store holds (only forward). Chained on the old head, every later record took a
   * (stream, seq) already stored and was refused for good. False when the store cannot say.
   */
  async #resync(): Promise<boolean> {
    try {
      for (;;) {
        const rows = await this.#store.streamRecords(this.stream, this.#seq + 1, MAX_BATCH);
        if (!rows.length) break;
        const last = rows[rows.length - 1];
        this.#seq = last.seq;
        this.#prev = (JSON.parse(last.body) as AuditEvent).hash;
      }
      this.#unsure = false;
      return true;
    } catch {
      return false;
    }
  }

  /** Records for `batch` chained on the current head; a record that cannot be chained is refused alone. */
  #chain(batch: Pending[]): { events: AuditEvent[]; taken: Pending[] } {
    let seq = this.#seq;
    let prev = this.#prev;
    const events: AuditEvent[] = [];
    const taken: Pending[] = [];
    for (const p of batch) {
      try {
        let input = p.input;
        // A checkpoint signs the record chained just before it (in this batch or an earlier one).
        if (input.kind === 'audit.checkpoint' && this.#checkpoints)
          input = { ...input, detail: { ...this.#checkpoints.signer.sign(this.stream, seq, prev) } };
        // One spread, members set by name after: V8 keeps the record's properties fast. A rest and
        // two spreads cost about 5 µs a record more; members copied one by one by key turned the
        // record into a dictionary past a dozen of them, which made canonicalising it slower.
        const id = input.id ?? newRecordId();
        const e: Record<string, unknown> = {
          v: AUDIT_SCHEMA_VERSION,
          id,
          time: new Date(input.at ?? Date.now()).toISOString(),
          stream: this.stream,
          seq: seq + 1,
          prev,
          ...input,
        };
        if (e.id !== id) e.id = id;
        if ('at' in e) delete e.at;
        const full = sealStorable(e as Omit<AuditEvent, 'hash'>);
        events.push(full);
        taken.push(p);
        seq++;
        prev = full.hash;
      } catch (err) {
        p.reject(new Error(`the audit record cannot be written: ${(err as Error).message}`));
      }
    }
    return { events, taken };
  }

  #commit(taken: Pending[], events: AuditEvent[]): void {
    this.failures = 0;
    this.#seq = events[events.length - 1].seq;
    this.#prev = events[events.length - 1].hash;
    for (const [i, p] of taken.entries()) p.resolve(events[i]);
    this.#afterWrite(events);
    this.#onWritten();
  }

  /** After a batch failed for a record's sake: each record in its own transaction, chained on what was written. */
  async #oneByOne(pending: Pending[]): Promise<void> {
    for (let i = 0; i < pending.length; i++) {
      const { events, taken } = this.#chain([pending[i]]);
      if (!events.length) continue;
      try {
        await this.#store.appendBatch(events, this.durability);
        this.#commit(taken, events);
      } catch (err) {
        if (storeDown(err)) {
          this.failures++;
          this.#unsure = true;
        }
        const e = refused(err);
        taken[0].reject(e);
        // The store went down meanwhile: the rest fail closed now, not one timeout each.
        if (storeDown(err)) for (const p of pending.slice(i + 1)) p.reject(e);
        if (storeDown(err)) return;
      }
    }
  }

  /** Wait for everything queued so far. */
  async drain(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }

  /** Write the closing record (marks a clean end of the stream) and stop taking records. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.append({ kind: 'stream.closed' }).catch(() => {});
    // The last word of a stream is signed, so a cut after it is as visible as one before it.
    if (this.#checkpoints) {
      this.#checkpointQueued = false;
      await this.checkpoint().catch(() => {});
    }
    clearTimeout(this.#checkpointTimer);
    this.#closed = true;
    await this.drain();
  }
}
