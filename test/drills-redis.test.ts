/**
 * Drill: Redis cut and restored under two replicas. The test runs a Redis of its own on another
 * loopback port (the shared one is never touched) and stops it. While it is away each replica falls
 * back to the stricter paths: a legacy session is re-read from the store on every request (so an end
 * elsewhere still applies at once) and limits are enforced locally, divided by `fallbackDivisor`.
 * When Redis is back, fan-out and shared limits resume.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './support/processes.ts';
import { dropPgSchema, freshPgSchema, postgresAvailable, requireService } from './support/services.ts';
import {
  REDIS_SERVER,
  createSchema,
  newSecretsKey,
  recordedCalls,
  rpcBody,
  startOwnRedis,
  startReplica,
  waitFor,
  type DeploymentOptions,
  type Replica,
} from './support/scale-out.ts';
import { openLegacySession, postLegacy } from './support/rpc.ts';

const schema = freshPgSchema();
const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-drill-redis-'));
const opts: DeploymentOptions = {
  schema,
  app: `gatehouse-drill-redis-${schema}`,
  redisUrl: '',
  keyPrefix: `gatehouse-test:${schema}:`,
  recordFile: join(tmp, 'rec.jsonl'),
  publicUrl: 'http://127.0.0.1:9', // no load balancer here: replicas are called directly
  secretsKey: newSecretsKey(),
};
let redis: Awaited<ReturnType<typeof startOwnRedis>> | undefined;
let a: Replica | undefined;
let b: Replica | undefined;

before(async () => {
  if (!REDIS_SERVER || !(await postgresAvailable())) return;
  await createSchema(schema);
  redis = await startOwnRedis();
  opts.redisUrl = redis.url;
  [a, b] = await Promise.all([startReplica('ra', opts, await freePort()), startReplica('rb', opts, await freePort())]);
});

after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
  if (a) await dropPgSchema(schema).catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
});

const count = (text: string, re: RegExp) => text.split('\n').filter((l) => re.test(l)).length;

const openSession = (base: string) => openLegacySession(base, 'drill', { id: 0 });
const post = (base: string, sid: string, body: unknown) => postLegacy(base, body, { sid });

async function metric(r: Replica, name: string): Promise<number> {
  const text = await (await fetch(`${r.url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
}

/**
 * A session ended on A is refused on B, which had it cached (for up to 5 s). `via: 'fan-out'`: the
 * news arrives by Redis, so B refuses it well before its cached copy would expire; `via: 'store'`:
 * B reads the session from the store on every request, so the first request after the end is refused.
 */
async function endedOnA_refusedOnB(via: 'fan-out' | 'store'): Promise<void> {
  const sid = await openSession(a!.url);
  assert.equal((await post(b!.url, sid, { jsonrpc: '2.0', id: 1, method: 'tools/list' })).status, 200); // B caches it
  assert.equal((await fetch(`${a!.url}/mcp`, { method: 'DELETE', headers: { 'mcp-session-id': sid } })).status, 204);
  const refused = async () => (await post(b!.url, sid, { jsonrpc: '2.0', id: 2, method: 'tools/list' })).status === 404;
  if (via === 'store') assert.ok(await refused(), 'the first request after the end is refused');
  else await waitFor('B to refuse the ended session', refused, 3000);
}

async function callOther(base: string, note: string): Promise<boolean> {
  const sid = await openSession(base);
  const body = await rpcBody(
    await post(base, sid, {
      jsonrpc: '2.0',
      id: 5,
      method: 'tools/call',
      params: { name: 'rec__other', arguments: { note } },
    }),
  );
  return Boolean(body.result && !body.result.isError);
}

test('drill: Redis cut: stricter fallback (sessions re-read, limits divided); Redis back: fan-out and shared limits resume', async (t) => {
  if (!(await requireService(t, 'postgres'))) return;
  if (!REDIS_SERVER) return void t.skip('redis-server is not installed');
  assert.ok(a && b && redis);
  await waitFor(
    'fan-out on both replicas',
    async () => [a!, b!].every((r) => count(r.log(), /fan-out: subscribed/) >= 1),
    10_000,
  );
  await endedOnA_refusedOnB('fan-out');
  assert.equal(await metric(b!, 'gatehouse_fanout_up'), 1);
  assert.equal(await metric(b!, 'gatehouse_limits_degraded'), 0);

  await redis.stop();
  await waitFor('B to notice Redis is gone', async () => /fan-out: redis unreachable/.test(b!.log()), 10_000);
  assert.equal(await metric(b!, 'gatehouse_fanout_up'), 0);
  // Without fan-out B re-reads the session on every request: still refused at once.
  await endedOnA_refusedOnB('store');
  // Limits: 4 per hour shared; alone, each replica allows 4 / 3 (fallbackDivisor) = 1.
  assert.equal(await callOther(b!.url, 'fallback-1'), true);
  assert.equal(await callOther(b!.url, 'fallback-2'), false, 'the local budget is divided');
  assert.match(b!.log(), /limits: redis unreachable/);
  assert.equal(await metric(b!, 'gatehouse_limits_degraded'), 1);

  // Redis back on the same port (empty: the shared budget starts afresh).
  redis = await startOwnRedis(redis.port);
  await waitFor(
    'fan-out to resubscribe',
    async () => count(b!.log(), /fan-out: subscribed/) >= 2 && count(a!.log(), /fan-out: subscribed/) >= 2,
    15_000,
  );
  // A's publishing connection reconnects on its own schedule: a session ended before it is back is
  // told to nobody (B then refuses it only once its 5 s cache expires). Once it is back, fan-out again.
  await waitFor(
    'a session ended on A to be refused by B through the fan-out again',
    () =>
      endedOnA_refusedOnB('fan-out').then(
        () => true,
        () => false,
      ),
    20_000,
  );
  await waitFor(
    'limits to use Redis again',
    async () => (await callOther(b!.url, `back-${Date.now()}`)) && /limits: redis reachable again/.test(b!.log()),
    10_000,
  );
  assert.equal(await metric(b!, 'gatehouse_fanout_up'), 1);
  assert.equal(await metric(b!, 'gatehouse_limits_degraded'), 0);
  const executed = recordedCalls(opts.recordFile).filter((c) =>
    String(c.arguments.note).startsWith('fallback-'),
  ).length;
  assert.equal(executed, 1, 'the refused call never reached the upstream');
});
