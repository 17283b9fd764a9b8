/**
 * The embedded store: one SQLite file in the state directory (better-sqlite3 under kysely), readable
 * only by the gateway's user. `gatehouse start` needs nothing else.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Sqlite from 'better-sqlite3';
import { Kysely, type Selectable, SqliteDialect, sql } from 'kysely';
import { apiKeyById } from './api-key-repo.ts';
import { auditRow } from './audit-repo.ts';
import { keepingStatements } from './kept-statements.ts';
import { migrate } from './migrations.ts';
import { storeOver } from './repos.ts';
import { SqliteAuditWriter } from './sqlite-audit-writer.ts';
import { notPrivateDir } from '../util/private-path.ts';
import type { ApiKeysTable, Database } from './schema.ts';
import type { Store } from './types.ts';

/** Create `path` empty with mode 0600 unless it exists, so it is never readable by others, not even briefly. */
function createPrivately(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

const BUSY_TIMEOUT_MS = 5000;

/**
 * Switch the file to WAL (a lasting property of the file). That needs the file to itself for a
 * moment, and SQLite answers SQLITE_BUSY at once instead of waiting: retry until the busy timeout.
 */
async function enableWal(sqlite: Sqlite.Database): Promise<void> {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      const mode = sqlite.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`the journal mode stays \`${mode}\` instead of wal`);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw err;
      await sleep(10 + Math.random() * 40);
    }
  }
}

export async function openSqlite(path: string): Promise<Store> {
  let sqlite: Sqlite.Database | undefined;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // Another user who can write the directory can swap the database (and its keys) for their own.
    const why = notPrivateDir(dirname(path), 'the state directory');
    if (why) throw new Error(why);
    createPrivately(path); // the -wal and -shm files SQLite creates take the same mode
    sqlite = new Sqlite(path);
    // busy_timeout first: another process may hold the file, and every statement below (switching
    // to WAL too) then waits up to 5 s for its lock instead of failing at once. WAL: readers never
    // block the writer, so several processes can share the file.
    // synchronous=FULL (not NORMAL): every commit is fsynced, so a write the gateway acknowledged
    // survives a power cut. This file will hold the audit trail and approvals, which must never be
    // lost silently; the writes are few (session creation, throttled touches), so the cost is small.
    sqlite.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    await enableWal(sqlite);
    sqlite.pragma('synchronous = FULL');
    // What is deleted or replaced (an upstream token sealed under a rotated key) is overwritten with
    // zeros in the file, not left in free space for someone with the old key to find.
    sqlite.pragma('secure_delete = ON');
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: keepingStatements(sqlite) }) });
    await db.connection().execute(migrateLocked);
    const keyRow = sqlite.prepare<[string], Selectable<ApiKeysTable>>(apiKeyById(db).sql);
    const writer = new SqliteAuditWriter(path);
    // What writers that stopped left in their spools is stored before anyone reads the trail.
    await writer.replay(auditRow);
    return storeOver(db, 'sqlite', {
      writer,
      apiKeyRow: (id) => keyRow.get(id),
      emptyLog: (timeoutMs) => emptyLog(path, timeoutMs),
    });
  } catch (err) {
    sqlite?.close();
    throw new Error(`cannot open the sqlite store \`${path}\`: ${(err as Error).message}`);
  }
}

/**
 * Migrate under SQLite's write lock, taken before reading what has run: kysely takes no lock of its
 * own on SQLite, and two processes opening a new file together would both try to create the tables.
 */
async function migrateLocked(conn: Kysely<Database>): Promise<void> {
  await sql`begin immediate`.execute(conn);
  try {
    await migrate(conn, { inTransaction: true, driver: 'sqlite' });
  } catch (err) {
    await sql`rollback`.execute(conn).catch(() => {}); // the caller closes the file either way
    throw err;
  }
  await sql`commit`.execute(conn);
}

/**
 * Copy the write-ahead log into the database file and truncate it to nothing, so no earlier version of
 * a page (a value since replaced, zeroed in the file by secure_delete) is left in the log. The other
 * connections (a running gateway's) must not be reading an older snapshot meanwhile: retried on a
 * connection of its own that never blocks, until `timeoutMs`. false when it did not complete.
 */
async function emptyLog(path: string, timeoutMs: number): Promise<boolean> {
  const db = new Sqlite(path);
  try {
    db.pragma('busy_timeout = 0');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const [r] = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
        if (r?.busy === 0) return true;
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
      }
      if (Date.now() > deadline) return false;
      await sleep(20 + Math.random() * 80);
    }
  } finally {
    db.close();
  }
}
