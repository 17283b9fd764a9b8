/**
 * The audit trail end to end: a real client -> Gatehouse -> a recording upstream. One intent before
 * and one outcome after every call, refusals recorded, runs reconstructed, secrets and PII absent
 * from every record, export, log line and metric; tampering found with its position; an unwritable
 * audit store refuses calls that change things; and a gateway killed with SIGKILL under load leaves
 * a chain that verifies, with a write-ahead record for every call the upstream saw.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ChildProcess, spawn } from 'node:child_process';
import Sqlite from 'better-sqlite3';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ROOT, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { linesWith } from './support/lines.ts';
import { logTo } from './support/logs.ts';
import { eventually } from './support/eventually.ts';
import { sha256 } from '../src/util/sha256.ts';
import { canonicalJson } from '../src/util/canonical-json.ts';
import type { AuditEvent } from '../src/model/audit-event.ts';

const RECORDER = join(ROOT, 'test/fixtures/upstreams/recording-server.ts');
const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-audit-'));
const CANARY = 'canary-7f3a9c2e5b1d';
const GH_TOKEN = `ghp_${'Z'.repeat(36)}`;
const logs: string[] = [];
let t: TestGateway;
const rec = join(tmp, 'rec.jsonl');

const servers = (file: string) =>
  stdioServer('rec', RECORDER) +
  `    env: { RECORD_FILE: ${JSON.stringify(file)} }\n    tools: { record: { class: READ }, other: { class: WRITE } }\n`;

before(async () => {
  const log = logTo('debug', (c) => logs.push(c));
  // What the audit itself keeps is tested here: calls that carry secrets must run (outbound
  // detection, which would refuse them first, is tested in test/mediation-requests.test.ts).
  t = await startGateway(servers(rec), {
    log,
    top: 'audit:\n  arguments: redacted\n  results: redacted\n  redact: { fields: [api_token], paths: ["$.arguments.email"] }\nsecrets: { outbound: allow }\n',
  });
});
after(async () => {
  await t?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function connect(url: string): Promise<Client> {
  const c = new Client({ name: 'audit-e2e', version: '1' });
  await c.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)));
  return c;
}

/**
 * `gatehouse start` from the source in a child process, to be killed: the child at once (so a
 * `finally` can stop it), and its base URL once `/readyz` answers 200.
 */
