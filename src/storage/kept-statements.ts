/**
 * better-sqlite3 as kysely's database, with prepared statements kept. Kysely's SQLite driver
 * prepares every query it runs, and preparing costs more than running the small lookups on a call's
 * path (an API key's row, a session's): a profile of the gateway under load had `prepare` at 5% of
 * its CPU. Statements are kept by their SQL text, the oldest dropped past `MAX` (texts vary only with
 * the length of `in (...)` lists and multi-row inserts); a statement still iterating is never handed
 * out a second time. SQLite re-prepares a kept statement itself when a migration changes the schema.
 */
import type Sqlite from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';

const MAX = 256;

export function keepingStatements(db: Sqlite.Database, max = MAX): SqliteDatabase {
  const kept = new Map<string, Sqlite.Statement>();
  return {
    close: () => db.close(),
    prepare(sql) {
      const hit = kept.get(sql);
      if (hit && !hit.busy) return hit;
      const stmt = db.prepare(sql);
      if (hit) return stmt; // the kept one is iterating: this one is used once
      if (kept.size >= max) kept.delete(kept.keys().next().value as string);
      kept.set(sql, stmt);
      return stmt;
    },
  };
}
