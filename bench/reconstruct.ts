/**
 * Audit storage at scale: an SQLite store and a PostgreSQL store, each filled with N realistic audit
 * records (default 10 million), opened as the gateway opens them (so the migrations made the tables
 * and indexes). It times what reads the trail at that size:
 * - reconstructing a run as `gatehouse audit run <id>` does (and the admin API's `audit/runs/<id>`,
 *   the console's run page and an incident bundle, which make the same read): read the run's records
 *   (`store.audit.read({ runId, limit: 100_000 })`), keep the caller's tenant, `timeline()`; for the
 *   first, middle and last run and random ones, each read three times (the first read of a run is
 *   reported apart: its pages may not be cached);
 * - `openIntents`, which every gateway start (src/audit/audit.ts) and `gatehouse check` run;
 * and prints the query plans of both reads. Writes bench/results/<date>-<id>-reconstruct.{md,json}.
 *
 * Loading bypasses the hash chain's cost (the hashes are random hex, not a chain; `gatehouse audit
 * verify` would reject them): rows are built by the store's own `auditRow` from records shaped as
 * src/audit/calls.ts and log.ts make them, and inserted in large transactions (SQLite: the statement
 * the audit writer uses; PostgreSQL: unnest() batches). Several tenants, replicas (streams) that
 * restart every million records (one in four crashes, leaving in-flight intents that the next stream
 * marks `call.unknown`), runs of 10-50 records interleaved, a signed checkpoint every 1,000 records.
 * The last streams crash too, so `openIntents` has something to find.
 *
 *   node bench/reconstruct.ts [--records 10000000 | --quick] [--samples 30]
 *     [--sqlite FILE] [--pg URL] [--pg-schema NAME] [--stores sqlite,postgres] [--keep] [--reuse]
 * --keep leaves the stores filled; --reuse measures stores an earlier --keep run filled (no loading:
 * opening them runs any newer migration, which is how a migration is timed at scale).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import type { AuditEvent } from '../src/model/audit-event.ts';
import { timeline } from '../src/audit/timeline.ts';
import { auditRow } from '../src/storage/audit-repo.ts';
import { openStore } from '../src/storage/index.ts';
import { AUDIT_COLUMNS, INSERT_AUDIT_ROW } from '../src/storage/sqlite-audit-writer.ts';
import type { Store } from '../src/storage/types.ts';
import { gitCommit, machineLine } from './machine.ts';

const ROOT = join(import.meta.dirname, '..');
const { values: opts } = parseArgs({
  options: {
    records: { type: 'string' },
    quick: { type: 'boolean' },
    samples: { type: 'string', default: '30' },
    sqlite: { type: 'string', default: join(tmpdir(), 'gatehouse-bench-reconstruct.db') },
    pg: { type: 'string', default: process.env.GATEHOUSE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    'pg-schema': { type: 'string', default: 'bench_reconstruct' },
    stores: { type: 'string', default: 'sqlite,postgres' },
    keep: { type: 'boolean' },
    reuse: { type: 'boolean' },
  },
});
const RECORDS = Number(opts.records ?? (opts.quick ? 200_000 : 10_000_000));
const SAMPLES = Number(opts.samples);
const PG_SCHEMA = opts['pg-schema'];
if (!Number.isInteger(RECORDS) || RECORDS < 10_000) throw new Error(`bad \`--records ${opts.records}\``);
if (!/^[a-z_][a-z0-9_]{0,62}$/.test(PG_SCHEMA)) throw new Error(`bad \`--pg-schema ${PG_SCHEMA}\``);
const STORES = opts.stores.split(',').map((s) => s.trim()) as Array<'sqlite' | 'postgres'>;
const say = (m: string) => process.stderr.write(`bench reconstruct: ${m}\n`);
/** The commit measured: read at start (others may commit while a long run goes on). */
const COMMIT = gitCommit();

// ---- realistic records ------------------------------------------------------------------------

