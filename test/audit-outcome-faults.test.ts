/**
 * The answer leaves once its outcome is recorded (ADR 0006), under real store faults while calls are
 * in flight: their intents written, the upstream working, then the store refuses the outcomes.
 *
 * - SQLite: the gateway (a child process) is held to the size its spool file has (RLIMIT_FSIZE, set
 *   with prlimit: any write past it fails with EFBIG, as on a full disk), then let go.
 * - PostgreSQL: the gateway reaches the server through a TCP proxy the test cuts, then restores.
 *
 * Each call is answered E_AUDIT_OUTCOME_UNRECORDED (never its result as if recorded), /readyz says
 * the trail cannot be written, and once the store takes records again the live gateway records the
 * outcomes it kept: every intent closed by its real outcome, /readyz ready again.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ROOT, startCli, startGateway, stdioServer } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';
import { tcpProxy } from './support/tcp-proxy.ts';
import { pgBehindProxy } from './support/pg-behind-proxy.ts';
import { postModernCall } from './support/rpc.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { dropPgSchema, freshPgSchema, pgTestUrl, requireService } from './support/services.ts';
import { openStore } from '../src/storage/index.ts';
import { AuditLog, newStreamName } from '../src/audit/log.ts';
import { verifyAudit } from '../src/audit/verify.ts';

const CHAOS = join(ROOT, 'test/fixtures/upstreams/chaos-server.ts');
const SERVERS = `${stdioServer('chaos', CHAOS)}    tools: { slow: { class: WRITE }, ok: { class: WRITE } }\n`;
const CALLS = 3;

async function connect(url: string): Promise<Client> {
  const c = new Client({ name: 'outcome-faults', version: '1' });
  await c.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)));
  return c;
}

/** What each call got: its result's text, or its error's code and message. */
async function settle(
  calls: Array<Promise<unknown>>,
): Promise<Array<{ text?: string; code?: number; message?: string }>> {
  return Promise.all(
    calls.map((p) =>
      p.then(
        (r) => ({ text: (r as { content: Array<{ text: string }> }).content[0]?.text }),
        (e: { code?: number; message?: string }) => ({ code: e.code, message: e.message }),
      ),
    ),
  );
}

function assertUnrecordedAnswers(answers: Awaited<ReturnType<typeof settle>>): void {
  for (const a of answers) {
    assert.equal(a.text, undefined, `a call was answered as if its outcome were recorded: ${JSON.stringify(a)}`);
    assert.equal(a.code, -32603);
    assert.match(a.message ?? '', /may have taken effect.*outcome could not be recorded/);
  }
}

async function readyz(url: string): Promise<{ status: number; body: { audit?: string; store?: string } }> {
  const r = await fetch(`${url}/readyz`);
  return { status: r.status, body: (await r.json()) as { audit?: string; store?: string } };
}

interface Row {
  id: string;
  kind: string;
  outcome: string | null;
  intent: string | null;
  body: string;
}

/**
 * The calls' records as the store holds them: for each intent of the slow tool, the records naming
 * it; and whether any intent is left open.
 */
function closures(rows: Row[]): { intents: number; closedBy: Array<Array<[string, string | null]>>; resumed: number } {
  const intents = rows.filter((r) => r.kind === 'call.intent' && r.body.includes('chaos__slow'));
  return {
    intents: intents.length,
    closedBy: intents.map((i) => rows.filter((r) => r.intent === i.id).map((r) => [r.kind, r.outcome])),
    resumed: rows.filter((r) => r.kind === 'audit.resumed').length,
  };
}

const SELECT = 'select id, kind, outcome, intent_id as intent, body from audit_events order by position';

