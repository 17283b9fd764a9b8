/**
 * The one migration set, for SQLite and PostgreSQL alike (portable column types only: `text`, and
 * `bigint` for epoch-millisecond timestamps, which SQLite stores as INTEGER). Migrations are
 * append-only: never edit one that has shipped; add the next. kysely's Migrator records what ran in
 * `kysely_migration`, so running it again is a no-op.
 */
import { sql, type Kysely } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';

/** A serial primary key: SQLite's rowid alias, PostgreSQL's identity column. */
function serial(driver: Driver) {
  return driver === 'postgres' ? 'bigserial' : 'integer';
}

type Driver = 'sqlite' | 'postgres';

async function coreMigration(db: Kysely<unknown>): Promise<void> {
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
}

async function inventoryMigration(db: Kysely<unknown>, driver: Driver): Promise<void> {
  await db.schema
    .createTable('inventory_servers')
    .addColumn('server', 'text', (c) => c.primaryKey())
    .addColumn('first_seen', 'bigint', (c) => c.notNull())
    .addColumn('last_seen', 'bigint', (c) => c.notNull())
    .addColumn('server_info', 'text', (c) => c.notNull()) // json
    .addColumn('protocol_version', 'text', (c) => c.notNull())
    .addColumn('instructions', 'text')
    .addColumn('instructions_pin', 'text', (c) => c.notNull())
    .addColumn('findings', 'text', (c) => c.notNull()) // json
    .addColumn('accepted_pin', 'text')
    .addColumn('accepted_instructions', 'text')
    .addColumn('accepted_by', 'text')
    .addColumn('accepted_at', 'bigint')
    .execute();
  await db.schema
    .createTable('inventory_tools')
    .addColumn('server', 'text', (c) => c.notNull())
    .addColumn('tool', 'text', (c) => c.notNull())
    .addColumn('first_seen', 'bigint', (c) => c.notNull())
    .addColumn('last_seen', 'bigint', (c) => c.notNull())
    .addColumn('present', 'bigint', (c) => c.notNull()) // 1 while the server lists it
    .addColumn('pin', 'text', (c) => c.notNull())
    .addColumn('def', 'text', (c) => c.notNull()) // json, as the upstream sent it
    .addColumn('findings', 'text', (c) => c.notNull()) // json
    .addColumn('proposed_class', 'text', (c) => c.notNull())
    .addColumn('proposal_reasons', 'text', (c) => c.notNull()) // json
    .addColumn('accepted_pin', 'text')
    .addColumn('accepted_def', 'text')
    .addColumn('accepted_by', 'text')
    .addColumn('accepted_at', 'bigint')
    .addColumn('class', 'text')
    .addColumn('classified_by', 'text')
    .addColumn('classified_at', 'bigint')
    .addPrimaryKeyConstraint('inventory_tools_pk', ['server', 'tool'])
    .execute();
  await db.schema
    .createTable('inventory_events')
    .addColumn('seq', serial(driver), (c) => (driver === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('server', 'text', (c) => c.notNull())
    .addColumn('tool', 'text')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('detail', 'text', (c) => c.notNull()) // json
    .execute();
  await db.schema
    .createTable('inventory_snapshots')
    .addColumn('seq', serial(driver), (c) => (driver === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
    .addColumn('server', 'text', (c) => c.notNull())
    .addColumn('observed_at', 'bigint', (c) => c.notNull())
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('content', 'text', (c) => c.notNull()) // json
    .execute();
  await db.schema
    .createIndex('inventory_snapshots_server')
    .on('inventory_snapshots')
    .columns(['server', 'seq'])
    .execute();
}

async function apiKeysMigration(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('hash', 'text', (c) => c.notNull()) // sha256 of the secret part; the key itself is never stored
    .addColumn('tenant', 'text', (c) => c.notNull())
    .addColumn('roles', 'text', (c) => c.notNull()) // json
    .addColumn('scopes', 'text', (c) => c.notNull()) // json
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint')
    .addColumn('last_used_at', 'bigint')
    .addColumn('revoked_at', 'bigint')
    .addColumn('revoked_by', 'text')
    .execute();
}

async function auditMigration(db: Kysely<unknown>, driver: Driver): Promise<void> {
  await db.schema
    .createTable('audit_events')
    // A global order for exporters; appends are serialised, so it is also the commit order.
    .addColumn('position', serial(driver), (c) =>
      driver === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
    )
    .addColumn('stream', 'text', (c) => c.notNull())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text')
    .addColumn('subject', 'text')
    .addColumn('tenant', 'text')
    .addColumn('tool', 'text')
    .addColumn('outcome', 'text')
    .addColumn('intent_id', 'text')
    .addColumn('body', 'text', (c) => c.notNull()) // the whole record, hash included
    .addUniqueConstraint('audit_events_stream_seq', ['stream', 'seq'])
    .execute();
  await db.schema.createIndex('audit_events_at').on('audit_events').column('at').execute();
  await db.schema.createIndex('audit_events_run').on('audit_events').column('run_id').execute();
  await db.schema.createIndex('audit_events_intent').on('audit_events').column('intent_id').execute();
  await db.schema
    .createTable('audit_checkpoints')
    .addColumn('stream', 'text', (c) => c.primaryKey())
    .addColumn('seq', 'bigint', (c) => c.notNull()) // the last pruned record of the stream
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('audit_cursors')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('position', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}

async function modesMigration(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('modes')
    .addColumn('scope', 'text', (c) => c.primaryKey()) // `gateway`, `tenant:<t>`, `server:<s>`, `tool:<namespaced>`
    .addColumn('mode', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('set_by', 'text', (c) => c.notNull())
    .addColumn('set_at', 'bigint', (c) => c.notNull())
    .execute();
}

async function credentialsMigration(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('credential_revocations')
    .addColumn('ref', 'text', (c) => c.primaryKey()) // as configured (with {tenant}) or expanded
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('revoked_by', 'text', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('gateway_instances')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('last_seen', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('revocation_acks')
    .addColumn('ref', 'text', (c) => c.notNull())
    .addColumn('instance', 'text', (c) => c.notNull())
    .addColumn('acked_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('revocation_acks_pk', ['ref', 'instance'])
    .execute();
}

async function approvalsMigration(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('approvals')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant', 'text', (c) => c.notNull())
    .addColumn('requester_key', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull()) // the whole request, decisions included
    .execute();
  await db.schema.createIndex('approvals_status').on('approvals').columns(['status', 'tenant']).execute();
  await db.schema
    .createTable('gateway_keys')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull()) // random key material shared by the replicas (e.g. for sealing request state)
    .execute();
}

async function upstreamOauthMigration(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('upstream_tokens')
    .addColumn('server', 'text', (c) => c.notNull())
    .addColumn('tenant', 'text', (c) => c.notNull())
    .addColumn('sealed', 'text', (c) => c.notNull()) // AES-256-GCM under the secrets key; AAD: server and tenant
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('upstream_tokens_pk', ['server', 'tenant'])
    .execute();
  await db.schema
    .createTable('oauth_pending')
    .addColumn('state', 'text', (c) => c.primaryKey())
    .addColumn('server', 'text', (c) => c.notNull())
    .addColumn('tenant', 'text', (c) => c.notNull())
    .addColumn('sealed_verifier', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
}

async function tenantBoundariesMigration(db: Kysely<unknown>): Promise<void> {
  // Revoked token principals: a subject (of one issuer, or of any when issuer is '') or one token id.
  await db.schema
    .createTable('principal_revocations')
    .addColumn('kind', 'text', (c) => c.notNull()) // subject | jti
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('issuer', 'text', (c) => c.notNull()) // '' for every issuer
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('revoked_by', 'text', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('principal_revocations_pk', ['kind', 'value', 'issuer'])
    .execute();
  // Operations that need two distinct people: asked by one, confirmed (and run) by another.
  await db.schema
    .createTable('dual_control')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('params', 'text', (c) => c.notNull()) // json
    .addColumn('requested_by', 'text', (c) => c.notNull())
    .addColumn('requested_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull()) // pending | done | cancelled
    .addColumn('confirmed_by', 'text')
    .addColumn('confirmed_at', 'bigint')
    .execute();
  // The person an API key acts for (two-person rules count people, not credentials).
  await db.schema.alterTable('api_keys').addColumn('subject', 'text').execute();
  // Sessions per tenant are capped: the tenant is kept beside the principal.
  await db.schema.alterTable('sessions').addColumn('tenant', 'text').execute();
  await db.schema.createIndex('sessions_principal').on('sessions').column('principal').execute();
  await db.schema.createIndex('sessions_tenant').on('sessions').column('tenant').execute();
}

async function incidentsMigration(db: Kysely<unknown>, driver: Driver): Promise<void> {
  await db.schema
    .createTable('incidents')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('scope_kind', 'text', (c) => c.notNull()) // tool | server | tenant | principal
    .addColumn('scope_value', 'text', (c) => c.notNull())
    .addColumn('tenant', 'text') // null: gateway-wide
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull()) // open | closed
    .addColumn('opened_by', 'text', (c) => c.notNull())
    .addColumn('opened_at', 'bigint', (c) => c.notNull())
    .addColumn('window_start', 'bigint', (c) => c.notNull())
    .addColumn('closed_by', 'text')
    .addColumn('closed_at', 'bigint')
    .execute();
  await db.schema
    .createTable('incident_actions')
    .addColumn('seq', serial(driver), (c) => (driver === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
    .addColumn('incident_id', 'text', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('detail', 'text', (c) => c.notNull()) // json
    .execute();
  await db.schema
    .createIndex('incident_actions_incident')
    .on('incident_actions')
    .columns(['incident_id', 'seq'])
    .execute();
  // Which gateway applied which version of a change it follows from the store (modes, principal revocations).
  await db.schema
    .createTable('apply_acks')
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('instance', 'text', (c) => c.notNull())
    .addColumn('version', 'bigint', (c) => c.notNull())
    .addColumn('acked_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('apply_acks_pk', ['key', 'instance'])
    .execute();
}

/**
 * The call intents no record closes yet, kept beside the log instead of found by scanning it: every
 * gateway start (and `gatehouse check`) looked for them with an anti-join over every `call.intent`
 * record, seconds at ten million records. A trigger maintains the table in the appending transaction
 * itself (so every writer, the SQLite writer thread included, keeps it without knowing): an intent
 * adds its row, any record naming an intent (its outcome, or `call.unknown`) removes it. The table
 * holds the calls in flight, so its pages stay few and cached. The index on `intent_id` served only
 * that anti-join and goes: each index costs a page write per audit commit.
 */
async function auditOpenIntentsMigration(db: Kysely<unknown>, driver: Driver): Promise<void> {
  const create = db.schema
    .createTable('audit_open_intents')
    .addColumn('id', 'text', (c) => c.primaryKey()) // the intent's record id
    .addColumn('position', 'bigint', (c) => c.notNull()); // its row in audit_events
  // SQLite: the primary key is the table (one B-tree, not a rowid table and an index).
  await (driver === 'sqlite' ? create.modifyEnd(sql`without rowid`) : create).execute();
  if (driver === 'sqlite') {
    await sql`create trigger audit_events_open after insert on audit_events when new.kind = 'call.intent'
      begin insert into audit_open_intents (id, position) values (new.id, new.position); end`.execute(db);
    await sql`create trigger audit_events_close after insert on audit_events when new.intent_id is not null
      begin delete from audit_open_intents where id = new.intent_id; end`.execute(db);
  } else {
    // search_path from the migration's: the function finds the table in the schema it was made in.
    await sql`create function audit_events_track_open() returns trigger language plpgsql
      set search_path from current as $$
      begin
        if new.kind = 'call.intent' then
          insert into audit_open_intents (id, position) values (new.id, new.position);
        end if;
        if new.intent_id is not null then
          delete from audit_open_intents where id = new.intent_id;
        end if;
        return null;
      end $$`.execute(db);
    // Creating the trigger locks out appends until this migration commits, so no row is written
    // between the fill below and the trigger taking over.
    await sql`create trigger audit_events_track_open after insert on audit_events for each row
      when (new.kind = 'call.intent' or new.intent_id is not null)
      execute function audit_events_track_open()`.execute(db);
  }
  // The intents open now: the old anti-join, once, while its index is still there.
  await sql`insert into audit_open_intents (id, position)
    select i.id, i.position from audit_events i
    where i.kind = 'call.intent' and not exists (select 1 from audit_events o where o.intent_id = i.id)`.execute(db);
  await db.schema.dropIndex('audit_events_intent').execute();
}

/**
 * 0012: a tenant's audit records in position order, for the searches tenant admins make (every one
 * of theirs is filtered by their tenant). Without it, a search for a tenant with few records read the
 * whole trail. Its cost per appended row is about a microsecond (appends land at the end of each
 * tenant's range); building it on an existing trail reads the trail once, while appends wait.
 */
async function auditTenantIndexMigration(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('audit_events_tenant').on('audit_events').columns(['tenant', 'position']).execute();
}

/**
 * Console sessions their person signed out of. The session is a sealed cookie and nothing else is
 * kept per session, so without this a copy of the cookie (from a shared machine, a proxy's log, a
 * backup of a browser profile) went on working after "Sign out" until the token in it expired. A row
 * lives until that expiry (`until`); past it the cookie is refused for being expired anyway.
 */
async function consoleSignoutsMigration(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('console_signouts')
    .addColumn('sid', 'text', (c) => c.primaryKey())
    .addColumn('until', 'bigint', (c) => c.notNull())
    .execute();
}

/**
 * 0014: each gateway's secrets key, as its key id (a hash of the key under a fixed label, the one the
 * local secret store already writes: it reveals nothing of a random 256-bit key), beside its
 * heartbeat. Replicas on one store must share the key (what one seals in the store, another opens);
 * `gatehouse check` compares the live gateways' ids with its own. Null for a gateway that has not
 * said (one started before this migration).
 */
async function gatewayKeyIdMigration(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('gateway_instances').addColumn('key_id', 'text').execute();
}

/**
 * The `local:` secrets every replica reads (ADR 0016): kept in the shared database when the store is
 * PostgreSQL, each sealed under the secrets key; and the second key a gateway holds during a key roll.
 */
async function sharedSecretsMigration(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('local_secrets')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('sealed', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.alterTable('gateway_instances').addColumn('previous_key_id', 'text').execute();
}

/** One migration's work; `driver` is for the few column types that differ. */
type Step = (db: Kysely<unknown>, driver: Driver) => Promise<void>;

/** Every migration, by the name kysely records; append only. */
const STEPS: Record<string, Step> = {
  '0001_core': coreMigration,
  '0002_inventory': inventoryMigration,
  '0003_api_keys': apiKeysMigration,
  '0004_audit': auditMigration,
  '0005_modes': modesMigration,
  '0006_credentials': credentialsMigration,
  '0007_approvals': approvalsMigration,
  '0008_upstream_oauth': upstreamOauthMigration,
  '0009_tenant_boundaries': tenantBoundariesMigration,
  '0010_incidents': incidentsMigration,
  '0011_audit_open_intents': auditOpenIntentsMigration,
  '0012_audit_tenant_index': auditTenantIndexMigration,
  '0013_console_signouts': consoleSignoutsMigration,
  '0014_gateway_key_id': gatewayKeyIdMigration,
  '0015_shared_secrets': sharedSecretsMigration,
};

/** The name of the last migration: a database that recorded it is up to date. */
export const LATEST_MIGRATION = Object.keys(STEPS).at(-1) as string;

function migrationsFor(driver: Driver): Record<string, Migration> {
  return Object.fromEntries(
    Object.entries(STEPS).map(([name, step]): [string, Migration] => [name, { up: (db) => step(db, driver) }]),
  );
}

export interface MigrateOptions {
  /**
   * PostgreSQL: the schema the tables live in. It pins kysely's own bookkeeping tables there: left
   * unset, kysely looks for them in every schema of the database and mistakes another schema's for ours.
   */
  schema?: string;
  /** The caller already holds a transaction on this connection (SQLite's `begin immediate`). */
  inTransaction?: boolean;
  /** Column types differ in one place (serial keys). */
  driver: Driver;
  /** Stop after this migration (a test of the next one starts from a database as it was). */
  upTo?: string;
}

/** Bring the database up to date; returns the names of the migrations that ran (none when it was). */
export async function migrate<DB>(db: Kysely<DB>, opts: MigrateOptions): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: async () => migrationsFor(opts.driver) };
  const migrator = new Migrator({
    db,
    provider,
    migrationTableSchema: opts.schema,
    disableTransactions: opts.inTransaction,
  });
  const { error, results = [] } = await (opts.upTo ? migrator.migrateTo(opts.upTo) : migrator.migrateToLatest());
  if (error) {
    const failed = results.find((r) => r.status === 'Error')?.migrationName;
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(failed ? `migration \`${failed}\` failed: ${detail}` : `migrating failed: ${detail}`, {
      cause: error,
    });
  }
  return results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