/** A seeded generator (mulberry32): the same records every run. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(17);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
const hex = (n: number): string => {
  let s = '';
  while (s.length < n)
    s += Math.floor(rand() * 0x100000000)
      .toString(16)
      .padStart(8, '0');
  return s.slice(0, n);
};
const uuid = (): string => {
  const h = hex(32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20)}`;
};

const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark'];
const TOOLS: Array<[server: string, tool: string, cls: string]> = [
  ['github', 'github__search_issues', 'READ'],
  ['github', 'github__create_issue', 'WRITE'],
  ['github', 'github__get_file_contents', 'READ'],
  ['fs', 'fs__read_file', 'READ'],
  ['fs', 'fs__write_file', 'WRITE'],
  ['fs', 'fs__list_directory', 'READ'],
  ['db', 'db__query', 'READ'],
  ['db', 'db__execute', 'DESTRUCTIVE'],
  ['slack', 'slack__post_message', 'WRITE'],
  ['jira', 'jira__search', 'READ'],
];
const PINS = TOOLS.map(() => `sha256:${hex(64)}`);
const CLIENTS = ['claude-code/2.1.3', 'cursor/1.7.2', 'codex-cli/0.58.0', 'nightly-agent/1.0'];

interface Run {
  id: string;
  session?: string;
  tenant: string;
  subject: string;
  client: string;
  left: number;
  requests: number;
}

interface Stream {
  name: string;
  seq: number;
  prev: string;
  /** Intents written and not yet closed: their outcome comes a few records later. */
  inFlight: Array<{ due: number; run: Run; intent: AuditEvent; tool: number }>;
}

const DAY_MS = 86_400_000;
const REPLICAS = 3;
const STREAM_RECORDS = 1_000_000;
const ACTIVE_RUNS = 400;

function newRun(): Run {
  const tenant = pick(TENANTS);
  const session = rand() < 0.7 ? uuid() : undefined;
  const label = rand() < 0.5 ? `triage-${tenant}-${Math.floor(rand() * 1e6)}` : hex(32);
  return {
    id: session ?? label,
    session,
    tenant,
    subject: `user${Math.floor(rand() * 40)}@${tenant}.example`,
    client: pick(CLIENTS),
    left: 10 + Math.floor(rand() * 41),
    requests: 0,
  };
}

/** What an intent and its outcome share (calls.ts `#common`). */
function common(run: Run, tool: number): Partial<AuditEvent> {
  const [server, name, cls] = TOOLS[tool];
  return {
    actor: { issuer: 'gatehouse', subject: run.subject, tenant: run.tenant, via: 'api_key' },
    argsHash: `sha256:${hex(64)}`,
    class: cls,
    client: run.client,
    decision: {
      effect: 'allow',
      policyRevision: 'r42',
      reasons: [`rule allow-${cls.toLowerCase()} matched`],
      rule: `allow-${cls.toLowerCase()}`,
    },
    method: 'tools/call',
    pin: PINS[tool],
    requestId: String(++run.requests),
    runId: run.id,
    server,
    sessionId: run.session,
    tool: name,
    traceId: hex(32),
  };
}

class Generator {
  readonly start = Date.now() - 30 * DAY_MS;
  readonly step: number;
  readonly streams: Stream[] = [];
  readonly runs: Run[] = Array.from({ length: ACTIVE_RUNS }, newRun);
  /** Intents left open by crashed streams, closed by the next stream's start. */
  orphans: AuditEvent[] = [];
  count = 0;
  generation = 0;
  #appendRun = newRun();
  #appendCalls = 0;

  readonly total: number;

  constructor(total: number) {
    this.total = total;
    this.step = (30 * DAY_MS) / total;
    for (let r = 0; r < REPLICAS; r++) this.streams.push(this.#open(r));
  }

  #open(replica: number): Stream {
    return { name: `gw-${replica}.bench/gw/${hex(8)}`, seq: 0, prev: '0'.repeat(64), inFlight: [] };
  }

