/**
 * The audit tables (audit_events, audit_open_intents, audit_checkpoints, audit_cursors): the only
 * code that reads or writes them. Appends are serialised across processes — SQLite by its write lock
 * (`begin immediate`), PostgreSQL by a transaction-scoped advisory lock — so the global `position` an
 * exporter follows is also the commit order: a reader never sees position N+1 before N.
 */
import { sql, type Kysely } from 'kysely';
import { bodyOf, type AuditEvent } from '../model/audit-event.ts';
import type { Database } from './schema.ts';
import type { AuditDurability, AuditQuery, AuditStore } from './types.ts';
import type { SqliteAuditWriter } from './sqlite-audit-writer.ts';
import { setImmediate as nextTurn } from 'node:timers/promises';

const APPEND_LOCK = sql.lit(0x6761_7465_6175_6469n); // "gateaudi"
/** Open intents read per query (SQLite allows 32,766 parameters). */
const OPEN_CHUNK = 500;

/**
 * An indexed column's copy of a record's text. PostgreSQL text cannot hold NUL, and a lone surrogate
 * would reach it as U+FFFD anyway: the column gets U+FFFD for both, the body (JSON, where NUL is
 * `\u0000`) keeps the exact value, and the hash covers the body. One caller's hostile tool name thus
 * never fails the batch it shares with others.
 */
function text(v: string): string {
  return v.includes('\u0000') ? v.replaceAll('\u0000', '\ufffd').toWellFormed() : v.toWellFormed();
}

/** `text` of an optional value; absent is null. */
function col(v: string | undefined): string | null {
  return v === undefined ? null : text(v);
}

/** The stored row of a record (also what bench/reconstruct.ts bulk-loads). */
export function auditRow(e: AuditEvent) {
  return {
    stream: text(e.stream),
    seq: e.seq,
    id: text(e.id),
    at: Date.parse(e.time),
    kind: e.kind,
    run_id: col(e.runId),
    subject: col(e.actor?.subject),
    tenant: col(e.actor?.tenant),
    tool: col(e.tool),
    outcome: e.outcome ?? null,
    intent_id: col(e.intent),
    body: bodyOf(e),
  };
}

type AuditRow = ReturnType<typeof auditRow>;

/** PostgreSQL: one transaction holding the append lock, so positions follow commit order. */
async function appendPostgres(db: Kysely<Database>, rows: AuditRow[], durability: AuditDurability): Promise<void> {
  await db.transaction().execute(async (trx) => {
    // This transaction only: the server acknowledges before its WAL reaches the disk.
    if (durability === 'process-crash') await sql`set local synchronous_commit = off`.execute(trx);
    await sql`select pg_advisory_xact_lock(${APPEND_LOCK})`.execute(trx);
    await trx.insertInto('audit_events').values(rows).execute();
  });
}

/** SQLite on this connection: `begin immediate` takes the write lock up front. */
async function appendSqlite(db: Kysely<Database>, rows: AuditRow[]): Promise<void> {
  await db.connection().execute(async (conn) => {
    await sql`begin immediate`.execute(conn);
    try {
      await conn.insertInto('audit_events').values(rows).execute();
      await sql`commit`.execute(conn);
    } catch (err) {
      await sql`rollback`.execute(conn).catch(() => {});
      throw err;
    }
  });
}

/** Records matching `q` in position order; `through`: none past this position (a search's window). */
async function readEvents(
  db: Kysely<Database>,
  q: AuditQuery,
  through?: number,
): Promise<Array<{ position: number; event: AuditEvent }>> {
  const rows = await eventsQuery(db, q, through).execute();
  return rows.map((r) => ({ position: Number(r.position), event: JSON.parse(r.body) as AuditEvent }));
}

/** The query of readEvents (a test reads SQLite's plan of a search's window). */
export function eventsQuery(db: Kysely<Database>, q: AuditQuery, through?: number) {
  let s = db.selectFrom('audit_events').select(['position', 'body']);
  if (q.afterPosition !== undefined) s = s.where('position', '>', q.afterPosition);
  if (through !== undefined) s = s.where('position', '<=', through);
  if (q.stream !== undefined) s = s.where('stream', '=', q.stream);
  if (q.since !== undefined) s = s.where('at', '>=', q.since);
  if (q.until !== undefined) s = s.where('at', '<', q.until);
  if (q.runId !== undefined) s = s.where('run_id', '=', q.runId);
  if (q.subject !== undefined) s = s.where('subject', '=', q.subject);
  if (q.tenant !== undefined) s = s.where('tenant', '=', q.tenant);
  if (q.tool !== undefined) s = s.where('tool', '=', q.tool);
  if (q.outcome !== undefined) s = s.where('outcome', '=', q.outcome);
  if (q.kind !== undefined) s = s.where('kind', '=', q.kind);
  return s.orderBy('position').limit(q.limit ?? 1000);
}

