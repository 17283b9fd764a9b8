/**
 * Outcomes the store refused, kept on disk (ADR 0006): a gateway whose store refuses the outcomes of
 * calls that ran (SQLite: the spool held to its size with RLIMIT_FSIZE, as on a full disk;
 * PostgreSQL: a TCP proxy cut) answers them E_AUDIT_OUTCOME_UNRECORDED and keeps each outcome in
 * `<stateDir>/audit-kept/` before the answer leaves. Stopped then (SIGTERM, or SIGKILL), the store
 * still away, the next gateway on the store back records each outcome, the very record the first
 * one would have written, closing its intent: no `call.unknown` for it, the chain verifies. A kept
 * file edited meanwhile is refused, said so, and the start goes on.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ROOT, runCli, startCli, stdioServer } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';
import { pgBehindProxy } from './support/pg-behind-proxy.ts';
import { requireService } from './support/services.ts';

const CHAOS = join(ROOT, 'test/fixtures/upstreams/chaos-server.ts');
const SERVERS = `servers:\n${stdioServer('chaos', CHAOS)}    tools: { slow: { class: WRITE }, ok: { class: WRITE } }\n`;
const CALLS = 3;
const SELECT = 'select id, kind, outcome, intent_id as intent, body from audit_events order by position';

interface Row {
  id: string;
  kind: string;
  outcome: string | null;
  intent: string | null;
  body: string;
}

type Gateway = Awaited<ReturnType<typeof startCli>>;

/** A store the test reads and a gateway config on it; `cut`/`mend` make it refuse records and take them again. */
interface Setup {
  yaml: string;
  state: string;
  rows(): Promise<Row[]>;
  cut(g: Gateway): Promise<void>;
  mend(): Promise<void>;
}

async function sqliteSetup(t: TestContext, dir: string): Promise<Setup> {
  const state = join(dir, 'state');
  let db: Sqlite.Database | undefined;
  t.after(() => db?.close());
  return {
    yaml: `version: 1\ngateway: { listen: { host: 127.0.0.1, port: 0 }, stateDir: ${JSON.stringify(state)} }\n${SERVERS}`,
    state,
    rows: async () => {
      db ??= new Sqlite(join(state, 'gatehouse.db'));
      return db.prepare(SELECT).all() as Row[];
    },
    // No file of the gateway's grows any more: the spool's next line fails (EFBIG), as on a full disk.
    cut: async (g) => {
      const spoolDir = join(state, 'gatehouse.db-spool');
      const spool = readdirSync(spoolDir).map((f) => statSync(join(spoolDir, f)).size);
      execFileSync('prlimit', ['--pid', String(g.child.pid), `--fsize=${Math.max(...spool)}:unlimited`]);
    },
    // The limit goes with the process; the next one has none.
    mend: async () => {},
  };
}

async function pgSetup(t: TestContext, dir: string): Promise<Setup> {
  const { schema, admin, proxy, url: u } = await pgBehindProxy(t);
  const state = join(dir, 'state');
  return {
    yaml: `version: 1\ngateway: { listen: { host: 127.0.0.1, port: 0 }, stateDir: ${JSON.stringify(state)} }\nstorage:\n  driver: postgres\n  postgresUrl: ${JSON.stringify(u.toString())}\n${SERVERS}`,
    state,
    rows: async () => (await admin.query(SELECT.replace('audit_events', `"${schema}".audit_events`))).rows as Row[],
    cut: () => proxy.down(),
    mend: () => proxy.up(),
  };
}

async function connect(url: string): Promise<Client> {
  const c = new Client({ name: 'kept-outcomes', version: '1' });
  await c.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)));
  return c;
}

/** For each intent of the slow tool, the records that close it (kind, outcome, id). */
function closures(rows: Row[]): Array<Array<[string, string | null, string]>> {
  const intents = rows.filter((r) => r.kind === 'call.intent' && r.body.includes('chaos__slow'));
  return intents.map((i) => rows.filter((r) => r.intent === i.id).map((r) => [r.kind, r.outcome, r.id]));
}

function keptFiles(state: string): string[] {
  try {
    return readdirSync(join(state, 'audit-kept'));
  } catch {
    return [];
  }
}

/**
 * A gateway on `s` runs three slow calls; their intents stored, the store refuses records: each is
 * answered "outcome unrecorded", and its outcome is on disk by then. Then the gateway is stopped by
 * `signal`, the store still away. The ids of the records kept, and the kept file's path.
 */