  #event(s: Stream, fields: Partial<AuditEvent>): AuditEvent {
    // Members in RFC 8785 order with the hash last, as a sealed record is stored (`seal` in src/model/audit-event.ts).
    const e = {
      v: 1,
      id: uuid(),
      time: new Date(this.start + this.count * this.step).toISOString(),
      stream: s.name,
      seq: ++s.seq,
      prev: s.prev,
      ...fields,
    };
    const sorted = Object.fromEntries(Object.entries(e).sort(([a], [b]) => (a < b ? -1 : 1))); // keys are unique
    const full = { ...sorted, hash: hex(64) } as AuditEvent;
    s.prev = full.hash;
    this.count++;
    return full;
  }

  /** The next batch of records (one stream per call of `next`, as a group commit). */
  next(max: number): AuditEvent[] {
    const r = Math.floor(rand() * REPLICAS);
    let s = this.streams[r];
    const out: AuditEvent[] = [];
    if (s.seq === 0) out.push(...this.#startStream(s));
    while (out.length < max && this.count < this.total) {
      out.push(...this.#step(s));
      if (s.seq >= STREAM_RECORDS / REPLICAS && this.count < this.total - 1000) {
        out.push(...this.#endStream(s));
        s = this.streams[r] = this.#open(r);
        break;
      }
    }
    return out;
  }

  #startStream(s: Stream): AuditEvent[] {
    const out = [this.#event(s, { detail: { pid: 4242, version: '0.9.0' }, kind: 'stream.opened' })];
    for (const i of this.orphans.splice(0)) {
      const {
        args: _a,
        id: _i,
        time: _t,
        stream,
        seq,
        prev: _p,
        hash: _h,
        v: _v,
        ...rest
      } = i as AuditEvent & { args?: unknown };
      out.push(
        this.#event(s, {
          ...rest,
          detail: { reason: 'no outcome was recorded', seq, stream },
          intent: i.id,
          kind: 'call.unknown',
          outcome: 'unknown',
        }),
      );
    }
    return out;
  }

  #endStream(s: Stream): AuditEvent[] {
    this.generation++;
    if (this.generation % 4 === 0) {
      // A crash: what was in flight stays open until the next stream starts.
      this.orphans.push(...s.inFlight.map((f) => f.intent));
      return [];
    }
    const out = s.inFlight.map((f) => this.#outcome(s, f));
    out.push(this.#event(s, { kind: 'stream.closed' }));
    return out;
  }

  #outcome(s: Stream, f: Stream['inFlight'][number]): AuditEvent {
    const ok = rand() < 0.93;
    return this.#event(s, {
      ...common(f.run, f.tool),
      argsHash: f.intent.argsHash,
      requestId: f.intent.requestId,
      traceId: f.intent.traceId,
      intent: f.intent.id,
      kind: 'call.outcome',
      latencyMs: Math.round(rand() * 900_000) / 1000,
      outcome: ok ? 'ok' : 'tool_error',
      result: ok
        ? { content: ['array(1) of', { text: `string(${Math.floor(rand() * 8000)})`, type: 'string(4)' }] }
        : { isError: 'boolean' },
    });
  }

  #step(s: Stream): AuditEvent[] {
    if (s.seq % 1000 === 999)
      return [
        this.#event(s, {
          detail: {
            hash: hex(64),
            keyId: 'k1',
            seq: s.seq,
            signature: randomBytes(48).toString('base64'),
            stream: s.name,
          },
          kind: 'audit.checkpoint',
        }),
      ];
    const due = s.inFlight.findIndex((f) => f.due <= this.count);
    if (due >= 0) return [this.#outcome(s, s.inFlight.splice(due, 1)[0])];
    const slot = Math.floor(rand() * this.runs.length);
    const run = this.runs[slot];
    const tool = Math.floor(rand() * TOOLS.length);
    run.left -= 2;
    if (run.left <= 0) this.runs[slot] = newRun();
    if (rand() < 0.06) {
      run.left++;
      return [
        this.#event(s, {
          ...common(run, tool),
          args: { query: 'string(42)' },
          error: 'E_POLICY_DENIED',
          kind: 'call.refused',
          latencyMs: 0.4,
          outcome: 'refused',
          stage: 'decide',
        }),
      ];
    }
    const intent = this.#event(s, {
      ...common(run, tool),
      args: { path: `string(${Math.floor(rand() * 80)})`, limit: 'number', options: { recursive: 'boolean' } },
      kind: 'call.intent',
    });
    s.inFlight.push({ due: this.count + 1 + Math.floor(rand() * 30), run, intent, tool });
    return [intent];
  }

  /** A stream of its own (the append measurement writes to the filled store). */
  newStream(): Stream {
    return { ...this.#open(REPLICAS), name: `bench-append/gw/${randomUUID().slice(0, 8)}` };
  }

  /** One call's intent and outcome on `s`, with ids of their own (the store may hold this generator's). */
  call(s: Stream): [AuditEvent, AuditEvent] {
    // A new run every 20 calls: runs of the usual size, never one that grows with every bench.
    if (this.#appendCalls++ % 20 === 0) this.#appendRun = { ...newRun(), id: randomUUID() };
    const run = this.#appendRun;
    const tool = Math.floor(rand() * TOOLS.length);
    const intent = this.#event(s, { ...common(run, tool), args: { path: 'string(24)' }, kind: 'call.intent' });
    intent.id = randomUUID();
    const outcome = this.#outcome(s, { due: 0, run, intent, tool });
    outcome.id = randomUUID();
    return [intent, outcome];
  }

  /** Crash every stream at the end: their in-flight intents are what `openIntents` must find. */
  finish(): number {
    return this.streams.reduce((n, s) => n + s.inFlight.length, 0) + this.orphans.length;
  }
}

// ---- loading ------------------------------------------------------------------------------------

function progress(what: string, done: number, t0: number): void {
  if (done % 500_000 < 20_000)
    say(
      `${what}: ${done.toLocaleString('en-US')} records, ${Math.round(done / ((performance.now() - t0) / 1000)).toLocaleString('en-US')}/s`,
    );
}

async function fillSqlite(path: string): Promise<number> {
  const gen = new Generator(RECORDS);
  const db = new Sqlite(path);
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -1000000');
  const insert = db.prepare(INSERT_AUDIT_ROW);
  const tx = db.transaction((events: AuditEvent[]) => {
    for (const e of events) {
      const r = auditRow(e);
      insert.run(AUDIT_COLUMNS.map((c) => r[c]));
    }
  });
  const t0 = performance.now();
  while (gen.count < RECORDS) {
    const events: AuditEvent[] = [];
    while (events.length < 20_000 && gen.count < RECORDS) events.push(...gen.next(200));
    tx(events);
    progress('sqlite', gen.count, t0);
  }
  db.close();
  return gen.finish();
}

const PG_TYPES: Record<string, string> = { seq: 'bigint', at: 'bigint' };

async function fillPostgres(client: pg.Client): Promise<number> {
  const gen = new Generator(RECORDS);
  await client.query('set synchronous_commit = off');
  const cols = AUDIT_COLUMNS.join(', ');
  const arrays = AUDIT_COLUMNS.map((c, i) => `$${i + 1}::${PG_TYPES[c] ?? 'text'}[]`).join(', ');
  const text = `insert into audit_events (${cols}) select * from unnest(${arrays})`;
  const t0 = performance.now();
  while (gen.count < RECORDS) {
    const columns = AUDIT_COLUMNS.map((): unknown[] => []);
    let n = 0;
    while (n < 10_000 && gen.count < RECORDS)
      for (const e of gen.next(200)) {
        const r = auditRow(e);
        for (const [i, c] of AUDIT_COLUMNS.entries()) columns[i].push(r[c]);
        n++;
      }
    await client.query(text, columns);
    progress('postgres', gen.count, t0);
  }
  say('postgres: vacuum analyze (what autovacuum does after a load like this)');
  await client.query('vacuum analyze audit_events');
  return gen.finish();
}

// ---- measuring ----------------------------------------------------------------------------------

/** The raw connection a store is read through for sampling run ids and for query plans. */
interface Raw {
  all(text: string, params: unknown[]): Promise<Array<Record<string, unknown>>>;
  explain(text: string, params: unknown[]): Promise<string>;
  close(): Promise<void>;
}

function rawSqlite(path: string): Raw {
  const db = new Sqlite(path, { readonly: true });
  const q = (text: string) => text.replace(/\$\d+/g, '?');
  return {
    all: async (text, params) => db.prepare(q(text)).all(...params) as Array<Record<string, unknown>>,
    explain: async (text, params) =>
      (db.prepare(`explain query plan ${q(text)}`).all(...params) as Array<{ detail: string }>)
        .map((r) => r.detail)
        .join('\n'),
    close: async () => void db.close(),
  };
}

async function rawPostgres(url: string): Promise<Raw & { client: pg.Client }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`set search_path to "${PG_SCHEMA}"`);
  return {
    client,
    all: async (text, params) => (await client.query(text, params)).rows,
    explain: async (text, params) =>
      (await client.query(`explain (analyze, buffers) ${text}`, params)).rows.map((r) => r['QUERY PLAN']).join('\n'),
    close: () => client.end(),
  };
}