test('sqlite, the spool cannot grow (EFBIG, as a full disk): calls in flight are answered "outcome unrecorded", /readyz 503; let go, the live gateway records their outcomes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-outcome-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, 'state');
  const g = await startCli(
    `version: 1\ngateway: { listen: { host: 127.0.0.1, port: 0 }, stateDir: ${JSON.stringify(state)} }\nservers:\n${SERVERS}`,
    dir,
  );
  t.after(() => g.stop());
  const pid = g.child.pid!;
  const client = await connect(g.url);
  t.after(() => client.close());
  await client.callTool({ name: 'chaos__ok', arguments: {} });
  const db = new Sqlite(join(state, 'gatehouse.db'));
  t.after(() => db.close());
  const rows = () => db.prepare(SELECT).all() as Row[];

  const calls = Array.from({ length: CALLS }, () => client.callTool({ name: 'chaos__slow', arguments: { ms: 1500 } }));
  await eventually(() => closures(rows()).intents === CALLS, { timeoutMs: 10_000 });
  // No file of the gateway's grows any more: the spool's next line fails (EFBIG), as on a full disk.
  const spoolDir = join(state, 'gatehouse.db-spool');
  const spool = readdirSync(spoolDir).map((f) => statSync(join(spoolDir, f)).size);
  execFileSync('prlimit', ['--pid', String(pid), `--fsize=${Math.max(...spool)}:unlimited`]);
  try {
    assertUnrecordedAnswers(await settle(calls));
    const metrics = await (await fetch(`${g.url}/metrics`)).text();
    assert.match(metrics, /gatehouse_tool_calls_total\{[^}]*outcome="E_AUDIT_OUTCOME_UNRECORDED"[^}]*\} 3\b/);
    const down = await readyz(g.url);
    assert.equal(down.status, 503, JSON.stringify(down.body));
    assert.match(down.body.audit ?? '', /^unavailable/);
    assert.doesNotMatch(JSON.stringify(down.body), /\/tmp|gatehouse\.db|spool|EFBIG/, 'no internals in /readyz');
    assert.deepEqual(
      closures(rows()).closedBy,
      Array.from({ length: CALLS }, () => []),
      'nothing recorded meanwhile',
    );
  } finally {
    execFileSync('prlimit', ['--pid', String(pid), '--fsize=unlimited:unlimited']);
  }
  // The gateway still running (no restart): each intent is closed by its real outcome.
  await eventually(
    () => {
      const c = closures(rows());
      return c.resumed >= 1 && c.closedBy.every((x) => x.length === 1);
    },
    { timeoutMs: 15_000 },
  );
  const after = closures(rows());
  assert.deepEqual(
    after.closedBy,
    Array.from({ length: CALLS }, () => [['call.outcome', 'ok']]),
  );
  const late = rows().filter((r) => r.kind === 'call.outcome' && r.body.includes('chaos__slow'));
  for (const r of late) assert.match(r.body, /E_AUDIT_OUTCOME_UNRECORDED/, 'the record says what its caller was told');
  await eventually(async () => (await readyz(g.url)).status === 200, { timeoutMs: 10_000 });
  assert.equal(g.child.exitCode, null, 'the gateway ran throughout');
  const r = await client.callTool({ name: 'chaos__slow', arguments: { ms: 1 } });
  assert.match(JSON.stringify(r), /slept 1/);
});

test('postgresql cut under calls in flight: answered "outcome unrecorded", /readyz 503; the store back, the live gateway records their outcomes', async (t: TestContext) => {
  if (!(await requireService(t, 'postgres'))) return;
  const { schema, admin, proxy, url: u } = await pgBehindProxy(t);
  const g = await startGateway(SERVERS, {
    storage: `storage:\n  driver: postgres\n  postgresUrl: ${JSON.stringify(u.toString())}\n`,
  });
  t.after(() => g.close());
  const client = await connect(g.url);
  t.after(() => client.close());
  await client.callTool({ name: 'chaos__ok', arguments: {} });
  const rows = async () =>
    (await admin.query(`${SELECT.replace('audit_events', `"${schema}".audit_events`)}`)).rows as Row[];

  const calls = Array.from({ length: CALLS }, () => client.callTool({ name: 'chaos__slow', arguments: { ms: 1500 } }));
  await eventually(async () => closures(await rows()).intents === CALLS, { timeoutMs: 10_000 });
  await proxy.down();
  try {
    assertUnrecordedAnswers(await settle(calls));
    const down = await readyz(g.url);
    assert.equal(down.status, 503, JSON.stringify(down.body));
    assert.doesNotMatch(JSON.stringify(down.body), /127\.0\.0\.1|postgres|ECONNREFUSED/i, 'no internals in /readyz');
    assert.deepEqual(
      closures(await rows()).closedBy,
      Array.from({ length: CALLS }, () => []),
    );
  } finally {
    await proxy.up();
  }
  await eventually(
    async () => {
      const c = closures(await rows());
      return c.resumed >= 1 && c.closedBy.every((x) => x.length === 1);
    },
    { timeoutMs: 20_000 },
  );
  assert.deepEqual(
    closures(await rows()).closedBy,
    Array.from({ length: CALLS }, () => [['call.outcome', 'ok']]),
  );
  await eventually(async () => (await readyz(g.url)).status === 200, { timeoutMs: 10_000 });
});

