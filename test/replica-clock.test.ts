/**
 * Replicas whose clocks disagree still agree on who is live (ADR 0013): heartbeats are written and
 * read by PostgreSQL's clock. Two real replicas on a fresh schema, one with its wall clock ten minutes
 * ahead (a preload that shifts Date, as the faults walk did): a slow call on the healthy replica is
 * left to it (one outcome, no call.unknown), and the call of a replica killed mid-call is still
 * closed by the skewed one, within the documented time (STOPPED_AFTER_MS, then its next look).
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './support/processes.ts';
import { openLegacySession, postLegacy } from './support/rpc.ts';
import {
  createSchema,
  newSecretsKey,
  recordedCalls,
  startReplica,
  type DeploymentOptions,
  type Replica,
} from './support/scale-out.ts';
import { dropPgSchema, freshPgSchema, pgTestUrl, requireService } from './support/services.ts';
import { eventually } from './support/eventually.ts';
import { tcpProxy, type TcpProxy } from './support/tcp-proxy.ts';
import { skewedClockEnv } from './support/clock-skew.ts';

const SKEW_MS = 600_000;

const schema = freshPgSchema();
const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-replica-clock-'));
let opts: DeploymentOptions;
let healthy: Replica | undefined;
let skewed: Replica | undefined;
let started = false;

before(async () => {
  await createSchema(schema).catch(() => {});
  const port = await freePort();
  opts = {
    schema,
    app: `gatehouse-clock-${schema}`,
    redisUrl: 'redis://127.0.0.1:6379',
    keyPrefix: `gatehouse-test:${schema}:`,
    recordFile: join(tmp, 'rec.jsonl'),
    publicUrl: `http://127.0.0.1:${port}`,
    secretsKey: newSecretsKey(),
  };
  try {
    healthy = await startReplica('clock-a', opts, port);
    skewed = await startReplica('clock-b', opts, await freePort(), undefined, skewedClockEnv(tmp, SKEW_MS));
    started = true;
  } catch {
    // PostgreSQL or Redis missing: each test says so (requireService).
  }
});
after(async () => {
  await healthy?.stop();
  await skewed?.stop();
  if (started) await dropPgSchema(schema).catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
});

async function usable(t: TestContext): Promise<boolean> {
  if (!(await requireService(t, 'postgres')) || !(await requireService(t, 'redis'))) return false;
  assert.ok(started, 'both replicas started');
  return true;
}

interface Closing {
  kind: string;
  outcome: string;
  stream: string;
  id: string;
  lateAfter?: { id: string; stream: string; seq: number };
}

/** The records naming `intent` (its outcome, a call.unknown), in log order. */
async function closing(intent: string): Promise<Closing[]> {
  const c = new pg.Client({ connectionString: pgTestUrl() });
  await c.connect();
  try {
    const r = await c.query<{ body: string }>(
      `select body from "${schema}".audit_events where intent_id = $1 order by position`,
      [intent],
    );
    return r.rows.map((x) => {
      const e = JSON.parse(x.body) as Closing & { detail?: { lateAfter?: Closing['lateAfter'] } };
      return { kind: e.kind, outcome: e.outcome, stream: e.stream, id: e.id, lateAfter: e.detail?.lateAfter };
    });
  } finally {
    await c.end();
  }
}

/** The records closing `intent`, once there is one. */
const closedBy = (intent: string, timeoutMs = 10_000) =>
  eventually(
    async () => {
      const k = await closing(intent);
      return k.length ? k : undefined;
    },
    { timeoutMs, intervalMs: 250 },
  );

const kinds = (records: Closing[]) => records.map((r) => [r.kind, r.outcome]);

/** The call.intent records of rec__slow with `ms`, as id and stream. */
async function intentsOf(ms: number): Promise<Array<{ id: string; stream: string }>> {
  const c = new pg.Client({ connectionString: pgTestUrl() });
  await c.connect();
  try {
    const r = await c.query<{ body: string }>(
      `select body from "${schema}".audit_events where kind = 'call.intent' and tool = 'rec__slow' order by position`,
    );
    return r.rows
      .map((x) => JSON.parse(x.body) as { id: string; stream: string; args?: { ms?: number } })
      .filter((e) => e.args?.ms === ms);
  } finally {
    await c.end();
  }
}

const slowCall = (id: number, ms: number) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name: 'rec__slow', arguments: { ms } },
});