// The SQL src/storage/audit-repo.ts has kysely generate for these reads (kept in step by hand).
const RUN_SQL = 'select "position", "body" from "audit_events" where "run_id" = $1 order by "position" limit $2';
const OPEN_SQL = 'select "position" from "audit_open_intents" order by "position" limit $1';
/** The second query of openIntents: the records of (up to 500 of) the open intents. */
const openBodiesSql = (n: number) =>
  `select "body" from "audit_events" where "position" in (${Array.from({ length: n }, (_, i) => `$${i + 1}`).join(', ')}) and "stream" != $${n + 1} order by "position"`;

async function openPlans(raw: Raw): Promise<string> {
  const positions = (await raw.all(OPEN_SQL, [500])).map((r) => Number(r.position));
  const first = await raw.explain(OPEN_SQL, [10_000]);
  if (!positions.length) return first;
  return `${first}\n\n${await raw.explain(openBodiesSql(positions.length), [...positions, ''])}`;
}

/** Run ids to reconstruct: of the first, middle and last record that has one, and of random records. */
async function sampleRuns(raw: Raw): Promise<Array<{ label: string; run: string; tenant: string }>> {
  const [{ max }] = await raw.all('select max(position) as max from audit_events', []);
  const last = Number(max);
  const at = async (label: string, from: number, dir: 'asc' | 'desc') => {
    const cmp = dir === 'asc' ? '>=' : '<=';
    const rows = await raw.all(
      `select run_id, tenant from audit_events where position ${cmp} $1 and run_id is not null order by position ${dir} limit 1`,
      [from],
    );
    return { label, run: String(rows[0].run_id), tenant: String(rows[0].tenant) };
  };
  const out = [
    await at('first', 0, 'asc'),
    await at('middle', Math.floor(last / 2), 'asc'),
    await at('last', last, 'desc'),
  ];
  const r = prng(99);
  for (let i = 0; i < SAMPLES; i++) out.push(await at('random', 1 + Math.floor(r() * last), 'asc'));
  return out;
}