test('postgresql: a commit whose answer was lost leaves the stream writable: the next record chains on what was stored', async (t: TestContext) => {
  if (!(await requireService(t, 'postgres'))) return;
  const schema = freshPgSchema();
  const app = `gatehouse-lost-commit-${schema}`;
  const admin = new pg.Client({ connectionString: pgTestUrl() });
  await admin.connect();
  t.after(async () => {
    await admin.end();
    await dropPgSchema(schema).catch(() => {});
  });
  const proxy = await tcpProxy(t, Number(new URL(pgTestUrl()).port || 5432));
  const u = new URL(pgTestUrl());
  u.port = String(proxy.port);
  u.searchParams.set('application_name', app);
  const store = await openStore({
    driver: 'postgres',
    sqlitePath: '',
    postgresUrl: u.toString(),
    pgSchema: schema,
    queryTimeoutMs: 2000,
  });
  t.after(() => store.close());
  const log = new AuditLog(store.audit, newStreamName('gw'));
  await log.append({ kind: 'config.reloaded', detail: { n: 'first' } });
  proxy.freezeOn('commit');
  const lost = log.append({ kind: 'config.reloaded', detail: { n: 'lost' } });
  // The insert made, the commit held at the proxy.
  await eventually(() => proxy.frozen());
  proxy.deliverAndLose();
  await assert.rejects(lost, 'the writer never heard the commit');
  const stored = async () =>
    (await admin.query(`select seq, body from "${schema}".audit_events order by seq`)).rows.map(
      (r: { body: string }) => (JSON.parse(r.body) as { detail?: { n?: string } }).detail?.n,
    );
  assert.deepEqual(await stored(), ['first', 'lost'], 'the server made the commit');
  // Before, the writer chained the next record on its old head: (stream, seq) taken, refused for good.
  await log.append({ kind: 'config.reloaded', detail: { n: 'after' } });
  await log.append({ kind: 'config.reloaded', detail: { n: 'again' } });
  assert.deepEqual(await stored(), ['first', 'lost', 'after', 'again']);
  const report = await verifyAudit(store.audit);
  assert.equal(report.ok, true, JSON.stringify(report.problems));
});

test('postgresql cut and restored twice under load: no call answered OK without its outcome stored, every intent closed once by the live gateway', async (t: TestContext) => {
  if (!(await requireService(t, 'postgres'))) return;
  const { schema, admin, proxy, url: u } = await pgBehindProxy(t);
  const g = await startGateway(SERVERS, {
    storage: `storage:\n  driver: postgres\n  postgresUrl: ${JSON.stringify(u.toString())}\n`,
  });
  t.after(() => g.close());

  const answers = new Map<string, 'ok' | 'unrecorded' | 'other'>();
  let n = 0;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const id = `load-${n++}`;
      const r = await postModernCall(g.url, 'chaos__slow', { ms: (n % 5) * 30 }, { id }).catch(() => undefined);
      const text = r ? await r.text() : '';
      if (/"slept \d+"/.test(text)) answers.set(id, 'ok');
      else if (/outcome could not be recorded/.test(text)) answers.set(id, 'unrecorded');
      else answers.set(id, 'other');
    }
  };
  const workers = Array.from({ length: 12 }, () => worker());
  try {
    for (const [ms, cut] of [
      [800, true],
      [600, false],
      [800, true],
      [400, false],
    ] as const) {
      await sleep(ms);
      await (cut ? proxy.down() : proxy.up());
    }
  } finally {
    await sleep(600);
    stop = true;
    await Promise.all(workers);
  }
  // The gateway still running: every intent closed once, by the records below.
  const byIntent = async () => {
    const all = (await admin.query(`${SELECT.replace('audit_events', `"${schema}".audit_events`)}`)).rows as Row[];
    const intents = all.filter((r) => r.kind === 'call.intent' && r.body.includes('chaos__slow'));
    return intents.map((i) => ({
      requestId: (JSON.parse(i.body) as { requestId: string }).requestId,
      closed: all.filter((r) => r.intent === i.id),
    }));
  };
  await eventually(async () => (await byIntent()).every((i) => i.closed.length >= 1), { timeoutMs: 30_000 });
  const intents = await byIntent();
  const count = (a: string) => [...answers.values()].filter((x) => x === a).length;
  const tally = `ok ${count('ok')}, unrecorded ${count('unrecorded')}, other ${count('other')}, intents ${intents.length}`;
  t.diagnostic(tally);
  assert.ok(count('ok') > 0, tally);
  for (const i of intents)
    assert.equal(i.closed.length, 1, `intent of ${i.requestId} closed ${i.closed.length} times (${tally})`);
  const closing = new Map(intents.map((i) => [i.requestId, i.closed[0]]));
  for (const [id, a] of answers) {
    const c = closing.get(id);
    if (a === 'ok') {
      assert.ok(c, `${id} answered OK without an intent (${tally})`);
      assert.deepEqual([c.kind, c.outcome], ['call.outcome', 'ok'], `${id} answered OK (${tally})`);
      assert.doesNotMatch(c.body, /recordedLate/, `${id} answered OK before its outcome was stored`);
    }
    if (a === 'unrecorded') assert.ok(c, `${id} answered "unrecorded" without an intent`);
  }
});
