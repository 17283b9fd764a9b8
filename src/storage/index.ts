/**
 * Opening the store: SQLite (embedded default: one file in the state directory, WAL) or PostgreSQL
 * (several replicas). Both run the same migrations and pass the same contract suite.
 */
import { mkdirSync, chmodSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import { migrate } from './migrations.ts';
import { sessionRepo, verdictRepo } from './repos.ts';
import type { Database } from './schema.ts';
import type { Store } from './types.ts';

export interface StoreConfig {
  driver: 'sqlite' | 'postgres';
  sqlitePath: string;
  postgresUrl?: string;
  /** PostgreSQL schema to use (created when missing); default `public`. Tests use a fresh one each. */
  pgSchema?: string;
}

/** A connection string with its password replaced, for messages. */
export function maskUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@');
}

// BIGINT (int8) columns hold epoch milliseconds, well inside the safe integer range.
pg.types.setTypeParser(20, (v: string) => Number(v));

export async function openStore(cfg: StoreConfig): Promise<Store> {
  return cfg.driver === 'postgres' ? openPostgres(cfg) : openSqlite(cfg.sqlitePath);
}

async function openSqlite(path: string): Promise<Store> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fresh = !existsSync(path);
  const sqlite = new Sqlite(path);
  if (fresh) chmodSync(path, 0o600);
  // WAL: readers never block the writer. synchronous=FULL: a committed write survives power loss,
  // which the audit trail (issue 7) relies on; group commit keeps it fast.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  await migrate(db);
  return build(db, 'sqlite');
}

async function openPostgres(cfg: StoreConfig): Promise<Store> {
  if (!cfg.postgresUrl) throw new Error('storage.postgresUrl is required for the postgres driver');
  const schema = cfg.pgSchema;
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid postgres schema name \`${schema}\``);
  const pool = new pg.Pool({ connectionString: cfg.postgresUrl, max: 10, connectionTimeoutMillis: 5000 });
  pool.on('error', () => {}); // idle client errors surface on the next query
  if (schema) pool.on('connect', (client) => void client.query(`SET search_path TO "${schema}"`).catch(() => {}));
  // Replicas starting together: one at a time creates the schema and migrates (advisory lock).
  let lock: pg.PoolClient;
  try {
    lock = await pool.connect();
  } catch (err) {
    await pool.end().catch(() => {});
    throw new Error(`cannot connect to postgresql at ${maskUrl(cfg.postgresUrl)}: ${maskUrl((err as Error).message)}`);
  }
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    await lock.query("SELECT pg_advisory_lock(hashtext('gatehouse:migrate'))");
    if (schema) {
      await lock.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await lock.query(`SET search_path TO "${schema}"`);
    }
    await migrate(db);
  } catch (err) {
    lock.release(true);
    await db.destroy().catch(() => {});
    throw new Error(`cannot prepare the postgresql database at ${maskUrl(cfg.postgresUrl)}: ${maskUrl((err as Error).message)}`);
  }
  await lock.query("SELECT pg_advisory_unlock(hashtext('gatehouse:migrate'))").catch(() => {});
  lock.release();
  return build(db, 'postgres');
}

function build(db: Kysely<Database>, driver: 'sqlite' | 'postgres'): Store {
  return {
    driver,
    sessions: sessionRepo(db),
    verdicts: verdictRepo(db),
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      await db.destroy();
    },
  };
}