/** `gatehouse audit run <id>` (src/cli/audit.ts runAction) as a tenant admin sees it; the admin API's is the same. */
async function reconstruct(store: Store, run: string, tenant: string): Promise<number> {
  const rows = (await store.audit.read({ runId: run, limit: 100_000 })).filter((r) => r.event.actor?.tenant === tenant);
  return timeline(rows.map((r) => r.event)).length;
}

interface Stats {
  p50: number;
  p90: number;
  max: number;
}

function stats(ms: number[]): Stats {
  const s = [...ms].sort((a, b) => a - b);
  return {
    p50: s[Math.floor(s.length / 2)],
    p90: s[Math.min(s.length - 1, Math.floor(s.length * 0.9))],
    max: s[s.length - 1],
  };
}

async function time<T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await f();
  return { ms: performance.now() - t0, value };
}

const APPEND_CALLS = 500;

/**
 * What a call costs the trail on this store: its two commits one after the other (the intent alone,
 * then its outcome), as the gateway makes them at N = 1 with the default durability. SQLite: also the
 * WAL frames (pages) written per commit, counted over 20 calls between two checkpoints (fewer frames
 * than the 1,000 at which the writer's connection checkpoints and starts the WAL over).
 */
async function appendCost(store: Store, sqlitePath?: string): Promise<StoreResult['append']> {
  const gen = new Generator(RECORDS);
  const s = gen.newStream();
  const one = async () => {
    for (const e of gen.call(s)) await store.audit.appendBatch([e], 'process-crash');
  };
  for (let i = 0; i < 50; i++) await one(); // warm-up
  let walFramesPerCommit: number | undefined;
  if (sqlitePath) {
    const db = new Sqlite(sqlitePath);
    try {
      db.pragma('wal_checkpoint(TRUNCATE)');
      for (let i = 0; i < 20; i++) await one();
      const [{ log }] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number }>;
      walFramesPerCommit = log / 40;
    } finally {
      db.close();
    }
  }
  const t0 = performance.now();
  for (let i = 0; i < APPEND_CALLS; i++) await one();
  return { usPerCommit: ((performance.now() - t0) * 1000) / (2 * APPEND_CALLS), walFramesPerCommit };
}

