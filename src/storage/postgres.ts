/**
 * The shared store for several replicas: PostgreSQL through a pg Pool under kysely. Optionally in a
 * dedicated schema (created when missing; every connection's search_path points at it). Replicas
 * starting together migrate one at a time under an advisory lock. No message carries the password.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { CompiledQuery, Kysely, PostgresDialect, sql } from 'kysely';
import { LATEST_MIGRATION, migrate } from './migrations.ts';
import { maskUrl, scrub } from './mask.ts';
import { storeOver } from './repos.ts';
import type { Database } from './schema.ts';
import type { Store } from './types.ts';

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** The advisory lock replicas take around schema creation and migration (any 64-bit constant). */
const MIGRATE_LOCK = sql.lit(0x6761_7465_686f_7573n); // "gatehous"
const INT8_OID = 20;

// BIGINT columns hold epoch milliseconds, far inside Number's exact integer range: parse them as
// numbers for this pool only (pg's default is a string; the global type registry stays untouched).
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? Number
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

function reason(err: unknown): string {
  if (err instanceof AggregateError && !err.message) return err.errors.map(reason).join('; ');
  if (err instanceof Error) return err.message || (err as NodeJS.ErrnoException).code || err.name;
  return String(err);
}

/**
 * Connection errors never reach the process as an unhandled 'error' event. pg emits 'error' on a
 * client whose connection breaks (server restart, failover, pg_terminate_backend) even while a query
 * is running, and the pool listens only on clients it holds idle: a client checked out (inside a
 * transaction, mid-query) had no listener, and its 'error' killed the gateway. Every client gets a
 * listener when it is created; the operation in flight fails on its own (its caller fails closed),
 * the broken client is not queryable so the pool discards it on release, and the next operation
 * opens a new connection.
 */
export function hardenPool(pool: pg.Pool, onError: (err: Error) => void = () => {}): pg.Pool {
  pool.on('error', (err) => onError(err));
  pool.on('connect', (client) => client.on('error', (err) => onError(err)));
  return pool;
}

/**
 * A query still unanswered this long after its statement_timeout has no server behind it (stopped,
 * or the network gone: no reset ever comes): it fails on the client. Later than the server's own
 * timeout, so a server that is there cancels first and the connection stays usable.
 */
const NO_ANSWER_GRACE_MS = 1000;

/** How much later than the client's own bound the server ends a session idle inside a transaction (see `connect`). */
const IDLE_IN_TRANSACTION_AFTER_CLIENT_MS = 2 * NO_ANSWER_GRACE_MS;

/** pg's error for a query its `query_timeout` gave up on. */
const READ_TIMEOUT = 'Query read timeout';

/**
 * A connection whose query the client gave up on (`query_timeout`) is closed at once and never used
 * again. pg fails that query but keeps it as the connection's query in flight, and kysely hands the
 * connection back to the pool as if it were idle: the next query given to it waited behind the
 * missing answer. A connection that never answers again (lost with no reset) failed every query it
 * was given after the bound, for ever, while fresh connections worked beside it; a `begin` that
 * reached the server late left the pooled connection inside a transaction nothing ends, and what was
 * written on it later was never seen by any other connection; a rollback (kysely sends one when a
 * query of a transaction fails) waited a second bound behind the lost query. Closed, the connection
 * leaves the pool (pg-pool never keeps an ended client), a query sent to it fails at once saying why,
 * and the next query gets a fresh connection.
 */
function closeUnanswered(pool: pg.Pool): pg.Pool {
  const closed = new WeakSet<pg.PoolClient>();
  pool.on('connect', (client) => {
    const query = client.query;
    client.query = function (this: pg.PoolClient, ...args: unknown[]) {
      const result: unknown = Reflect.apply(query, this, args);
      if (!(result instanceof Promise)) return result; // a callback or a cursor: kysely sends neither
      if (closed.has(client))
        return result.catch((err: unknown) => {
          throw new Error(`${READ_TIMEOUT} earlier on this connection: it was closed`, { cause: err });
        });
      // Registered before the caller's own handler, so the connection is ended before kysely releases it.
      result.catch((err: unknown) => {
        if (!(err instanceof Error) || err.message !== READ_TIMEOUT || closed.has(client)) return;
        closed.add(client);
        // With a query in flight, end() destroys the socket rather than waiting for the answer.
        void client.end();
      });
      return result;
    } as typeof client.query;
  });
  return pool;
}

