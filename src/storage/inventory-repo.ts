/**
 * The inventory tables (inventory_servers, inventory_tools, inventory_events, inventory_snapshots):
 * the only code that reads or writes them. `update` is a serialised read-modify-write per server:
 * SQLite takes its write lock up front (`begin immediate`, so two processes never both read and then
 * both fail to upgrade), PostgreSQL a transaction-scoped advisory lock keyed by the server name.
 */
import { CompiledQuery, sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { Database, InventoryServersTable, InventoryToolsTable } from './schema.ts';
import type { InventoryChange, InventoryServer, InventoryState, InventoryStore, InventoryTool } from './types.ts';

const toJson = (v: unknown): string => JSON.stringify(v) ?? 'null';

function serverOut(r: Selectable<InventoryServersTable>): InventoryServer {
  return {
    server: r.server,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    serverInfo: JSON.parse(r.server_info),
    protocolVersion: r.protocol_version,
    instructions: r.instructions,
    instructionsPin: r.instructions_pin,
    findings: JSON.parse(r.findings),
    acceptedPin: r.accepted_pin,
    acceptedInstructions: r.accepted_instructions,
    acceptedBy: r.accepted_by,
    acceptedAt: r.accepted_at,
  };
}

function serverIn(s: InventoryServer): InventoryServersTable {
  return {
    server: s.server,
    first_seen: s.firstSeen,
    last_seen: s.lastSeen,
    server_info: toJson(s.serverInfo),
    protocol_version: s.protocolVersion,
    instructions: s.instructions,
    instructions_pin: s.instructionsPin,
    findings: toJson(s.findings),
    accepted_pin: s.acceptedPin,
    accepted_instructions: s.acceptedInstructions,
    accepted_by: s.acceptedBy,
    accepted_at: s.acceptedAt,
  };
}

function toolOut(r: Selectable<InventoryToolsTable>): InventoryTool {
  return {
    server: r.server,
    tool: r.tool,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    present: Number(r.present) === 1,
    pin: r.pin,
    def: JSON.parse(r.def),
    findings: JSON.parse(r.findings),
    proposedClass: r.proposed_class,
    proposalReasons: JSON.parse(r.proposal_reasons),
    acceptedPin: r.accepted_pin,
    acceptedDef: r.accepted_def === null ? null : JSON.parse(r.accepted_def),
    acceptedBy: r.accepted_by,
    acceptedAt: r.accepted_at,
    class: r.class,
    classifiedBy: r.classified_by,
    classifiedAt: r.classified_at,
  };
}

function toolIn(t: InventoryTool): InventoryToolsTable {
  return {
    server: t.server,
    tool: t.tool,
    first_seen: t.firstSeen,
    last_seen: t.lastSeen,
    present: t.present ? 1 : 0,
    pin: t.pin,
    def: toJson(t.def),
    findings: toJson(t.findings),
    proposed_class: t.proposedClass,
    proposal_reasons: toJson(t.proposalReasons),
    accepted_pin: t.acceptedPin,
    accepted_def: t.acceptedDef === null ? null : toJson(t.acceptedDef),
    accepted_by: t.acceptedBy,
    accepted_at: t.acceptedAt,
    class: t.class,
    classified_by: t.classifiedBy,
    classified_at: t.classifiedAt,
  };
}

type Db = Kysely<Database> | Transaction<Database>;

async function readState(db: Db, server: string): Promise<InventoryState> {
  const s = await db.selectFrom('inventory_servers').selectAll().where('server', '=', server).executeTakeFirst();
  const tools = await db
    .selectFrom('inventory_tools')
    .selectAll()
    .where('server', '=', server)
    .orderBy('tool')
    .execute();
  const snap = await db
    .selectFrom('inventory_snapshots')
    .select('digest')
    .where('server', '=', server)
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  return { server: s ? serverOut(s) : undefined, tools: tools.map(toolOut), lastDigest: snap?.digest };
}

/** Rows per statement: 17 columns x 100 is well within SQLite's and PostgreSQL's bound parameters. */
const ROWS_PER_INSERT = 100;

function* chunks<T>(xs: readonly T[]): Generator<T[]> {
  for (let i = 0; i < xs.length; i += ROWS_PER_INSERT) yield xs.slice(i, i + ROWS_PER_INSERT);
}

type Driver = 'sqlite' | 'postgres';

const TOOL_COLUMNS = [
  'server',
  'tool',
  'first_seen',
  'last_seen',
  'present',
  'pin',
  'def',
  'findings',
  'proposed_class',
  'proposal_reasons',
  'accepted_pin',
  'accepted_def',
  'accepted_by',
  'accepted_at',
  'class',
  'classified_by',
  'classified_at',
] as const satisfies ReadonlyArray<keyof InventoryToolsTable>;
const EVENT_COLUMNS = ['at', 'server', 'tool', 'kind', 'actor', 'detail'] as const;
// A tool row takes every column but its key from the inserted row (`excluded.*`, on both drivers).
const TOOL_UPSERT = ` on conflict ("server", "tool") do update set ${TOOL_COLUMNS.filter(
  (c) => c !== 'server' && c !== 'tool',
)
  .map((c) => `"${c}" = "excluded"."${c}"`)
  .join(', ')}`;

/** The SQL of each multi-row insert, by driver, table and row count: built once, then kept. */
const insertSql = new Map<string, string>();

/**
 * An insert of `rows` (each one value per column, in `columns` order) as one statement whose SQL is
 * built once per shape. Through kysely's `values()` each statement parsed and compiled every value
 * (1,700 for 100 tools): that parser's loop was one of two functions V8 optimised with TurboFan
 * during a start with 200 tools, which kept about 5 MB of the compiler's code resident (ADR 0014);
 * the kept SQL also keeps SQLite's prepared statement (kept-statements.ts).
 */
async function insertRows(
  db: Db,
  driver: Driver,
  table: string,
  columns: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<unknown>>,
  suffix = '',
): Promise<void> {
  const key = `${driver}\u0000${table}\u0000${rows.length}`;
  let text = insertSql.get(key);
  if (text === undefined) {
    let n = 0;
    const mark = () => (driver === 'postgres' ? `$${++n}` : '?');
    const tuple = () => `(${columns.map(mark).join(', ')})`;
    const values = Array.from({ length: rows.length }, tuple).join(', ');
    text = `insert into "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) values ${values}${suffix}`;
    insertSql.set(key, text);
  }
  const params: unknown[] = [];
  for (const row of rows) for (const v of row) params.push(v ?? null);
  await db.executeQuery(CompiledQuery.raw(text, params));
}

/**
 * A discovery rewrites every tool of its server (their last sighting at least): the tools and the
 * events go in as multi-row statements, where a statement per row took about 45 ms of a start that
 * found 200 tools (kysely building, compiling and running each).
 */
async function writeChange(db: Db, driver: Driver, server: string, c: InventoryChange): Promise<void> {
  if (c.server) {
    const row = serverIn(c.server);
    await db
      .insertInto('inventory_servers')
      .values(row)
      .onConflict((oc) => oc.column('server').doUpdateSet(row))
      .execute();
  }
  const stranger = c.tools?.find((t) => t.server !== server);
  if (stranger) throw new Error(`an inventory update of \`${server}\` tried to write a tool of \`${stranger.server}\``);
  // A tool written twice in one change keeps its last row, as one statement per row did (PostgreSQL
  // refuses a statement that would update one row twice).
  const tools = [...new Map((c.tools ?? []).map((t) => [t.tool, t])).values()];
  for (const part of chunks(tools)) {
    const rows = part.map((t) => {
      const row = toolIn(t);
      return TOOL_COLUMNS.map((col) => row[col]);
    });
    await insertRows(db, driver, 'inventory_tools', TOOL_COLUMNS, rows, TOOL_UPSERT);
  }
  for (const part of chunks(c.events ?? [])) {
    const rows = part.map((e) => [e.at, e.server, e.tool, e.kind, e.actor, toJson(e.detail)]);
    await insertRows(db, driver, 'inventory_events', EVENT_COLUMNS, rows);
  }
  if (c.snapshot) {
    await db
      .insertInto('inventory_snapshots')
      .values({
        server,
        observed_at: c.snapshot.observedAt,
        digest: c.snapshot.digest,
        content: toJson(c.snapshot.content),
      })
      .execute();
  }
}

export function inventoryRepo(db: Kysely<Database>, driver: Driver): InventoryStore {
  return {
    async revision() {
      const r = await db
        .selectFrom('inventory_events')
        .select((eb) => eb.fn.max('seq').as('rev'))
        .executeTakeFirst();
      return Number(r?.rev ?? 0);
    },
    async servers() {
      return (await db.selectFrom('inventory_servers').selectAll().orderBy('server').execute()).map(serverOut);
    },
    async tools(server) {
      let q = db.selectFrom('inventory_tools').selectAll();
      if (server !== undefined) q = q.where('server', '=', server);
      return (await q.orderBy('server').orderBy('tool').execute()).map(toolOut);
    },
    async update(server, fn) {
      if (driver === 'postgres') {
        return db.transaction().execute(async (trx) => {
          await sql`select pg_advisory_xact_lock(hashtext(${`gatehouse.inventory:${server}`}))`.execute(trx);
          const { change, result } = fn(await readState(trx, server));
          await writeChange(trx, driver, server, change);
          return result;
        });
      }
      return db.connection().execute(async (conn) => {
        await sql`begin immediate`.execute(conn);
        try {
          const { change, result } = fn(await readState(conn, server));
          await writeChange(conn, driver, server, change);
          await sql`commit`.execute(conn);
          return result;
        } catch (err) {
          await sql`rollback`.execute(conn).catch(() => {});
          throw err;
        }
      });
    },
    async events(opts = {}) {
      let q = db.selectFrom('inventory_events').selectAll();
      if (opts.server !== undefined) q = q.where('server', '=', opts.server);
      if (opts.afterSeq !== undefined) q = q.where('seq', '>', opts.afterSeq);
      const rows = await q
        .orderBy('seq')
        .limit(opts.limit ?? 1000)
        .execute();
      return rows.map((r) => ({
        seq: Number(r.seq),
        at: r.at,
        server: r.server,
        tool: r.tool,
        kind: r.kind,
        actor: r.actor,
        detail: JSON.parse(r.detail),
      }));
    },
    async snapshots(server, limit = 100) {
      const rows = await db
        .selectFrom('inventory_snapshots')
        .selectAll()
        .where('server', '=', server)
        .orderBy('seq', 'desc')
        .limit(limit)
        .execute();
      return rows.map((r) => ({
        seq: Number(r.seq),
        server: r.server,
        observedAt: r.observed_at,
        digest: r.digest,
        content: JSON.parse(r.content),
      }));
    },
  };
}