interface StoreResult {
  driver: 'sqlite' | 'postgres';
  records: number;
  sizeMb: number;
  openMs: number;
  runs: Array<{ label: string; run: string; entries: number; firstMs: number; repeatMs: number[] }>;
  firstRead: Stats;
  repeatRead: Stats;
  openIntents: { ms: number[]; found: number; expected?: number };
  append: { usPerCommit: number; walFramesPerCommit?: number };
  /** `store.audit.count()` (what `gatehouse check` counts records with): one call. */
  countMs: number;
  plans: { run: string; openIntents: string };
}

async function measure(
  driver: 'sqlite' | 'postgres',
  raw: Raw,
  expectedOpen: number | undefined,
): Promise<Omit<StoreResult, 'sizeMb'>> {
  say(`${driver}: opening the store (migrations)`);
  const opened = await time(() =>
    openStore({
      driver,
      sqlitePath: opts.sqlite,
      postgresUrl: opts.pg,
      pgSchema: driver === 'postgres' ? PG_SCHEMA : undefined,
    }),
  );
  const store = opened.value;
  try {
    const [{ n }] = await raw.all('select count(*) as n from audit_events', []);
    const samples = await sampleRuns(raw);
    say(`${driver}: reconstructing ${samples.length} runs`);
    const runs: StoreResult['runs'] = [];
    for (const s of samples) {
      const first = await time(() => reconstruct(store, s.run, s.tenant));
      const repeatMs: number[] = [];
      for (let i = 0; i < 2; i++) repeatMs.push((await time(() => reconstruct(store, s.run, s.tenant))).ms);
      runs.push({ label: s.label, run: s.run, entries: first.value, firstMs: first.ms, repeatMs });
    }
    say(`${driver}: openIntents`);
    const open: number[] = [];
    let found = 0;
    for (let i = 0; i < 3; i++) {
      const r = await time(() => store.audit.openIntents([]));
      open.push(r.ms);
      found = r.value.length;
    }
    say(`${driver}: count()`);
    const count = (await time(() => store.audit.count())).ms;
    say(`${driver}: appends`);
    const append = await appendCost(store, driver === 'sqlite' ? opts.sqlite : undefined);
    const plans = {
      run: await raw.explain(RUN_SQL, [samples[samples.length - 1].run, 100_000]),
      openIntents: await openPlans(raw),
    };
    return {
      driver,
      records: Number(n),
      openMs: opened.ms,
      runs,
      firstRead: stats(runs.map((r) => r.firstMs)),
      repeatRead: stats(runs.flatMap((r) => r.repeatMs)),
      openIntents: { ms: open, found, expected: expectedOpen },
      append,
      countMs: count,
      plans,
    };
  } finally {
    await store.close();
  }
}

// ---- the stores ---------------------------------------------------------------------------------

async function benchSqlite(): Promise<StoreResult> {
  let expected: number | undefined;
  if (!opts.reuse) {
    for (const f of ['', '-wal', '-shm']) rmSync(`${opts.sqlite}${f}`, { force: true });
    await (await openStore({ driver: 'sqlite', sqlitePath: opts.sqlite })).close(); // the migrations make the tables
    say(`sqlite: loading ${RECORDS.toLocaleString('en-US')} records into ${opts.sqlite}`);
    expected = await fillSqlite(opts.sqlite);
  } else if (!existsSync(opts.sqlite)) throw new Error(`--reuse: no sqlite store at \`${opts.sqlite}\``);
  const raw = rawSqlite(opts.sqlite);
  try {
    const r = await measure('sqlite', raw, expected);
    const size = ['', '-wal'].reduce(
      (n, f) => n + (existsSync(`${opts.sqlite}${f}`) ? statSync(`${opts.sqlite}${f}`).size : 0),
      0,
    );
    return { ...r, sizeMb: Math.round(size / 1e6) };
  } finally {
    await raw.close();
    if (!opts.keep) for (const f of ['', '-wal', '-shm']) rmSync(`${opts.sqlite}${f}`, { force: true });
  }
}

