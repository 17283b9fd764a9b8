/**
 * The SQLite audit writer, in a worker thread. better-sqlite3 is synchronous: a durable commit
 * (fsync) on the main thread would stop every request for its duration. Here the commit runs beside
 * the event loop, and records keep queueing (and batching) while it does. Messages: `{ id, values }`
 * (rows flattened, AUDIT_COLUMNS each; `replay`: a spool's rows, see REPLAY_AUDIT_ROW) -> `{ id }` or
 * `{ id, error }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Sqlite from 'better-sqlite3';
import { AUDIT_COLUMNS, INSERT_AUDIT_ROW, REPLAY_AUDIT_ROW } from './sqlite-audit-writer.ts';

/** From the writer (sqlite-audit-writer.ts): rows to append, or the last message, to close. */
type Message =
  | { id: number; close: true }
  | { id: number; close?: false; values: unknown[]; sync?: 'FULL' | 'NORMAL'; replay?: boolean };

if (!parentPort) throw new Error('the SQLite audit writer runs in a worker thread');
const port = parentPort;

const db = new Sqlite(workerData.path as string);
db.pragma('busy_timeout = 5000');
db.pragma('temp_store = MEMORY');
// FULL fsyncs every commit (survives a power cut); NORMAL, in WAL mode, leaves the commit in the OS
// (survives this process dying). Each batch says which it needs (`audit.durability`).
let synchronous = 'FULL';
db.pragma(`synchronous = ${synchronous}`);
const insert = db.prepare(INSERT_AUDIT_ROW);
const replayInsert = db.prepare(REPLAY_AUDIT_ROW);
// `immediate`: take the write lock up front, so a concurrent writer waits instead of failing to upgrade.
const appendAll = db.transaction((values: unknown[], replay: boolean) => {
  const n = AUDIT_COLUMNS.length;
  const stmt = replay ? replayInsert : insert;
  for (let i = 0; i < values.length; i += n) stmt.run(values.slice(i, i + n));
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
    appendAll.immediate(m.values, m.replay === true);
    port.postMessage({ id: m.id });
  } catch (err) {
    port.postMessage({ id: m.id, error: (err as Error).message });
  }
});
