/**
 * The one migration set, for SQLite and PostgreSQL alike (portable column types only: `text`, and
 * `bigint` for epoch-millisecond timestamps, which SQLite stores as INTEGER). Migrations are
 * append-only: never edit one that has shipped; add the next. kysely's Migrator records what ran in
 * `kysely_migration`, so running it again is a no-op.
 */
import type { Kysely } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';

const migrations: Record<string, Migration> = {
  '0001_core': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('protocol_version', 'text', (c) => c.notNull())
        .addColumn('client_info', 'text', (c) => c.notNull()) // json
        .addColumn('client_capabilities', 'text', (c) => c.notNull()) // json
        .addColumn('principal', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('sessions_last_seen_at').on('sessions').column('last_seen_at').execute();
      await db.schema
        .createTable('upstream_verdicts')
        .addColumn('server', 'text', (c) => c.primaryKey())
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('era', 'text', (c) => c.notNull())
        .addColumn('protocol_version', 'text', (c) => c.notNull())
        .addColumn('probed_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export interface MigrateOptions {
  /**
   * PostgreSQL: the schema the tables live in. It pins kysely's own bookkeeping tables there: left
   * unset, kysely looks for them in every schema of the database and mistakes another schema's for ours.
   */
  schema?: string;
  /** The caller already holds a transaction on this connection (SQLite's `begin immediate`). */
  inTransaction?: boolean;
}

/** Bring the database up to date; returns the names of the migrations that ran (none when it was). */
export async function migrate(db: Kysely<any>, opts: MigrateOptions = {}): Promise<string[]> {
  const migrator = new Migrator({ db, provider, migrationTableSchema: opts.schema, disableTransactions: opts.inTransaction });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error) {
    const failed = results.find((r) => r.status === 'Error')?.migrationName;
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(failed ? `migration \`${failed}\` failed: ${detail}` : `migrating failed: ${detail}`);
  }
  return results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