async function keptThenStopped(t: TestContext, s: Setup, dir: string, signal: NodeJS.Signals) {
  const g = await startCli(s.yaml, dir);
  // stop() waits for an exit; one killed by a signal has exited already.
  t.after(() => (g.child.signalCode ? undefined : g.stop()));
  const client = await connect(g.url);
  await client.callTool({ name: 'chaos__ok', arguments: {} });
  const calls = Array.from({ length: CALLS }, () =>
    client.callTool({ name: 'chaos__slow', arguments: { ms: 1500 } }).then(
      () => 'answered as recorded',
      (e: Error) => e.message,
    ),
  );
  await eventually(async () => closures(await s.rows()).length === CALLS, { timeoutMs: 10_000 });
  await s.cut(g);
  for (const a of await Promise.all(calls)) assert.match(a, /may have taken effect.*outcome could not be recorded/);
  // Before the answers left, each outcome was on disk: one file, owner-only, a line each.
  const files = keptFiles(s.state);
  assert.equal(files.length, 1, `kept files: ${files}`);
  const file = join(s.state, 'audit-kept', files[0]);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(join(s.state, 'audit-kept')).mode & 0o777, 0o700);
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  assert.equal(lines.length, CALLS);
  const ids = lines.map((l) => (JSON.parse(l) as { body: { record: { id: string } } }).body.record.id);
  await client.close().catch(() => {});
  const exited = new Promise((res) => g.child.once('exit', res));
  g.child.kill(signal);
  await exited;
  return { ids, file };
}

/** The gateway started again on the store back: each kept outcome recorded once, by its own record; the chain verifies. */
async function recordedAtNextStart(t: TestContext, s: Setup, dir: string, ids: string[]): Promise<void> {
  await s.mend();
  const g = await startCli(s.yaml, dir);
  t.after(() => g.stop());
  await eventually(async () => closures(await s.rows()).every((c) => c.length >= 1), { timeoutMs: 40_000 });
  const closed = closures(await s.rows());
  assert.deepEqual(
    closed.map((c) => c.map(([kind, outcome]) => [kind, outcome])),
    Array.from({ length: CALLS }, () => [['call.outcome', 'ok']]),
    'each intent closed once, by its real outcome (no call.unknown)',
  );
  assert.deepEqual(closed.map((c) => c[0][2]).sort(), [...ids].sort(), 'the records kept are the records written');
  const rows = await s.rows();
  for (const r of rows.filter((x) => ids.includes(x.id))) assert.match(r.body, /E_AUDIT_OUTCOME_UNRECORDED/);
  const replayed = rows.filter((r) => r.kind === 'audit.replayed' && r.body.includes('keptOutcomes'));
  assert.equal(replayed.length, 1);
  assert.match(replayed[0].body, /"stored":3/);
  assert.deepEqual(keptFiles(s.state), [], 'the kept file is gone once recorded');
  const verify = await runCli(['audit', 'verify', '--json', '-c', join(dir, 'gatehouse.yaml')]);
  assert.equal((JSON.parse(verify.stdout) as { ok: boolean }).ok, true, verify.stdout);
  await g.stop();
  // A third start (ready once its first sweep ran) records nothing again.
  const g3 = await startCli(s.yaml, dir);
  t.after(() => g3.stop());
  assert.equal((await s.rows()).filter((r) => ids.includes(r.id)).length, CALLS);
}

for (const driver of ['sqlite', 'postgres'] as const)
  for (const signal of ['SIGTERM', 'SIGKILL'] as const)
    test(`${driver}: the store away, the gateway stopped (${signal}) with outcomes kept; the next start records them, no call.unknown`, async (t) => {
      if (driver === 'postgres' && !(await requireService(t, 'postgres'))) return;
      const dir = mkdtempSync(join(tmpdir(), 'gatehouse-kept-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const s = driver === 'sqlite' ? await sqliteSetup(t, dir) : await pgSetup(t, dir);
      const { ids } = await keptThenStopped(t, s, dir, signal);
      await recordedAtNextStart(t, s, dir, ids);
    });

test('sqlite: a kept-outcomes file edited while the gateway was down is refused, said so, kept aside; nothing of it is recorded and the start goes on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-kept-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const s = await sqliteSetup(t, dir);
  const { ids, file } = await keptThenStopped(t, s, dir, 'SIGKILL');
  // The first outcome turned into an error, its checksum left as it was.
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, text.replace('"outcome":"ok"', '"outcome":"error"'));
  const g = await startCli(s.yaml, dir);
  t.after(() => g.stop());
  const line = await g.logged(/kept-outcomes file was refused/);
  assert.match(line, /checksum does not match/);
  assert.match(line, /"line":1/);
  assert.equal((await fetch(`${g.url}/readyz`)).status, 200, 'the gateway started and is ready');
  const files = keptFiles(s.state);
  assert.equal(files.length, 1);
  assert.match(files[0], /\.jsonl\.refused$/, 'kept aside for the operator, never read again');
  const rows = await s.rows();
  assert.equal(rows.filter((r) => ids.includes(r.id)).length, 0, 'nothing of the file was recorded');
  const replayed = rows.filter((r) => r.kind === 'audit.replayed' && r.body.includes('keptOutcomes'));
  assert.equal(replayed.length, 1);
  assert.equal(replayed[0].outcome, 'error');
  assert.match(replayed[0].body, /checksum does not match/);
  const client = await connect(g.url);
  t.after(() => client.close());
  const r = await client.callTool({ name: 'chaos__slow', arguments: { ms: 1 } });
  assert.match(JSON.stringify(r), /slept 1/);
});