function startChild(cfg: string): { child: ChildProcess; ready: Promise<string> } {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [join(ROOT, 'src/cli/main.ts'), 'start', '--json', '-c', cfg], {
    env,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const ready = (async () => {
    const url = await new Promise<string>((res) =>
      child.stdout!.on('data', (d: Buffer) => res(JSON.parse(String(d).split('\n')[0]).url.replace(/\/mcp$/, ''))),
    );
    await eventually(async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200);
    return url;
  })();
  return { child, ready };
}

async function records(tg: TestGateway, q = ''): Promise<AuditEvent[]> {
  const body = (await (await fetch(`${tg.url}/admin/v1/audit/search?limit=5000${q}`)).json()) as {
    records: AuditEvent[];
  };
  return body.records;
}

test('every call: a durable intent before it, an outcome after it, joined into the run timeline', async () => {
  const c = await connect(t.url);
  await c.callTool({ name: 'rec__record', arguments: { note: 'first' } });
  await c.callTool({ name: 'rec__other', arguments: { note: 'second' } });
  await assert.rejects(c.callTool({ name: 'rec__nope', arguments: {} }));
  const sid = (c.transport as StreamableHTTPClientTransport).sessionId!;
  const all = await records(t);
  const mine = all.filter((e) => e.sessionId === sid);
  assert.deepEqual(
    mine.map((e) => [e.kind, e.tool, e.outcome ?? null]),
    [
      ['call.intent', 'rec__record', null],
      ['call.outcome', 'rec__record', 'ok'],
      ['call.intent', 'rec__other', null],
      ['call.outcome', 'rec__other', 'ok'],
      ['call.refused', 'rec__nope', 'refused'],
    ],
  );
  const [intent, outcome] = mine;
  assert.equal(outcome.intent, intent.id);
  assert.deepEqual(intent.actor, { subject: 'anonymous', tenant: 'default', via: 'anonymous', issuer: '' });
  assert.equal(intent.class, 'READ');
  assert.equal(mine[2].class, 'WRITE');
  assert.equal(intent.argsHash, `sha256:${sha256(canonicalJson({ note: 'first' }))}`);
  assert.deepEqual(intent.args, { note: 'first' });
  assert.deepEqual(intent.decision, {
    effect: 'allow',
    rule: 'builtin:no-policy',
    reasons: ['no policy is configured'],
  });
  assert.ok(intent.pin?.startsWith('sha256:'));
  assert.ok(typeof outcome.latencyMs === 'number');
  assert.deepEqual([mine[4].stage, mine[4].error], ['route', 'E_UNKNOWN_TOOL']);

  const run = await runCli(['audit', 'run', sid, '--json', '-c', t.file]);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(
    JSON.parse(run.stdout).entries.map((e: { kind: string }) => e.kind),
    ['call.intent', 'call.outcome', 'call.intent', 'call.outcome', 'call.refused'],
  );
  const api = (await (await fetch(`${t.url}/admin/v1/audit/runs/${sid}`)).json()) as { entries: unknown[] };
  assert.deepEqual(api.entries, JSON.parse(run.stdout).entries);
  await c.close();
});

test('a search or a run view given a position, a time or a page size that is not one is refused, naming the parameter; a real one pages on', async () => {
  const sid = 'no-such-run';
  for (const bad of ['1e309', '-1', 'abc', '9007199254740993', '1.5', '0x10'])
    for (const path of [
      `audit/search?after=${bad}`,
      `audit/runs/${sid}?after=${bad}`,
      `inventory/events?after=${bad}`,
    ]) {
      const r = await fetch(`${t.url}/admin/v1/${path}`);
      assert.equal(r.status, 400, `${path}: ${r.status}`);
      assert.match(
        ((await r.json()) as { error: { message: string } }).error.message,
        /`after` must be a record position/,
      );
    }
  // A page size that is not one was answered with the default page (or one record, or 5000): refused.
  for (const bad of ['abc', '-5', '0', '1.5', '5001', '1e3', ' 7'])
    for (const path of [
      `audit/search?limit=${encodeURIComponent(bad)}`,
      `inventory/events?limit=${encodeURIComponent(bad)}`,
    ]) {
      const r = await fetch(`${t.url}/admin/v1/${path}`);
      assert.equal(r.status, 400, `${path}: ${r.status}`);
      assert.deepEqual(await r.json(), {
        error: { code: 'invalid_params', message: 'invalid params: `limit` must be a whole number from 1 to 5000' },
      });
    }
  for (const path of ['audit/search?limit=5000', 'audit/search?limit=', 'inventory/events?limit=1'])
    assert.equal((await fetch(`${t.url}/admin/v1/${path}`)).status, 200, path);
  // A run id whose percent-encoding is malformed names no run: not found, not an internal error.
  for (const path of ['audit/runs/%ZZ', 'audit/runs/a%E0%A4%A']) {
    const r = await fetch(`${t.url}/admin/v1/${path}`);
    assert.equal(r.status, 404, `${path}: ${r.status}`);
  }
  for (const path of ['audit/search?since=yesterday', 'audit/search?until=2026-13-45']) {
    const r = await fetch(`${t.url}/admin/v1/${path}`);
    assert.equal(r.status, 400, path);
    assert.match(
      ((await r.json()) as { error: { message: string } }).error.message,
      /`(since|until)` must be an ISO time/,
    );
  }
  // A misspelt kind would find nothing and look like an empty trail: refused, with the nearest.
  const typo = await fetch(`${t.url}/admin/v1/audit/search?kind=egres.refused`);
  assert.equal(typo.status, 400);
  assert.match(
    ((await typo.json()) as { error: { message: string } }).error.message,
    /unknown record kind `egres\.refused`: did you mean `egress\.refused`\?/,
  );
  for (const n of ['-5', '0', 'lots']) {
    const cli = await runCli(['audit', 'search', '-n', n, '-c', t.file]);
    assert.equal(cli.code, 2, cli.stderr);
    assert.match(cli.stderr, /`--limit .*`: give a whole number of records, 1 or more/);
  }
  const all = (await records(t)) as Array<AuditEvent & { position: number }>;
  const page = (await (await fetch(`${t.url}/admin/v1/audit/search?limit=2&after=${all[0].position}`)).json()) as {
    records: Array<{ position: number }>;
    next?: number;
  };
  assert.deepEqual(
    page.records.map((r) => r.position),
    all.slice(1, 3).map((r) => r.position),
  );
  assert.equal(page.next, all[2].position, 'a full page: go on after its last record');
});

test('secrets and PII never reach a record, an export, a log line or a metric', async () => {
  const c = await connect(t.url);
  const jwt = `eyJhbGciOiJIUzI1NiJ9.${Buffer.from(JSON.stringify({ sub: CANARY })).toString('base64url')}.c2lnbmF0dXJlc2lnbmF0dXJl`;
  await c.callTool({
    name: 'rec__record',
    arguments: { note: `deploy with ${GH_TOKEN} and ${jwt}`, x: `postgres://app:${CANARY}@db:5432/x` },
  });
  await c.callTool({ name: 'rec__other', arguments: { note: 'pii', x: JSON.stringify({ api_token: CANARY }) } });
  const r = await c.callTool({ name: 'rec__record', arguments: { note: 'field', x: 'ok' } });
  assert.ok(r.content);
  await c.close();
  const exported = await runCli(['audit', 'export', '--format', 'jsonl', '-c', t.file]);
  assert.equal(exported.code, 0, exported.stderr);
  const db = JSON.stringify(await records(t));
  const metrics = await (await fetch(`${t.url}/metrics`)).text();
  // The audit spool (ADR 0015) holds each record's stored text too, until the gateway stops.
  const spoolDir = `${t.gw.config.storage.sqlitePath}-spool`;
  const spool = readdirSync(spoolDir)
    .map((f) => readFileSync(join(spoolDir, f), 'utf8'))
    .join('');
  assert.match(spool, /rec__record/, 'the spool holds the records');
  for (const [where, text] of [
    ['records', db],
    ['spool', spool],
    ['export', exported.stdout],
    ['logs', logs.join('')],
    ['metrics', metrics],
  ] as const) {
    for (const secret of [
      CANARY,
      GH_TOKEN,
      Buffer.from(CANARY).toString('base64'),
      Buffer.from(CANARY).toString('hex'),
    ]) {
      assert.ok(!text.includes(secret), `${secret.slice(0, 12)}... in the ${where}`);
    }
  }
  assert.match(db, /\[REDACTED:github-token\]/);
  assert.ok(readFileSync(rec, 'utf8').includes(GH_TOKEN), 'the upstream itself got the arguments unchanged');
});

test('export --json prints what was written (records, file, format, range) and nothing on stderr; without it, progress on stderr only', async () => {
  const dir = mkdtempSync(join(tmp, 'export-json-'));
  const file = join(dir, 'out.jsonl');
  const r = await runCli(['audit', 'export', '-o', file, '--since', '2020-01-01T00:00:00Z', '--json', '-c', t.file]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '', 'no progress with --json');
  const summary = JSON.parse(r.stdout) as Record<string, unknown>;
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const times = lines.map((l) => (JSON.parse(l) as { time: string }).time);
  assert.ok(lines.length > 0);
  assert.deepEqual(summary, {
    records: lines.length,
    output: file,
    format: 'jsonl',
    since: '2020-01-01T00:00:00.000Z',
    until: null,
    first: times[0],
    last: times.at(-1),
  });
  const text = await runCli(['audit', 'export', '-o', join(dir, 'out2.jsonl'), '-c', t.file]);
  assert.equal(text.code, 0, text.stderr);
  assert.equal(text.stdout, '');
  assert.match(text.stderr, /exported \d+ records to .*out2\.jsonl\n$/);
  // Without a file the records are on stdout: a summary there would be read as one of them.
  const refused = await runCli(['audit', 'export', '--json', '-c', t.file]);
  assert.equal(refused.code, 2);
  assert.match(
    (JSON.parse(refused.stdout) as { error: string }).error,
    /`--json` prints a summary .*`--output <file>`/,
  );
});

test('verify finds an edited, a deleted and a reordered record, each at its position', async () => {
  const dir = mkdtempSync(join(tmp, 'tamper-'));
  const g = await startGateway(servers(join(dir, 'rec.jsonl')), {
    storage: `storage: { sqlitePath: ${JSON.stringify(join(dir, 'a.db'))} }\n`,
  });
  const c = await connect(g.url);
  for (let i = 0; i < 6; i++) await c.callTool({ name: 'rec__record', arguments: { note: `n${i}` } });
  await c.close();
  const cfg = join(dir, 'gatehouse.yaml');
  writeFileSync(cfg, `version: 1\nstorage: { sqlitePath: ${JSON.stringify(join(dir, 'a.db'))} }\nservers: []\n`);
  // While the gateway runs its stream has no closing record yet: that is no loss, and not reported.
  const live = await runCli(['audit', 'verify', '--json', '-c', cfg]);
  assert.equal(live.code, 0, live.stdout);
  assert.deepEqual(JSON.parse(live.stdout).problems, []);
  await g.close();
  const clean = await runCli(['audit', 'verify', '--json', '-c', cfg]);
  assert.equal(clean.code, 0, clean.stdout);
  assert.deepEqual(JSON.parse(clean.stdout).problems, []);
  assert.equal(clean.stderr, '', 'no progress with --json: stdout is the report alone');
  const shown = await runCli(['audit', 'verify', '-c', cfg]);
  assert.match(shown.stderr, /^verified \d+ records$/m, 'progress goes to stderr');
  assert.doesNotMatch(shown.stdout, /verified/);
  assert.match(shown.stdout, /^\d+ records in \d+ streams: the chain is intact\n$/);

  const db = new Sqlite(join(dir, 'a.db'));
  const rows = db.prepare('select position, stream, seq, body from audit_events order by position').all() as Array<{
    position: number;
    stream: string;
    seq: number;
    body: string;
  }>;
  // An intent whose actor is rewritten; then a deleted record; then two records swapped.
  const i = rows.findIndex((r) => r.body.includes('"call.intent"'));
  const edit = rows[i];
  const gone = rows[i + 2];
  const [a, b, next] = [rows[i + 4], rows[i + 5], rows[i + 6]];
  db.prepare('update audit_events set body = ? where position = ?').run(
    edit.body.replace('"subject":"anonymous"', '"subject":"someone-else"'),
    edit.position,
  );
  db.prepare('delete from audit_events where position = ?').run(gone.position);
  db.prepare('update audit_events set seq = -1 where position = ?').run(a.position);
  db.prepare('update audit_events set seq = ? where position = ?').run(a.seq, b.position);
  db.prepare('update audit_events set seq = ? where position = ?').run(b.seq, a.position);
  db.close();
  const report = await runCli(['audit', 'verify', '--json', '-c', cfg]);
  assert.equal(report.code, 1);
  const problems = JSON.parse(report.stdout).problems.map(
    (p: { problem: string; seq: number; position: number | null }) => [p.problem, p.seq, p.position],
  );
  assert.deepEqual(
    problems.filter((p: unknown[]) => p[0] !== 'not closed'),
    [
      ['edited', edit.seq, edit.position],
      ['missing', gone.seq, null],
      ['edited', a.seq, b.position],
      ['edited', b.seq, a.position],
      ['out of order', next.seq, next.position], // the record after the swap no longer follows its predecessor
    ],
  );
  const text = await runCli(['audit', 'verify', '-c', cfg]);
  assert.match(text.stdout, /^EDITED: stream \S+ seq \d+ \(position \d+\): the content does not match its hash$/m);
  assert.match(text.stdout, /TAMPERING OR LOSS DETECTED\n$/);
});

test('an unwritable audit store refuses WRITE calls, and READ calls unless configured otherwise; nothing reaches the upstream; what was spooled is kept and stored once it can be', async () => {
  for (const readWhenUnavailable of ['refuse', 'allow']) {
    const dir = mkdtempSync(join(tmp, 'down-'));
    const file = join(dir, 'rec.jsonl');
    const g = await startGateway(servers(file), {
      storage: `storage: { sqlitePath: ${JSON.stringify(join(dir, 'a.db'))} }\n`,
      top: `audit: { readWhenUnavailable: ${readWhenUnavailable}, arguments: redacted }\n`,
    });
    const c = await connect(g.url);
    await c.callTool({ name: 'rec__record', arguments: { note: 'before' } });
    await records(g); // a read in the gateway's process stores what it spooled first
    // The store starts failing every audit write, as a full disk or a broken volume would.
    const db = new Sqlite(join(dir, 'a.db'));
    db.exec("create trigger audit_down before insert on audit_events begin select raise(abort, 'disk I/O error'); end");
    // A call right after is acknowledged from the spool (its records are durable there, ADR 0015);
    // the store's first failure to take them makes the gateway not ready and refuse what follows.
    await c.callTool({ name: 'rec__record', arguments: { note: 'spooled' } });
    const readyz = await eventually(async () => {
      const r = await fetch(`${g.url}/readyz`);
      return r.status === 503 ? ((await r.json()) as { store: string }) : undefined;
    });
    assert.equal(readyz.store, 'unavailable');
    const seen = linesWith(file, 'tools/call');
    await assert.rejects(
      c.callTool({ name: 'rec__other', arguments: { note: 'write' } }),
      (err: { code: number; message: string }) => {
        assert.equal(err.code, -32001);
        assert.match(err.message, /the audit trail cannot be written, so calls that change things are refused/);
        return true;
      },
    );
    if (readWhenUnavailable === 'refuse')
      await assert.rejects(
        c.callTool({ name: 'rec__record', arguments: { note: 'read' } }),
        /audit trail cannot be written/,
      );
    else {
      await c.callTool({ name: 'rec__record', arguments: { note: 'read' } });
      assert.match(await (await fetch(`${g.url}/metrics`)).text(), /^gatehouse_audit_fail_open_total 1$/m);
    }
    const after = linesWith(file, 'tools/call');
    assert.equal(after - seen, readWhenUnavailable === 'allow' ? 1 : 0, 'the refused calls never reached the upstream');
    // The volume mended: the spooled records are stored, and calls go through again.
    db.exec('drop trigger audit_down');
    db.close();
    await eventually(async () => (await fetch(`${g.url}/readyz`)).status === 200);
    await c.callTool({ name: 'rec__other', arguments: { note: 'after' } });
    const notes = (await records(g, '&kind=call.intent')).map((e) => (e.args as { note?: string })?.note);
    assert.deepEqual(
      notes.filter((n) => n !== 'read'),
      ['before', 'spooled', 'after'],
    );
    await c.close();
    await g.close();
  }
});

test('SIGKILL under load, three times: the chain verifies, every call the upstream saw has a prior intent, open calls become unknown', async () => {
  const dir = mkdtempSync(join(tmp, 'crash-'));
  const file = join(dir, 'rec.jsonl');
  writeFileSync(
    join(dir, 'gatehouse.yaml'),
    `version: 1\ngateway: { listen: { host: 127.0.0.1, port: 0 }, stateDir: ${JSON.stringify(join(dir, 'state'))} }\nservers:\n${servers(file)}`,
  );
  const cfg = join(dir, 'gatehouse.yaml');
  let n = 0;
  let killedAt = 0;
  for (let round = 0; round < 3; round++) {
    const { child, ready } = startChild(cfg);
    const url = await ready;
    const clients = await Promise.all(Array.from({ length: 4 }, () => connect(url)));
    let stop = false;
    const load = clients.map(async (c) => {
      while (!stop)
        await c.callTool({ name: 'rec__other', arguments: { note: `call-${round}-${n++}` } }).catch(() => {
          stop = true;
        });
    });
    // Killed once the upstream has seen calls of this round: under load, not at a moment picked by the clock.
    const upstreamCalls = () => (readFileSync(file, 'utf8').match(/"method":"tools\/call"/g) ?? []).length;
    const before = upstreamCalls();
    await eventually(() => upstreamCalls() >= before + 8);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    killedAt = performance.now();
    stop = true;
    await Promise.allSettled(load);
    await Promise.allSettled(clients.map((c) => c.close()));
  }
  // A last start closes out what the killed processes left open: at once for streams whose heartbeat
  // is older than 5 s, within its next sweeps (every 10 s) for the one killed just before it started.
  const last = await startGateway(servers(file), {
    storage: `storage: { sqlitePath: ${JSON.stringify(join(dir, 'state', 'gatehouse.db'))} }\n`,
  });
  const search = async () =>
    JSON.parse((await runCli(['audit', 'search', '--limit', '100000', '--json', '-c', last.file])).stdout)
      .records as AuditEvent[];
  const openOf = (events: AuditEvent[]) => {
    const closed = new Set(events.filter((e) => e.intent).map((e) => e.intent));
    return events.filter((e) => e.kind === 'call.intent' && !closed.has(e.id));
  };
  const events = await eventually(
    async () => {
      const all = await search();
      return openOf(all).length === 0 ? all : undefined;
    },
    { timeoutMs: 40_000, intervalMs: 1000 },
  );
  await last.close();
  // A stream whose writer's heartbeat is under 5 s old counts as live, not as ended without a close
  // (LIVE_MS): the last one killed is seen as dead once that has passed (on a quick run, it had not).
  await new Promise((r) => setTimeout(r, Math.max(0, 5500 - (performance.now() - killedAt))));
  const verify = await runCli(['audit', 'verify', '--json', '-c', cfg]);
  const report = JSON.parse(verify.stdout);
  assert.equal(report.ok, true, verify.stdout);
  assert.ok(
    report.problems.filter((p: { problem: string }) => p.problem === 'not closed').length >= 3,
    'the killed streams end without a closing record',
  );
  const intents = new Map(events.filter((e) => e.kind === 'call.intent').map((e) => [e.argsHash, e]));
  const seen = readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((m) => m.method === 'tools/call');
  assert.ok(seen.length > 20, `${seen.length} calls under load`);
  for (const m of seen)
    assert.ok(
      intents.has(`sha256:${sha256(canonicalJson(m.params.arguments))}`),
      `no intent for ${m.params.arguments.note}`,
    );
  const closed = new Set(
    events.filter((e) => e.kind === 'call.outcome' || e.kind === 'call.unknown').map((e) => e.intent),
  );
  for (const i of intents.values())
    assert.ok(closed.has(i.id), `intent ${i.id} is closed by an outcome or marked unknown`);
});

test('killed while its records are only in the spool (the database locked): the next opener stores them, every answered call has its intent and outcome, the chain verifies', async () => {
  const dir = mkdtempSync(join(tmp, 'spool-'));
  const file = join(dir, 'rec.jsonl');
  const cfg = join(dir, 'gatehouse.yaml');
  const db = join(dir, 'state', 'gatehouse.db');
  writeFileSync(
    cfg,
    `version: 1\ngateway: { listen: { host: 127.0.0.1, port: 0 }, stateDir: ${JSON.stringify(join(dir, 'state'))} }\naudit: { arguments: redacted }\nservers:\n${servers(file)}`,
  );
  const { child: a, ready } = startChild(cfg);
  let b: TestGateway | undefined;
  let lock: Sqlite.Database | undefined;
  try {
    const url = await ready;
    const client = await connect(url);
    await client.callTool({ name: 'rec__record', arguments: { note: 'stored' } });
    lock = new Sqlite(db);
    lock.exec('begin immediate'); // the gateway cannot commit: its records stay in its spool
    for (const note of ['spooled-1', 'spooled-2'])
      assert.equal(
        ((await client.callTool({ name: 'rec__record', arguments: { note } })) as { isError?: boolean }).isError,
        undefined,
      );
    a.kill('SIGKILL');
    await new Promise((r) => a.once('exit', r));
    lock.exec('commit');
    lock.close();
    lock = undefined;
    b = await startGateway(servers(file), {
      storage: `storage: { sqlitePath: ${JSON.stringify(db)} }\n`,
      top: 'audit: { arguments: redacted }\n',
    });
    const all = await records(b);
    const notes = (kind: string) =>
      all.filter((e) => e.kind === kind && e.tool === 'rec__record').map((e) => (e.args as { note: string }).note);
    assert.deepEqual(notes('call.intent'), ['stored', 'spooled-1', 'spooled-2']);
    const intents = all.filter((e) => e.kind === 'call.intent' && e.tool === 'rec__record');
    for (const i of intents)
      assert.deepEqual(
        all.filter((e) => e.intent === i.id).map((e) => [e.kind, e.outcome]),
        [['call.outcome', 'ok']],
        'each answered call has its outcome, from the spool',
      );
    const replayed = all.filter((e) => e.kind === 'audit.replayed');
    assert.equal(replayed.length, 1);
    assert.ok((replayed[0].detail as { stored: number }).stored >= 4, JSON.stringify(replayed[0].detail));
    const verify = await runCli(['audit', 'verify', '--json', '-c', cfg]);
    assert.equal(JSON.parse(verify.stdout).ok, true, verify.stdout);
  } finally {
    lock?.close();
    if (a.exitCode === null && a.signalCode === null) a.kill('SIGKILL');
    await b?.close();
  }
});

test("two gateways on one store: a starting one leaves the other's call in flight alone; a killed one's call is marked unknown by the survivor", async () => {
  const dir = mkdtempSync(join(tmp, 'replicas-'));
  const file = join(dir, 'rec.jsonl');
  writeFileSync(file, '');
  const cfg = join(dir, 'gatehouse.yaml');
  writeFileSync(
    cfg,
    `version: 1\ngateway: { listen: { host: 127.0.0.1, port: 0 }, stateDir: ${JSON.stringify(join(dir, 'state'))} }\nservers:\n${servers(file)}`,
  );
  const { child: a, ready } = startChild(cfg);
  let b: TestGateway | undefined;
  try {
    const url = await ready;
    const client = await connect(url);
    const slowCalls = () => (readFileSync(file, 'utf8').match(/"name":"slow"/g) ?? []).length;
    const first = client.callTool({ name: 'rec__slow', arguments: { ms: 3000 } });
    await eventually(() => slowCalls() === 1);
    b = await startGateway(servers(file), {
      storage: `storage: { sqlitePath: ${JSON.stringify(join(dir, 'state', 'gatehouse.db'))} }\n`,
    });
    assert.deepEqual((await first).content, [{ type: 'text', text: 'slept 3000' }]);
    const intents = async () => (await records(b!, '&kind=call.intent')).filter((e) => e.tool === 'rec__slow');
    const closing = async (intent: string) => (await records(b!)).filter((e) => e.intent === intent).map((e) => e.kind);
    const [one] = await intents();
    // Another process's records reach the store within its spool's ingestion interval (ADR 0015).
    assert.deepEqual(
      await eventually(async () => {
        const k = await closing(one.id);
        return k.length ? k : undefined;
      }),
      ['call.outcome'],
      'the live gateway closed its own call',
    );

    void client.callTool({ name: 'rec__slow', arguments: { ms: 60_000 } }).catch(() => {});
    await eventually(() => slowCalls() === 2);
    a.kill('SIGKILL');
    await new Promise((r) => a.once('exit', r));
    // The killed gateway's intent reaches the store from its spool (ADR 0015), which may be after the kill.
    const kinds = await eventually(
      async () => {
        const two = (await intents()).find((e) => e.id !== one.id);
        const k = two ? await closing(two.id) : [];
        return k.length ? k : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    assert.deepEqual(kinds, ['call.unknown'], "the survivor marks the dead gateway's call unknown");
  } finally {
    if (a.exitCode === null && a.signalCode === null) a.kill('SIGKILL');
    await b?.close();
  }
});

test('an HTTP sink (Splunk HEC) down for a while, then up: every record arrives, duplicates removable by (stream, seq)', async () => {
  const { splunkReceiver } = await import('./fixtures/sinks/http-receivers.ts');
  const receiver = await splunkReceiver('hec-token-123456');
  await receiver.setMode('refuse');
  const dir = mkdtempSync(join(tmp, 'export-'));
  const failing: string[] = [];
  const g = await startGateway(servers(join(dir, 'rec.jsonl')), {
    top: `audit:\n  exports:\n    - { name: siem, type: http, url: ${JSON.stringify(receiver.url)}, format: splunk-hec, headers: { Authorization: "Splunk hec-token-123456" } }\n`,
    log: logTo('warn', (c) => {
      if (c.includes('audit export failing')) failing.push(c);
    }),
  });
  try {
    const c = await connect(g.url);
    for (let i = 0; i < 10; i++) await c.callTool({ name: 'rec__record', arguments: { note: `exported-${i}` } });
    await c.close();
    // The exporter tried while the receiver was down (it logs each failing attempt).
    await eventually(() => failing.length > 0);
    assert.equal(receiver.events.length, 0, 'nothing arrived while the receiver was down');
    await receiver.setMode('up');
    const want = new Set((await records(g)).map((e) => `${e.stream}#${e.seq}`));
    const got = await eventually(
      () => {
        const arrived = new Set(receiver.events.map((e) => `${e.event.stream}#${e.event.seq}`));
        for (const k of want) assert.ok(arrived.has(k), `${k} arrived`);
        return arrived;
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    const byKey = new Map(receiver.events.map((e) => [`${e.event.stream}#${e.event.seq}`, e.event.hash]));
    assert.equal(byKey.size, got.size, 'duplicates are the same record');
  } finally {
    await g.close();
    await receiver.close();
  }
});
