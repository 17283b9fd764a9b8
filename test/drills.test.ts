/**
 * Drills on three replicas behind nginx (shared PostgreSQL schema and Redis prefix), as tests:
 * - one replica SIGKILLed under load: clients go on through nginx, no call executes twice (the
 *   recording upstream, shared by every replica's connection, shows each execution), and the audit
 *   of every stream verifies;
 * - PostgreSQL connections cut (pg_terminate_backend of this deployment's application_name only: the
 *   server is shared) under load: nothing reaches the upstream without its write-ahead record, and
 *   calls work again afterwards;
 * - a rolling configuration change, one replica at a time (SIGHUP), with traffic flowing.
 * Redis cut and restored: test/drills-redis.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { runCli } from './support/gateway.ts';
import { cutPostgres, pgTestUrl } from './support/services.ts';
import {
  deployment,
  RECORDER,
  recordedCalls,
  rpcBody,
  startReplica,
  waitFor,
  type Replica,
} from './support/scale-out.ts';
import { openLegacySession, postLegacy } from './support/rpc.ts';

const d = deployment('drills', 'd');
const { opts, replicas, tmp, usable } = d;

/** A legacy session opened through `base` (initialize + initialized); its id. */
const openSession = (base: string) => openLegacySession(base, 'drill', { id: 0, initialized: true });

type Outcome = 'ok' | 'failed';

/** One tools/call of rec__record with a unique note; never retried (a retry could execute twice). */
async function callOnce(base: string, sid: string, id: number, note: string): Promise<Outcome> {
  try {
    const call = { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'rec__record', arguments: { note } } };
    const r = await postLegacy(base, call, { sid, signal: AbortSignal.timeout(15_000) });
    if (r.status !== 200) {
      await r.text();
      return 'failed';
    }
    const body = await rpcBody(r);
    return body.result && !body.result.isError && JSON.stringify(body.result).includes(note) ? 'ok' : 'failed';
  } catch {
    return 'failed';
  }
}

interface Load {
  results: Map<string, Outcome>;
  /** Notes in the order they were sent, with when. */
  sent: Array<{ note: string; at: number }>;
  stop(): Promise<void>;
}