/**
 * TCP keepalive on the client's sockets: a connection whose network is gone with no reset is found
 * (and fails) instead of waiting for ever, in the pool or under a migration that runs long.
 */
const KEEPALIVE_DELAY_MS = 10_000;

/**
 * A pool and kysely over it. `queryTimeoutMs` bounds every query: statement_timeout on the server
 * (lock waits included), and the client's own timer for a server that does not answer at all (its
 * connection is then closed: closeUnanswered).
 *
 * It bounds too how long the server keeps a session idle inside a transaction
 * (idle_in_transaction_session_timeout; the server then ends the session, which releases its locks).
 * statement_timeout does not apply between statements: a connection lost with no reset (a network
 * partition, a NAT or firewall that forgot it) inside a transaction left its server process `idle in
 * transaction` holding the transaction's locks until the server's TCP keepalive noticed, about two
 * hours with Linux's defaults: the audit append's lock (audit-repo.ts APPEND_LOCK) among them, so
 * every replica's audit append, and every call that changes something, failed that long. The
 * gateway's own transactions (audit append, inventory update, prune) send their statements back to
 * back, with only the process's own work between them, never a wait on anything else: a transaction
 * idle as long as a query may run is as stuck as that query. The server's bound is a second later
 * than the client's own (query_timeout): a client that is still there gives up on the statement it
 * waits for first, says so, and closes the connection (which ends the session); the server's bound
 * is for a client it cannot hear any more. Migrations (queryTimeoutMs undefined) have no statement
 * bound (an upgrade that rewrites a large table takes what it takes), only the idle bounds of
 * MIGRATION_IDLE_MS; every session has idle_session_timeout (IDLE_SESSION_MS).
 */
function connect(url: string, schema: string | undefined, max: number, queryTimeoutMs?: number): Kysely<Database> {
  const migrating = queryTimeoutMs === undefined;
  const bound = migrating
    ? { idle_in_transaction_session_timeout: MIGRATION_IDLE_MS }
    : {
        statement_timeout: queryTimeoutMs,
        idle_in_transaction_session_timeout: queryTimeoutMs + IDLE_IN_TRANSACTION_AFTER_CLIENT_MS,
        query_timeout: queryTimeoutMs + NO_ANSWER_GRACE_MS,
      };
  const pool = closeUnanswered(
    hardenPool(
      new pg.Pool({
        connectionString: url,
        max,
        connectionTimeoutMillis: 5000,
        idleTimeoutMillis: 30_000,
        types,
        keepAlive: true,
        keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
        ...bound,
      }),
    ),
  );
  return new Kysely<Database>({
    dialect: new PostgresDialect({
      pool,
      onCreateConnection: async (c) => {
        // `schema` matched SCHEMA_NAME, so quoting it is enough.
        if (schema) await c.executeQuery(CompiledQuery.raw(`set search_path to "${schema}"`));
        await c.executeQuery(idleSessionBound(migrating ? MIGRATION_IDLE_MS : IDLE_SESSION_MS));
      },
    }),
  });
}

/**
 * How long the server keeps a session idle outside a transaction (idle_session_timeout) before it
 * ends it. A session whose client is gone with no reset (a network partition, a replica's host lost)
 * held its connection slot until the server's TCP keepalive noticed (about two hours with Linux's
 * defaults), and a replica lost while migrating held the migration lock as long: every other replica
 * waited lock_timeout (60 s) and failed to open. The pool closes a connection idle for 30 s itself
 * (idleTimeoutMillis), so a live gateway's sessions never reach a minute; the migration's statements
 * follow each other with only the migrator's own work between them (inside a transaction too: the
 * migrator's idle_in_transaction_session_timeout is the same), so a few seconds idle there is a client
 * gone, and the lock is free for the next replica soon after.
 */
const IDLE_SESSION_MS = 60_000;
const MIGRATION_IDLE_MS = 5_000;

/** Sets idle_session_timeout where the server has it (PostgreSQL 14 and later; an older one would refuse the name). */
function idleSessionBound(ms: number): CompiledQuery {
  return CompiledQuery.raw(
    `select set_config('idle_session_timeout', '${ms}', false) where current_setting('server_version_num')::int >= 140000`,
  );
}

