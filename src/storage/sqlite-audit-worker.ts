/**
 * The SQLite audit writer, in a worker thread. better-sqlite3 is synchronous: a durable commit
 * (fsync) on the main thread would stop every request for its duration. Here the commit runs beside
 * the event loop, and records keep queueing (and batching) while it does. Messages: `{ id, rows }` ->
 * `{ id }` or `{ id, error }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Sqlite from 'better-sqlite3';

interface Row {
  stream: string;
  seq: number;
  id: string;
  at: number;
  kind: string;
  run_id: string | null;
  subject: string | null;
  tenant: string | null;
  tool: string | null;
  outcome: string | null;
  intent_id: string | null;
  body: string;
}

/** From the writer (sqlite-audit-writer.ts): rows to append, or the last message, to close. */
type Message = { id: number; close: true } | { id: number; close?: false; rows: Row[]; sync?: 'FULL' | 'NORMAL' };

if (!parentPort) throw new Error('the SQLite audit writer runs in a worker thread');
const port = parentPort;

const db = new Sqlite(workerData.path as string);
db.pragma('busy_timeout = 5000');
// FULL fsyncs every commit (survives a power cut); NORMAL, in WAL mode, leaves the commit in the OS
// (survives this process dying). Each batch says which it needs (`audit.durability`).
let synchronous = 'FULL';
db.pragma(`synchronous = ${synchronous}`);
const insert = db.prepare(
  'insert into audit_events (stream, seq, id, at, kind, run_id, subject, tenant, tool, outcome, intent_id, body) values (@stream, @seq, @id, @at, @kind, @run_id, @subject, @tenant, @tool, @outcome, @intent_id, @body)',
);
// `immediate`: take the write lock up front, so a concurrent writer waits instead of failing to upgrade.
const appendAll = db.transaction((rows: Row[]) => {
  for (const r of rows) insert.run(r);
});

port.on('message', (m: Message) => {
  if (m.close) {
    db.close();
    port.postMessage({ id: m.id });
    return;
  }
  try {
    if (m.sync && m.sync !== synchronous) {
      synchronous = m.sync;
      db.pragma(`synchronous = ${synchronous}`);
    }
    appendAll.immediate(m.rows);
    port.postMessage({ id: m.id });
  } catch (err) {
    port.postMessage({ id: m.id, error: (err as Error).message });
  }
});
