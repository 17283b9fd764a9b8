/**
 * The one migration set, for SQLite and PostgreSQL alike (portable column types only). Migrations
 * are append-only: never edit one that has shipped; add the next. kysely's Migrator records what ran
 * and takes a lock, so replicas starting together migrate once.
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
        .addColumn('client_info', 'text', (c) => c.notNull())
        .addColumn('client_capabilities', 'text', (c) => c.notNull())
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

export async function migrate(db: Kysely<any>): Promise<void> {
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`database migration ${failed} failed: ${(error as Error).message}`);
  }
}