test("a replica with its clock ten minutes ahead leaves a healthy replica's slow call to it: one outcome, no call.unknown", async (t) => {
  if (!(await usable(t))) return;
  const sid = await openLegacySession(healthy!.url, 'clock', { id: 0, initialized: true });
  // 12 s: the skewed replica looks for stopped writers' calls every 10 s, so it looks at least once meanwhile.
  const r = await postLegacy(healthy!.url, slowCall(1, 12_000), { sid, signal: AbortSignal.timeout(40_000) });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  assert.match(text, /slept 12000/);
  const [intent] = await intentsOf(12_000);
  assert.ok(intent, 'the call has its intent');
  const records = await closedBy(intent.id);
  assert.deepEqual(
    kinds(records),
    [['call.outcome', 'ok']],
    `closed once, by its own writer: ${JSON.stringify(records)}`,
  );
  assert.equal(records[0].stream, intent.stream);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A replica of the deployment whose PostgreSQL connections go through `proxy`; stopped after the test. */
async function proxiedReplica(t: TestContext, name: string, proxy: TcpProxy): Promise<Replica> {
  const base = new URL(pgTestUrl());
  base.port = String(proxy.port);
  const r = await startReplica(name, { ...opts, postgresBase: base.toString() }, await freePort());
  t.after(() => r.stop());
  return r;
}

test('a replica whose store pauses for 11 s, shorter than the grace, keeps its call in flight: one outcome, no call.unknown', async (t) => {
  if (!(await usable(t))) return;
  const proxy = await tcpProxy(t, Number(new URL(pgTestUrl()).port || 5432));
  const paused = await proxiedReplica(t, 'clock-c', proxy);
  const sid = await openLegacySession(paused.url, 'clock', { id: 0, initialized: true });
  const answer = postLegacy(paused.url, slowCall(3, 16_000), { sid, signal: AbortSignal.timeout(60_000) }).then((r) =>
    r.text(),
  );
  await eventually(() => recordedCalls(opts.recordFile).some((c) => c.name === 'slow' && c.arguments.ms === 16_000));
  proxy.freeze(true);
  const frozenAt = performance.now();
  // Besides the skewed replica's look every 10 s, a replica starting 3 s into the pause looks at once:
  // with the old 5 s window it took the paused one for stopped.
  await sleep(3000);
  const starting = startReplica('clock-d', opts, await freePort());
  await sleep(11_000 - (performance.now() - frozenAt));
  proxy.freeze(false);
  const other = await starting;
  t.after(() => other.stop());
  assert.match(await answer, /slept 16000/);
  const [intent] = await intentsOf(16_000);
  const records = await closedBy(intent.id);
  assert.deepEqual(kinds(records), [['call.outcome', 'ok']], JSON.stringify(records));
  assert.equal(records[0].lateAfter, undefined);
});

test('a replica frozen longer than the grace: the other closes its call as unknown, and its outcome says it is late and after which record', async (t) => {
  if (!(await usable(t))) return;
  const sid = await openLegacySession(healthy!.url, 'clock', { id: 0, initialized: true });
  const answer = postLegacy(healthy!.url, slowCall(4, 3000), { sid, signal: AbortSignal.timeout(90_000) }).then((r) =>
    r.text(),
  );
  await eventually(() => recordedCalls(opts.recordFile).some((c) => c.name === 'slow' && c.arguments.ms === 3000));
  // The process stops (a frozen VM, a stalled container): no heartbeat for 27 s. The skewed replica
  // looks every 10 s, so at least once after the 15 s grace.
  healthy!.child.kill('SIGSTOP');
  try {
    await sleep(27_000);
  } finally {
    healthy!.child.kill('SIGCONT');
  }
  assert.match(await answer, /slept 3000/, 'the caller has its answer');
  const [intent] = await intentsOf(3000);
  const records = await eventually(
    async () => {
      const k = await closing(intent.id);
      return k.length === 2 ? k : undefined;
    },
    { timeoutMs: 10_000, intervalMs: 250 },
  );
  const [unknown, outcome] = records;
  assert.deepEqual(kinds(records), [
    ['call.unknown', 'unknown'],
    ['call.outcome', 'ok'],
  ]);
  assert.notEqual(unknown.stream, intent.stream);
  assert.equal(outcome.stream, intent.stream);
  assert.deepEqual(outcome.lateAfter, { id: unknown.id, stream: unknown.stream, seq: outcome.lateAfter?.seq });
  assert.equal(typeof outcome.lateAfter?.seq, 'number');
  await eventually(() => healthy!.log().includes('its outcome is recorded as late'));
});

test('a replica killed with a call in flight: the skewed replica closes the call as unknown, after the grace and within 25 s', async (t) => {
  if (!(await usable(t))) return;
  const sid = await openLegacySession(healthy!.url, 'clock', { id: 0, initialized: true });
  void postLegacy(healthy!.url, slowCall(2, 60_000), { sid, signal: AbortSignal.timeout(70_000) })
    .then((r) => r.text())
    .catch(() => {});
  await eventually(() => recordedCalls(opts.recordFile).some((c) => c.name === 'slow' && c.arguments.ms === 60_000));
  const [intent] = await intentsOf(60_000);
  assert.ok(intent, 'the call has its intent');
  healthy!.child.kill('SIGKILL');
  await new Promise((r) => healthy!.child.once('exit', r));
  const killed = performance.now();
  const records = await closedBy(intent.id, 40_000);
  const tookMs = performance.now() - killed;
  assert.deepEqual(kinds(records), [['call.unknown', 'unknown']]);
  assert.notEqual(records[0].stream, intent.stream, 'by the surviving replica');
  // Its last heartbeat was at most a second before the kill: closed no sooner than the 15 s grace
  // allows, and no later than the grace and the next look (10 s): 26 s, and slack for a busy machine.
  assert.ok(tookMs >= 13_500, `closed ${Math.round(tookMs)} ms after the kill: not before the grace`);
  assert.ok(tookMs <= 29_000, `closed ${Math.round(tookMs)} ms after the kill`);
});
