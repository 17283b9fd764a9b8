/**
 * The audit log of one writer (a gateway process or a CLI invocation): its own hash-chained stream.
 * Appends are group-committed: records that arrive while a batch is being written go together in the
 * next transaction, so a busy gateway pays one durable commit per batch, not per record, and every
 * `append` resolves only once its record is durable. A failed batch rejects every record in it and
 * leaves the chain head where it was (nothing half-written is ever chained on).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { AuditStore } from '../storage/types.ts';
import { AUDIT_SCHEMA_VERSION, GENESIS, chainHash, type AuditEvent } from './event.ts';

export type AuditInput = Omit<AuditEvent, 'v' | 'id' | 'time' | 'stream' | 'seq' | 'prev' | 'hash'> & { id?: string; at?: number };

interface Pending {
  input: AuditInput;
  resolve: (e: AuditEvent) => void;
  reject: (err: Error) => void;
}

const MAX_BATCH = 500;

/** A stream name no other writer uses: host, kind of writer, a random suffix. */
export function newStreamName(kind: 'gw' | 'cli'): string {
  return `${hostname().replace(/[^A-Za-z0-9.-]/g, '_').slice(0, 40)}/${kind}/${randomUUID().slice(0, 8)}`;
}

export class AuditLog {
  readonly stream: string;
  readonly #store: AuditStore;
  #seq = 0;
  #prev = GENESIS;
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #closed = false;
  /** Consecutive failed batches; the call path reads it to fail closed quickly. */
  failures = 0;

  readonly #onWritten: () => void;

  /** `onWritten`: after each durable batch (exporters wake up). */
  constructor(store: AuditStore, stream: string, onWritten: () => void = () => {}) {
    this.#store = store;
    this.stream = stream;
    this.#onWritten = onWritten;
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
      await new Promise((r) => setImmediate(r));
      while (this.#queue.length) {
        const batch = this.#queue.splice(0, MAX_BATCH);
        let seq = this.#seq;
        let prev = this.#prev;
        const events: AuditEvent[] = [];
        for (const p of batch) {
          const { at, id, ...rest } = p.input;
          const e = { v: AUDIT_SCHEMA_VERSION, id: id ?? randomUUID(), time: new Date(at ?? Date.now()).toISOString(), stream: this.stream, seq: ++seq, prev, ...rest } as Omit<AuditEvent, 'hash'>;
          const full = { ...e, hash: chainHash(e) } as AuditEvent;
          events.push(full);
          prev = full.hash;
        }
        try {
          await this.#store.appendBatch(events);
        } catch (err) {
          this.failures++;
          const e = new Error(`the audit store refused the write: ${(err as Error).message}`);
          for (const p of batch) p.reject(e);
          continue;
        }
        this.failures = 0;
        this.#seq = seq;
        this.#prev = prev;
        batch.forEach((p, i) => p.resolve(events[i]));
        this.#onWritten();
      }
    } finally {
      this.#flushing = undefined;
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
    this.#closed = true;
    await this.drain();
  }
}
