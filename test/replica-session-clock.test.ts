/**
 * Legacy sessions are judged by the store's clock, not by each replica's own (ADR 0013): two real
 * replicas on a fresh PostgreSQL schema, B's wall clock ten minutes ahead (the preload of
 * test/replica-clock.test.ts), sessions idle after 40 s. B takes A's sessions as live, counts them
 * toward the tenant's cap, and its sweeps leave them alone; before, B refused A's sessions as idle,
 * let a tenant past its cap, and purged every session A's callers held. And what crosses Redis
 * between them (a real subscriber on every channel of the deployment) never holds a session id.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';
import { createKey } from './support/gateway.ts';
import { freePort } from './support/processes.ts';
import { initializeRequest, openLegacySession, postLegacy } from './support/rpc.ts';
import {
  createSchema,
  newSecretsKey,
  startReplica,
  type DeploymentOptions,
  type Replica,
} from './support/scale-out.ts';
import { dropPgSchema, dropRedisKeys, freshPgSchema, pgTestUrl, requireService } from './support/services.ts';
import { eventually } from './support/eventually.ts';
import { skewedClockEnv } from './support/clock-skew.ts';
import { sessionDigest } from '../src/sessions/session-digest.ts';

const SKEW_MS = 600_000;
const IDLE_S = 40;
/** A replica sweeps every min(60 s, idle time) from its start. */
const SWEEP_MS = 40_000;

const schema = freshPgSchema();
const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-session-clock-'));
const keyPrefix = `gatehouse-test:${schema}:`;
let opts: DeploymentOptions;
let a: Replica | undefined;
let b: Replica | undefined;
let bStartedAt = 0;
const keys: Record<string, string> = {};
/** Every session id this file opened, and every message published on the deployment's channels. */
const opened: string[] = [];
const published: Array<{ channel: string; text: string }> = [];
let watcher: Redis | undefined;
let started = false;

before(async () => {
  await createSchema(schema).catch(() => {});
  const port = await freePort();
  opts = {
    schema,
    app: `gatehouse-session-clock-${schema}`,
    redisUrl: 'redis://127.0.0.1:6379',
    keyPrefix,
    recordFile: join(tmp, 'rec.jsonl'),
    publicUrl: `http://127.0.0.1:${port}`,
    secretsKey: newSecretsKey(),
    gatewayExtra: `  sessionIdleSeconds: ${IDLE_S}\n  maxSessionsPerTenant: 2\n  maxSessionsPerPrincipal: 10\n`,
    top: 'identity: { apiKeys: true }\n',
  };
  try {
    watcher = new Redis(opts.redisUrl);
    await watcher.psubscribe(`${keyPrefix}*`);
    watcher.on('pmessage', (_p: string, channel: string, text: string) => void published.push({ channel, text }));
    a = await startReplica('sclock-a', opts, port);
    b = await startReplica('sclock-b', opts, await freePort(), undefined, skewedClockEnv(tmp, SKEW_MS));
    bStartedAt = performance.now();
    const env = { GATEHOUSE_SECRETS_KEY: opts.secretsKey };
    keys.alice = await createKey(a.file, { name: 'alice', tenant: 'acme', env });
    keys.gina = await createKey(a.file, { name: 'gina', tenant: 'globex', env });
    keys.ivy = await createKey(a.file, { name: 'ivy', tenant: 'initech', env });
    started = true;
  } catch {
    // PostgreSQL or Redis missing: each test says so (requireService).
  }
});
after(async () => {
  await a?.stop();
  await b?.stop();
  watcher?.disconnect();
  if (started) {
    await dropPgSchema(schema).catch(() => {});
    await dropRedisKeys(keyPrefix).catch(() => {});
  }
  rmSync(tmp, { recursive: true, force: true });
});

async function usable(t: TestContext): Promise<boolean> {
  if (!(await requireService(t, 'postgres')) || !(await requireService(t, 'redis'))) return false;
  assert.ok(started, 'both replicas started');
  return true;
}

/** A session of `who` opened on `r`. */
async function open(r: Replica, who: string): Promise<string> {
  const sid = await openLegacySession(r.url, `clock-${who}`, { token: keys[who], initialized: true });
  opened.push(sid);
  return sid;
}