async function benchPostgres(): Promise<StoreResult> {
  let expected: number | undefined;
  const admin = new pg.Client({ connectionString: opts.pg });
  await admin.connect();
  try {
    if (!opts.reuse) {
      await admin.query(`drop schema if exists "${PG_SCHEMA}" cascade`);
      await (
        await openStore({ driver: 'postgres', sqlitePath: '', postgresUrl: opts.pg, pgSchema: PG_SCHEMA })
      ).close();
      say(`postgres: loading ${RECORDS.toLocaleString('en-US')} records into schema ${PG_SCHEMA}`);
      const raw = await rawPostgres(opts.pg);
      expected = await fillPostgres(raw.client).finally(() => raw.close());
    }
    const raw = await rawPostgres(opts.pg);
    try {
      const r = await measure('postgres', raw, expected);
      const [{ size }] = await raw.all(`select pg_total_relation_size('audit_events') as size`, []);
      return { ...r, sizeMb: Math.round(Number(size) / 1e6) };
    } finally {
      await raw.close();
    }
  } finally {
    if (!opts.keep) await admin.query(`drop schema if exists "${PG_SCHEMA}" cascade`);
    await admin.end();
  }
}

// ---- the report ---------------------------------------------------------------------------------

const f1 = (n: number) => n.toFixed(1);

function render(results: StoreResult[], date: string, id: string): string {
  const lines = [
    `# Gatehouse audit reconstruction benchmark, ${date} (${id})`,
    '',
    `- Machine: ${machineLine()}.`,
    `- Each store holds ${RECORDS.toLocaleString('en-US')} records loaded by bench/reconstruct.ts (runs of 10-50 records interleaved, ${TENANTS.length} tenants, ${REPLICAS} replicas restarting every ${STREAM_RECORDS.toLocaleString('en-US')} records).`,
    '- A reconstruction is `gatehouse audit run <id>`: read the run\'s records (`limit: 100000`), keep the tenant\'s, build the timeline. "First read" is each sampled run\'s first reconstruction (first, middle, last and random runs); "repeat" the next two of each.',
    '',
    '| store | records | size MB | open (migrations) ms | records per run (mean) | first read p50 / p90 / max ms | repeat p50 / p90 / max ms | openIntents ms (3 calls) | open intents found / expected | µs per audit commit | WAL pages per commit | count() ms |',
    '|---|---:|---:|---:|---:|---|---|---|---|---:|---:|---:|',
  ];
  for (const r of results) {
    const mean = r.runs.reduce((n, x) => n + x.entries, 0) / r.runs.length;
    lines.push(
      `| ${r.driver} | ${r.records.toLocaleString('en-US')} | ${r.sizeMb.toLocaleString('en-US')} | ${Math.round(r.openMs)} | ${f1(mean)} | ${f1(r.firstRead.p50)} / ${f1(r.firstRead.p90)} / ${f1(r.firstRead.max)} | ${f1(r.repeatRead.p50)} / ${f1(r.repeatRead.p90)} / ${f1(r.repeatRead.max)} | ${r.openIntents.ms.map(f1).join(', ')} | ${r.openIntents.found} / ${r.openIntents.expected ?? '?'} | ${Math.round(r.append.usPerCommit)} | ${r.append.walFramesPerCommit?.toFixed(1) ?? '-'} | ${Math.round(r.countMs)} |`,
    );
  }
  for (const r of results)
    lines.push(
      '',
      `## Plans, ${r.driver}`,
      '',
      'Run read:',
      '',
      '```',
      r.plans.run,
      '```',
      '',
      'openIntents:',
      '',
      '```',
      r.plans.openIntents,
      '```',
    );
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const results: StoreResult[] = [];
  if (STORES.includes('sqlite')) results.push(await benchSqlite());
  if (STORES.includes('postgres')) results.push(await benchPostgres());
  const id = randomBytes(3).toString('hex');
  const date = new Date().toISOString().slice(0, 10);
  const md = render(results, date, id);
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${date}-${id}-reconstruct.md`), md);
  writeFileSync(
    join(dir, `${date}-${id}-reconstruct.json`),
    `${JSON.stringify({ records: RECORDS, commit: COMMIT, results }, null, 2)}\n`,
  );
  process.stdout.write(md);
}

await main();
