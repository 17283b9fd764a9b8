/**
 * Opening the store: SQLite (embedded default: one file in the state directory) or PostgreSQL
 * (several replicas). Both run the same migrations on open and pass the same contract suite
 * (contract.test.ts).
 */
import type { Store } from './types.ts';
import { isPostgresUrl } from './mask.ts';

export interface StoreConfig {
  driver: 'sqlite' | 'postgres';
  /** The SQLite file (absolute once the config is loaded); unused by the postgres driver. */
  sqlitePath: string;
  postgresUrl?: string;
  /** A dedicated PostgreSQL schema, created when missing; default: the connection's search_path. */
  pgSchema?: string;
  /** PostgreSQL: how long one query may take (default DEFAULT_QUERY_TIMEOUT_MS); unused by SQLite. */
  queryTimeoutMs?: number;
}

/**
 * How long one PostgreSQL query may take (`storage.queryTimeoutMs`). Generous: every query the gateway
 * and the CLI make reads a bounded page, so one that runs this long is stuck (a lock, a store gone).
 */
export const DEFAULT_QUERY_TIMEOUT_MS = 30_000;

/** Only the configured driver is loaded (pg is never loaded by an embedded gateway, nor SQLite by a replica). */
export async function openStore(cfg: StoreConfig): Promise<Store> {
  if (cfg.driver === 'sqlite') return (await import('./sqlite.ts')).openSqlite(cfg.sqlitePath);
  if (!cfg.postgresUrl) throw new Error('`storage.postgresUrl` is required with the postgres driver');
  // The config refuses it at its line; a caller that did not load one is refused too, nothing of it shown.
  if (!isPostgresUrl(cfg.postgresUrl))
    throw new Error('`storage.postgresUrl` is not a `postgres://` or `postgresql://` URL (the value is not shown)');
  return (await import('./postgres.ts')).openPostgres(
    cfg.postgresUrl,
    cfg.pgSchema,
    cfg.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS,
  );
}