/** Positions a search reads per query (a window): SQLite reads one in 5-20 ms when no record matches. */
const SEARCH_WINDOW = 20_000;
/** A search stops after this long and says where to go on (`next`). */
const SEARCH_BUDGET_MS = 250;

/**
 * A search (AuditStore.search): the trail in windows of positions, each its own query, with a turn of
 * the event loop between them. A filter no index serves (a subject, a tool, a tenant's rare outcome)
 * reads every record in range: SQLite runs queries on the event loop, and one query over ten million
 * records would stop every call for seconds. The tenant filter is served by (tenant, position).
 */
async function searchEvents(
  db: Kysely<Database>,
  q: AuditQuery,
  opts: { window?: number; budgetMs?: number } = {},
): Promise<{ rows: Array<{ position: number; event: AuditEvent }>; next?: number }> {
  const limit = q.limit ?? 1000;
  const window = opts.window ?? SEARCH_WINDOW;
  const deadline = performance.now() + (opts.budgetMs ?? SEARCH_BUDGET_MS);
  const end = Number((await edge(db, 'max').executeTakeFirst())?.p ?? 0);
  const rows: Array<{ position: number; event: AuditEvent }> = [];
  // Pruning leaves the trail starting further on: no windows over positions that are gone.
  let after = Math.max(q.afterPosition ?? 0, Number((await edge(db, 'min').executeTakeFirst())?.p ?? 1) - 1);
  if (q.since !== undefined) {
    const first = await firstSince(db, q.since);
    if (first === null) return { rows }; // no record is that recent
    if (first !== undefined) after = Math.max(after, first - 1);
  }
  while (after < end) {
    const through = Math.min(after + window, end);
    const got = await readEvents(db, { ...q, afterPosition: after, limit: limit - rows.length }, through);
    rows.push(...got);
    if (rows.length >= limit) return { rows, next: rows[rows.length - 1].position };
    after = through;
    if (after >= end || performance.now() >= deadline) break;
    await nextTurn();
  }
  return after < end ? { rows, next: after } : { rows };
}

/**
 * The first or last position of the trail. One aggregate per query: SQLite reads a min() or a max()
 * of the key at one end of it, but a query asking both scans the whole table.
 */
export function edge(db: Kysely<Database>, which: 'min' | 'max') {
  return db.selectFrom('audit_events').select((eb) => eb.fn[which]('position').as('p'));
}

/** Records read through the time index to find where a `since` search starts. */
const SINCE_SCAN = 100_000;

/**
 * The first position of a record at or after `since`: exact when at most SINCE_SCAN records are
 * (read from the time index alone, no record is read), else undefined (the search starts at the
 * beginning); null when there are none. Not the position of the earliest such record: positions
 * follow commits, and a record can be committed after later ones (a spool replayed after a crash).
 */
async function firstSince(db: Kysely<Database>, since: number): Promise<number | null | undefined> {
  const recent = db
    .selectFrom('audit_events')
    .select('position')
    .where('at', '>=', since)
    .limit(SINCE_SCAN + 1);
  const r = await db
    .selectFrom(recent.as('r'))
    .select((eb) => [eb.fn.countAll().as('n'), eb.fn.min('position').as('p')])
    .executeTakeFirstOrThrow();
  const n = Number(r.n);
  if (n === 0) return null;
  return n > SINCE_SCAN ? undefined : Number(r.p);
}

/**
 * Every stream and its last seq: one index seek per stream on (stream, seq) (a loose index scan),
 * not a GROUP BY over every record (300 ms at 300,000 records, seconds at millions, on the event loop).
 */
export function streamsQuery() {
  return sql<{ stream: string; last: number | string }>`
    with recursive s(stream) as (
      select min(stream) from audit_events
      union all
      select (select min(e.stream) from audit_events e where e.stream > s.stream) from s where s.stream is not null
    )
    select s.stream, (select max(e.seq) from audit_events e where e.stream = s.stream) as last
    from s where s.stream is not null order by s.stream`;
}

/** At most `limit` tenants records name, in order: a loose index scan of (tenant, position), as streamsQuery. */
function tenantsQuery(limit: number) {
  return sql<{ tenant: string }>`
    with recursive s(tenant, n) as (
      select min(tenant), 1 from audit_events
      union all
      select (select min(e.tenant) from audit_events e where e.tenant > s.tenant), s.n + 1
      from s where s.tenant is not null and s.n < ${limit}
    )
    select s.tenant from s where s.tenant is not null order by s.tenant`;
}

/** Records one pruning transaction takes at most (about 20 ms of the event loop on SQLite). */
const PRUNE_CHUNK = 1000;