/** A tools/list in session `sid` on `r`: its HTTP status. */
async function use(r: Replica, sid: string, who: string): Promise<number> {
  const res = await postLegacy(r.url, { jsonrpc: '2.0', id: 7, method: 'tools/list' }, { sid, token: keys[who] });
  await res.text();
  return res.status;
}

/** The ids of the sessions in the store. */
async function storedSessions(): Promise<string[]> {
  const c = new pg.Client({ connectionString: pgTestUrl() });
  await c.connect();
  try {
    return (await c.query<{ id: string }>(`select id from "${schema}".sessions order by id`)).rows.map((r) => r.id);
  } finally {
    await c.end();
  }
}

/** A session row last seen an hour ago by PostgreSQL's clock: gone once any replica swept. */
async function staleRow(id: string): Promise<void> {
  const c = new pg.Client({ connectionString: pgTestUrl() });
  await c.connect();
  try {
    await c.query(
      `insert into "${schema}".sessions (id, scope, protocol_version, client_info, client_capabilities, principal, tenant, created_at, last_seen_at)
       values ($1, '', '2025-11-25', '{}', '{}', null, null, 0, (extract(epoch from clock_timestamp()) * 1000)::bigint - 3600000)`,
      [id],
    );
  } finally {
    await c.end();
  }
}

test("a replica ten minutes ahead takes another replica's session as live and counts it toward the tenant's cap", async (t) => {
  if (!(await usable(t))) return;
  const first = await open(a!, 'alice');
  assert.equal(await use(b!, first, 'alice'), 200, 'B serves the session A made a moment ago: it is not idle');
  const second = await open(b!, 'alice');
  // Two of acme's sessions are open (one stamped by A, one by B): a third is over the cap, on either replica.
  for (const r of [b!, a!]) {
    const res = await postLegacy(r.url, initializeRequest('clock-third'), { token: keys.alice });
    const text = await res.text();
    assert.notEqual(res.status, 200, `a third session on ${r.name}: ${text}`);
    assert.match(text, /too many open sessions in tenant `acme` \(at most 2\)/, text);
  }
  // Another tenant's cap is its own.
  await open(b!, 'gina');
  assert.equal(await use(a!, second, 'alice'), 200, 'A serves the session B made: it is not from the future');
});

test("the sweeps of a replica ten minutes ahead leave the other replica's live sessions alone; idle ones go", async (t) => {
  if (!(await usable(t))) return;
  const sid = await open(a!, 'gina');
  await staleRow('stale-session-0000000000000001');
  // B's first sweep runs a minute after it started; wait past it (the stale row says a sweep ran).
  const wait = bStartedAt + SWEEP_MS + 3000 - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  await eventually(async () => !(await storedSessions()).includes('stale-session-0000000000000001') || undefined, {
    timeoutMs: 15_000,
  });
  const left = await storedSessions();
  for (const id of opened) assert.ok(left.includes(id), `session ${opened.indexOf(id)} survived the sweeps`);
  // A re-reads the store for its cached copy every 5 s: the session is still there for its caller.
  await new Promise((r) => setTimeout(r, 5500));
  assert.equal(await use(a!, sid, 'gina'), 200);
  assert.equal(await use(b!, sid, 'gina'), 200);
});

test('what the replicas publish on Redis names sessions by a digest, never by their id', async (t) => {
  if (!(await usable(t))) return;
  // Made on B, ended on A (which loads it first): B hears of the end over the fan-out.
  const sid = await open(b!, 'ivy');
  assert.equal(await use(b!, sid, 'ivy'), 200, 'B has its copy');
  const ended = await fetch(`${a!.url}/mcp`, {
    method: 'DELETE',
    headers: { 'mcp-session-id': sid, authorization: `Bearer ${keys.ivy}` },
  });
  assert.equal(ended.status, 204, await ended.text());
  // B drops its copy before its own re-read (5 s): it heard of the end.
  await eventually(async () => (await use(b!, sid, 'ivy')) === 404 || undefined, { timeoutMs: 3000 });
  const ends = published.filter((m) => m.channel === `${keyPrefix}fanout` && m.text.includes('session.ended'));
  assert.ok(ends.length > 0, 'the end was published');
  const all = published.map((m) => m.text).join('\n');
  for (const id of opened) assert.ok(!all.includes(id), `session id ${opened.indexOf(id)} on Redis: ${all}`);
  assert.ok(
    ends.some((m) => JSON.parse(m.text).msg.session === sessionDigest(sid)),
    'named by its digest',
  );
});
