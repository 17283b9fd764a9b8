/** The main-thread side of the SQLite audit writer (./sqlite-audit-worker.ts). */
import { Worker } from 'node:worker_threads';
import type { AuditDurability } from './types.ts';

type Pending = { resolve: () => void; reject: (err: Error) => void };

/** The columns of a row, in the order the worker's insert binds them. */
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

/** Rows as one flat array of their values: copying it to the worker costs less than copying objects. */
function flatten(rows: ReadonlyArray<Record<(typeof AUDIT_COLUMNS)[number], unknown>>): unknown[] {
  const out: unknown[] = [];
  for (const r of rows) for (const c of AUDIT_COLUMNS) out.push(r[c]);
  return out;
}

export class SqliteAuditWriter {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  #dead: Error | undefined;

  constructor(path: string) {
    // The worker is a sibling module: .ts when run from source, .js from dist.
    const file = new URL(
      import.meta.url.endsWith('.ts') ? './sqlite-audit-worker.ts' : './sqlite-audit-worker.js',
      import.meta.url,
    );
    this.#worker = new Worker(file, { workerData: { path } });
    this.#worker.unref();
    this.#worker.on('message', (m: { id: number; error?: string }) => {
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
    this.#worker.on('error', die);
    this.#worker.on('exit', () => die(new Error('the audit writer stopped')));
  }

  append(
    rows: ReadonlyArray<Record<(typeof AUDIT_COLUMNS)[number], unknown>>,
    durability: AuditDurability = 'power-loss',
  ): Promise<void> {
    if (this.#dead) return Promise.reject(this.#dead);
    return new Promise<void>((resolve, reject) => {
      const id = ++this.#next;
      this.#pending.set(id, { resolve, reject });
      this.#worker.ref(); // keep the process alive while a write is in flight
      this.#worker.postMessage({ id, values: flatten(rows), sync: durability === 'power-loss' ? 'FULL' : 'NORMAL' });
    }).finally(() => {
      if (!this.#pending.size) this.#worker.unref();
    });
  }

  async close(): Promise<void> {
    if (this.#dead) return;
    await new Promise<void>((resolve) => {
      const id = ++this.#next;
      this.#pending.set(id, { resolve, reject: () => resolve() });
      this.#worker.ref(); // the reply must keep the process alive until it arrives
      this.#worker.postMessage({ id, close: true });
    });
    await this.#worker.terminate();
  }
}