/**
 * Each stream's last record among the `limit` oldest records older than `before`, taken through the
 * `at` index. (Asked for every stream's last old record at once, SQLite's planner walked the whole
 * (stream, seq) index and read every record to test its time: 280 ms at 300,000 records, seconds at
 * millions, inside the pruning's write transaction.)
 */
export function oldestBefore(db: Kysely<Database>, before: number, limit: number) {
  const old = db
    .selectFrom('audit_events')
    .select(['stream', 'seq'])
    .where('at', '<', before)
    .orderBy('at')
    .limit(limit);
  return db
    .selectFrom(old.as('old'))
    .select((eb) => ['stream', eb.fn.max('seq').as('seq')])
    .groupBy('stream');
}

/**
 * Delete records older than `before`, keeping a checkpoint of the last deleted per stream: a chunk of
 * the oldest at a time, each in its own transaction, with a turn of the event loop between them. In
 * one transaction, the first prune of a long trail (retention just turned on over millions of
 * records) held the write lock, and on SQLite the event loop, for minutes: appends waited until the
 * spool's bound refused them, so calls failed closed.
 */
async function pruneBefore(db: Kysely<Database>, before: number, signal?: AbortSignal): Promise<number> {
  let deleted = 0;
  for (;;) {
    if (signal?.aborted) return deleted;
    const n = await pruneChunk(db, before);
    if (n === undefined) return deleted;
    deleted += n;
    await nextTurn();
  }
}

/** One chunk of pruneBefore; undefined when nothing is old enough. */
async function pruneChunk(db: Kysely<Database>, before: number): Promise<number | undefined> {
  return db.transaction().execute(async (trx) => {
    const last = await oldestBefore(trx, before, PRUNE_CHUNK).execute();
    if (!last.length) return undefined;
    let deleted = 0;
    for (const l of last) {
      const cut = await trx
        .selectFrom('audit_events')
        .select('body')
        .where('stream', '=', l.stream)
        .where('seq', '=', Number(l.seq))
        .executeTakeFirstOrThrow();
      const hash = (JSON.parse(cut.body) as AuditEvent).hash;
      const cp = { seq: Number(l.seq), hash, at: Date.now() };
      await trx
        .insertInto('audit_checkpoints')
        .values({ stream: l.stream, ...cp })
        .onConflict((oc) => oc.column('stream').doUpdateSet(cp))
        .execute();
      // Everything up to the checkpoint goes, so the remaining chain starts right after it.
      const r = await trx
        .deleteFrom('audit_events')
        .where('stream', '=', l.stream)
        .where('seq', '<=', Number(l.seq))
        .executeTakeFirst();
      deleted += Number(r.numDeletedRows);
    }
    // An intent pruned while still open has nothing left to close (openIntents joins it away anyway).
    if (deleted)
      await trx
        .deleteFrom('audit_open_intents')
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('audit_events as e')
                .select('e.position')
                .whereRef('e.position', '=', 'audit_open_intents.position'),
            ),
          ),
        )
        .execute();
    return deleted;
  });
}

/** AuditStore.closedAsUnknown: whether the intent is still open (its row), then the rows after it. */
async function closedAsUnknown(
  db: Kysely<Database>,
  intent: Pick<AuditEvent, 'id' | 'stream' | 'seq'>,
): Promise<AuditEvent | undefined> {
  const open = await db.selectFrom('audit_open_intents').select('id').where('id', '=', intent.id).executeTakeFirst();
  if (open) return undefined;
  const at = await db
    .selectFrom('audit_events')
    .select('position')
    .where('stream', '=', intent.stream)
    .where('seq', '=', intent.seq)
    .executeTakeFirst();
  if (!at) return undefined;
  // No index on intent_id (migration 0011): the rows after the intent, in position order.
  const r = await db
    .selectFrom('audit_events')
    .select('body')
    .where('position', '>', Number(at.position))
    .where('intent_id', '=', intent.id)
    .where('kind', '=', 'call.unknown')
    .orderBy('position')
    .limit(1)
    .executeTakeFirst();
  return r ? (JSON.parse(r.body) as AuditEvent) : undefined;
}

export function auditRepo(
  db: Kysely<Database>,
  driver: 'sqlite' | 'postgres',
  sqliteWriter?: SqliteAuditWriter,
): AuditStore {
  const repo = tables(db, driver, sqliteWriter);
  return sqliteWriter ? spooled(repo, sqliteWriter) : repo;
}

/**
 * The embedded store with its spool (ADR 0015): readers in this process see every record it appended
 * before they asked (what is spooled is stored first); other processes see it within the spool's
 * ingestion interval. A stopped writer's spool holds outcomes of its intents: it is replayed before
 * open intents are counted.
 */