/** `queryTimeoutMs` bounds each query of the store (storage.queryTimeoutMs; see `connect`). */
export async function openPostgres(url: string, schema: string | undefined, queryTimeoutMs: number): Promise<Store> {
  if (schema !== undefined && !SCHEMA_NAME.test(schema))
    throw new Error(`invalid postgresql schema name \`${schema}\``);
  const db = connect(url, schema, 10, queryTimeoutMs);
  const fail = async (what: string, err: unknown): Promise<never> => {
    await db.destroy().catch(() => {});
    throw new Error(`${what} ${maskUrl(url)}: ${scrub(reason(err), url)}`);
  };
  try {
    await sql`select 1`.execute(db);
  } catch (err) {
    return fail('cannot connect to postgresql at', err);
  }
  // Migrations on a connection of their own, without the query bound: an upgrade that rewrites a large
  // table takes what it takes (waiting for the migration lock is bounded by lock_timeout).
  const migrator = connect(url, schema, 1);
  try {
    await migrator.connection().execute((conn) => migrateLocked(conn, schema));
  } catch (err) {
    return fail('cannot migrate the postgresql database at', err);
  } finally {
    await migrator.destroy().catch(() => {});
  }
  return storeOver(db, 'postgres');
}

/**
 * kysely's migrator looks for its own tables by listing every schema of the database, its tables and
 * their columns, resolving each by name: a schema that another application (or another test) drops
 * meanwhile fails the listing with "schema … does not exist" (SQLSTATE 3F000), or with its table's or
 * column's name (42P01, 42703). It is tried again, up to ten times after a short random pause: each
 * migration runs in its own transaction and what ran is recorded, so a retry is safe. With a loop
 * creating and dropping schemas beside it, 5 of 15 opens failed before; none now. A schema that
 * recorded the last migration is not listed at all (upToDate): only a new one, or an upgrade, is.
 */
const MIGRATE_TRIES = 10;

/**
 * Whether a migration failed because something else was dropped while kysely's migrator listed every
 * schema's tables and columns (by name: a schema, a table or a column that was there a moment before
 * is gone). A failure of our own is tried again too, and still fails, after the tries.
 */
export function droppedMeanwhile(err: unknown, ours: string): boolean {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.message !== 'string') return false;
  if (cause.code === '3F000') return !cause.message.includes(`"${ours}"`); // invalid_schema_name
  return cause.code === '42P01' || cause.code === '42703'; // undefined_table, undefined_column
}

/** Whether the schema recorded the last migration already: then the migrator (and its listing of every schema) is not needed. */
async function upToDate(conn: Kysely<Database>, schema: string): Promise<boolean> {
  try {
    const { rows } = await sql<{
      name: string | null;
    }>`select max(name) as name from ${sql.id(schema)}.kysely_migration`.execute(conn);
    return rows[0]?.name === LATEST_MIGRATION;
  } catch {
    return false; // no table yet: a new schema
  }
}

/** On one connection: take the lock, create the schema, migrate, release the lock. */
async function migrateLocked(conn: Kysely<Database>, schema: string | undefined): Promise<void> {
  // Bounded wait: a replica stuck while holding the lock must not hang every other one forever.
  await sql`set lock_timeout = '60s'`.execute(conn);
  await sql`select pg_advisory_lock(${MIGRATE_LOCK})`.execute(conn);
  try {
    if (schema) await sql`create schema if not exists ${sql.id(schema)}`.execute(conn);
    const { rows } = await sql<{ current: string | null }>`select current_schema() as current`.execute(conn);
    const current = rows[0]?.current;
    if (!current) throw new Error('no schema on the search_path exists: create one or set a schema');
    for (let attempt = 1; !(await upToDate(conn, current)); attempt++) {
      try {
        await migrate(conn, { schema: current, driver: 'postgres' });
        break;
      } catch (err) {
        if (attempt >= MIGRATE_TRIES || !droppedMeanwhile(err, current)) throw err;
        await sleep(10 + Math.random() * 40); // out of step with whatever is dropping schemas
      }
    }
  } catch (err) {
    // Best effort: the caller then closes the pool, and closing the connection releases the lock too.
    await sql`select pg_advisory_unlock(${MIGRATE_LOCK})`.execute(conn).catch(() => {});
    throw err;
  }
  // On success the connection goes back to the pool: it must not keep the lock (no catch here: a
  // failed unlock fails the open, and closing the pool releases the lock).
  await sql`select pg_advisory_unlock(${MIGRATE_LOCK})`.execute(conn);
  await sql`reset lock_timeout`.execute(conn);
}