/** `workers` clients, each with its own legacy session through nginx, calling back to back until stopped. */
async function load(prefix: string, workers: number): Promise<Load> {
  const results = new Map<string, Outcome>();
  const sent: Load['sent'] = [];
  let running = true;
  const sids = await Promise.all(Array.from({ length: workers }, () => openSession(d.lb!.url)));
  const loops = sids.map(async (sid, w) => {
    for (let i = 0; running; i++) {
      const note = `${prefix}-${w}-${i}`;
      sent.push({ note, at: Date.now() });
      results.set(note, await callOnce(d.lb!.url, sid, i + 1, note));
    }
  });
  return {
    results,
    sent,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

function executions(prefix: string): Map<string, number> {
  const n = new Map<string, number>();
  for (const c of recordedCalls(opts.recordFile)) {
    const note = String(c.arguments.note ?? '');
    if (note.startsWith(`${prefix}-`)) n.set(note, (n.get(note) ?? 0) + 1);
  }
  return n;
}

test('drill: one replica SIGKILLed under load; clients go on, nothing executes twice, every audit stream verifies', async (t) => {
  if (!(await usable(t))) return;
  const victim = replicas[1];
  const l = await load('kill', 4);
  const answered = () => [...l.results.values()].filter((o) => o === 'ok').length;
  await waitFor('the load to flow through every replica', async () => answered() >= 12);
  const killedAt = Date.now();
  victim.child.kill('SIGKILL');
  // Until clients have gone on well past the kill: more than 8 calls sent after it were answered.
  await waitFor(
    'calls to go on after the kill',
    async () => l.sent.filter((s) => s.at > killedAt + 500 && l.results.has(s.note)).length > 8,
  );
  await l.stop();

  const ran = executions('kill');
  for (const [note, n] of ran) assert.equal(n, 1, `${note} executed ${n} times`);
  const ok = [...l.results].filter(([, o]) => o === 'ok').map(([n]) => n);
  const failed = [...l.results].filter(([, o]) => o === 'failed').map(([n]) => n);
  for (const note of ok) assert.equal(ran.get(note), 1, `${note} answered but not executed once`);
  const after = l.sent.filter((s) => s.at > killedAt + 500).map((s) => s.note);
  assert.ok(after.length > 8, `calls went on after the kill (${after.length})`);
  assert.ok(
    after.every((n) => l.results.get(n) === 'ok'),
    'every call sent after the kill answered',
  );
  // Only the calls in flight on the killed replica may fail (one per client at most, twice for safety).
  assert.ok(failed.length <= 8, `failed: ${failed.join(', ')}`);
  t.diagnostic(
    `${ok.length} calls answered, ${failed.length} failed (in flight on the killed replica), ${after.length} after the kill`,
  );

  const verify = await runCli(['audit', 'verify', '--json', '-c', replicas[0].file], {
    env: { GATEHOUSE_SECRETS_KEY: opts.secretsKey },
  });
  const report = JSON.parse(verify.stdout) as { ok: boolean; streams: number; problems: unknown[] };
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.ok(report.ok);
  assert.ok(report.streams >= 3, `every replica's stream is there (${report.streams})`);

  // The replica comes back on its port; nginx sends it traffic again.
  replicas[1] = await startReplica(victim.name, opts, victim.port);
  const seen: string[] = [];
  // One session (in the store), one request per round: round robin cycles over every replica.
  const sid = await openSession(d.lb!.url);
  await waitFor(
    'nginx to use the restarted replica',
    async () => {
      const r = await postLegacy(d.lb!.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { sid });
      await r.text();
      seen.push(`${r.status}@${r.headers.get('x-gatehouse-replica')}`);
      return r.headers.get('x-gatehouse-replica') === `127.0.0.1:${victim.port}`;
    },
    30_000,
  ).catch((err: Error) =>
    assert.fail(
      `${err.message}; answers: ${seen.slice(-12).join(' ')}; replica log: ${replicas[1].log().slice(-1500)}`,
    ),
  );
});

test('drill: PostgreSQL connections cut under load; nothing reaches the upstream unrecorded; calls recover', async (t) => {
  if (!(await usable(t))) return;
  const l = await load('pgcut', 3);
  await waitFor('the load to flow', async () => l.results.size >= 6);
  // Cut again and again while calls keep being sent: at least three connections, over at least 15 calls.
  let cut = 0;
  const sentBefore = l.sent.length;
  await waitFor(
    'connections cut under load',
    async () => {
      cut += await cutPostgres(opts.app);
      return cut >= 3 && l.sent.length >= sentBefore + 15;
    },
    30_000,
  );
  await l.stop();
  assert.ok(cut >= 3, `connections cut: ${cut}`);

  // Every execution has its write-ahead intent in the store.
  const c = new pg.Client({ connectionString: pgTestUrl() });
  await c.connect();
  const intents = new Set<string>();
  try {
    const r = await c.query(
      `select body from "${opts.schema}".audit_events where kind = 'call.intent' and body like '%pgcut-%'`,
    );
    for (const row of r.rows as Array<{ body: string }>)
      for (const m of row.body.matchAll(/pgcut-\d+-\d+/g)) intents.add(m[0]);
  } finally {
    await c.end();
  }
  const ran = executions('pgcut');
  for (const [note, n] of ran) {
    assert.equal(n, 1, `${note} executed ${n} times`);
    assert.ok(intents.has(note), `${note} reached the upstream without a write-ahead record`);
  }
  const failed = [...l.results.values()].filter((o) => o === 'failed').length;
  t.diagnostic(`${cut} connections cut; ${ran.size} calls executed, ${failed} failed closed`);

  // Recovery: every call answers again.
  const sid = await openSession(d.lb!.url);
  for (let i = 0; i < 9; i++) assert.equal(await callOnce(d.lb!.url, sid, 100 + i, `pgafter-${i}`), 'ok');
});

test('drill: a rolling configuration change, one replica at a time (SIGHUP), traffic flowing', async (t) => {
  if (!(await usable(t))) return;
  const l = await load('rolling', 2);
  const lists = async (r: Replica) => {
    const sid = await openSession(r.url);
    const res = await postLegacy(r.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { sid });
    return JSON.stringify((await rpcBody(res)).result).includes('rec2__record');
  };
  for (const [i, r] of replicas.entries()) {
    appendFileSync(
      r.file,
      `  - name: rec2\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: ${JSON.stringify([RECORDER])}\n    env: { RECORD_FILE: ${JSON.stringify(join(tmp, 'rec2.jsonl'))} }\n`,
    );
    r.child.kill('SIGHUP');
    await waitFor(`${r.name} to serve the new server`, () => lists(r), 15_000);
    // The replicas not yet changed still run the old configuration.
    for (const other of replicas.slice(i + 1))
      assert.equal(await lists(other), false, `${other.name} changed too early`);
  }
  await l.stop();
  const outcomes = [...l.results.values()];
  assert.ok(outcomes.length > 10);
  assert.ok(
    outcomes.every((o) => o === 'ok'),
    `${outcomes.filter((o) => o !== 'ok').length} calls failed during the rolling change`,
  );
  for (const r of replicas) assert.doesNotMatch(r.log(), /reload (failed|refused)/i);
});