function spooled(repo: AuditStore, writer: SqliteAuditWriter): AuditStore {
  const settled =
    <A extends unknown[], R>(read: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      await writer.settled();
      return read(...args);
    };
  return {
    ...repo,
    read: settled(repo.read),
    search: settled(repo.search),
    streams: settled(repo.streams),
    count: settled(repo.count),
    tenants: settled(repo.tenants),
    streamRecords: settled(repo.streamRecords),
    checkpoint: settled(repo.checkpoint),
    prune: settled(repo.prune),
    closedAsUnknown: settled(repo.closedAsUnknown),
    async openIntents(excludeStreams) {
      await writer.replay(auditRow);
      await writer.settled();
      return repo.openIntents(excludeStreams);
    },
    spool: () => ({ ...writer.spooled(), replayed: writer.takeReplayed() }),
  };
}

function tables(db: Kysely<Database>, driver: 'sqlite' | 'postgres', sqliteWriter?: SqliteAuditWriter): AuditStore {
  return {
    async appendBatch(events, durability = 'power-loss') {
      if (!events.length) return;
      const rows = events.map(auditRow);
      if (sqliteWriter) return sqliteWriter.append(rows, durability);
      if (driver === 'postgres') await appendPostgres(db, rows, durability);
      else await appendSqlite(db, rows);
    },
    read: (q) => readEvents(db, q),
    search: (q, opts) => searchEvents(db, q, opts),
    async streams() {
      const r = await streamsQuery().execute(db);
      return r.rows.map((x) => ({ stream: x.stream, lastSeq: Number(x.last) }));
    },
    async count() {
      // Both drivers count an index, not the rows (SQLite its smallest index; PostgreSQL an index-only
      // scan once vacuumed). count(*) is a bigint: our pg pool parses those as numbers (postgres.ts),
      // pg's default is a string, so Number() either way.
      const r = await db
        .selectFrom('audit_events')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      return Number(r.n);
    },
    async tenants(limit) {
      return (await tenantsQuery(limit).execute(db)).rows.map((r) => r.tenant);
    },
    async streamRecords(stream, fromSeq, limit) {
      const rows = await db
        .selectFrom('audit_events')
        .select(['position', 'stream', 'seq', 'body'])
        .where('stream', '=', stream)
        .where('seq', '>=', fromSeq)
        .orderBy('seq')
        .limit(limit)
        .execute();
      return rows.map((r) => ({ position: Number(r.position), stream: r.stream, seq: Number(r.seq), body: r.body }));
    },
    async openIntents(excludeStreams) {
      // audit_open_intents holds the intents no record closes yet (kept by triggers on append,
      // migrations.ts): a few rows. Their records are then read by primary key, in two queries rather
      // than a join, so no planner estimate (the table changes with every call) can turn it into a scan
      // of the log.
      const open = await db
        .selectFrom('audit_open_intents')
        .select('position')
        .orderBy('position')
        .limit(10_000)
        .execute();
      const events: AuditEvent[] = [];
      for (let i = 0; i < open.length; i += OPEN_CHUNK) {
        let q = db
          .selectFrom('audit_events')
          .select('body')
          .where(
            'position',
            'in',
            open.slice(i, i + OPEN_CHUNK).map((r) => Number(r.position)),
          );
        if (excludeStreams.length) q = q.where('stream', 'not in', [...excludeStreams]);
        const rows = await q.orderBy('position').execute();
        for (const r of rows) events.push(JSON.parse(r.body) as AuditEvent);
      }
      return events;
    },
    closedAsUnknown: (intent) => closedAsUnknown(db, intent),
    async checkpoint(stream) {
      const r = await db.selectFrom('audit_checkpoints').selectAll().where('stream', '=', stream).executeTakeFirst();
      return r ? { seq: Number(r.seq), hash: r.hash, at: Number(r.at) } : undefined;
    },
    prune: (before, signal) => pruneBefore(db, before, signal),
    async tail(after) {
      const last = await db
        .selectFrom('audit_events')
        .select((eb) => eb.fn.max('position').as('p'))
        .executeTakeFirst();
      const first = await db
        .selectFrom('audit_events')
        .select('at')
        .where('position', '>', after)
        .orderBy('position')
        .limit(1)
        .executeTakeFirst();
      return { lastPosition: Number(last?.p ?? 0), firstAt: first ? Number(first.at) : undefined };
    },
    async getCursor(name) {
      const r = await db.selectFrom('audit_cursors').select('position').where('name', '=', name).executeTakeFirst();
      return r ? Number(r.position) : 0;
    },
    async setCursor(name, position) {
      // Only forward: replicas export through one cursor, and one that is behind must not move it back.
      const v = { position, updated_at: Date.now() };
      await db
        .insertInto('audit_cursors')
        .values({ name, ...v })
        .onConflict((oc) => oc.column('name').doNothing())
        .execute();
      await db.updateTable('audit_cursors').set(v).where('name', '=', name).where('position', '<', position).execute();
    },
  };
}
