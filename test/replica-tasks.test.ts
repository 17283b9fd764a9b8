/**
 * A task started through one replica and followed through another (a load balancer without
 * affinity): the task lives in replica A's connection (here a stdio process of the SDK's own task
 * server, test/fixtures/upstreams/task-server.ts, `--quiet`: it never announces a task's end), and
 * its handle names A. Replica B runs the request's pipeline, relays it to A over Redis, and answers
 * with A's answer: tasks/get and tasks/result to the task's end, tasks/cancel, and the task's
 * concurrency slot (a cap of 1 shared in Redis) freed when B sees the end. Two real gateways share
 * one PostgreSQL schema and one Redis key prefix. Hostile: another tenant's caller, and another
 * caller of the same tenant, with the handle, altered handles, and messages straight onto A's channel naming another principal, tenant, subject
 * or endpoint reach no task (the task goes on). Without Redis: a clear error, not "Task not found".
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateTaskResultSchema, GetTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { ROOT, createKey, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import {
  createPgSchema,
  dropPgSchema,
  dropRedisKeys,
  freshPgSchema,
  pgUrlWithSchema,
  postgresAvailable,
  redisAvailable,
} from './support/services.ts';
import { eventually } from './support/eventually.ts';
import { modernMeta, postModern, postModernCall, replyOf } from './support/rpc.ts';
import { parsePrincipalKey } from '../src/identity/principal.ts';
import { deriveKey, unseal } from '../src/util/seal.ts';

const SERVER = join(ROOT, 'test/fixtures/upstreams/task-server.ts');
const REFUSED = /rate limited \(deploys\): concurrency cap of 1 reached/;
const schema = freshPgSchema();
const prefix = `gh-test-tasks-${randomBytes(4).toString('hex')}:`;
const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-replica-tasks-'));
/** Two replicas sharing Redis, and two without it (the same store). */
let a: TestGateway, b: TestGateway, c: TestGateway, d: TestGateway;
const keys: Record<string, string> = {};
const open: Client[] = [];
let ready = false;

async function replica(redis: boolean): Promise<TestGateway> {
  const policy = join(tmp, 'policy.yaml');
  const limits = redis
    ? `limits:\n  redis: { url: "redis://127.0.0.1:6379", keyPrefix: "${prefix}", commandTimeoutMs: 2000 }\n  rules:\n` +
      "    - { id: deploys, scope: tenant_tool, tools: ['tasks__deploy'], concurrency: 1 }\n"
    : '';
  return startGateway(`${stdioServer('tasks', SERVER, ['--quiet'])}    tools: { deploy: { class: READ } }\n`, {
    storage: `storage:\n  driver: postgres\n  postgresUrl: ${JSON.stringify(pgUrlWithSchema(schema))}\n`,
    top: `identity: { apiKeys: true }\npolicy: { files: [${JSON.stringify(policy)}] }\ninventory: { newTools: accept }\n${limits}`,
  });
}

before(async () => {
  if (!(await postgresAvailable()) || !(await redisAvailable())) return;
  await createPgSchema(schema);
  writeFileSync(
    join(tmp, 'policy.yaml'),
    "rules:\n  - { id: both, subjects: { tenants: [acme, globex] }, tools: ['tasks__*'], effect: allow }\n",
  );
  a = await replica(true);
  b = await replica(true);
  c = await replica(false);
  d = await replica(false);
  for (const tenant of ['acme', 'globex']) keys[tenant] = await createKey(a.file, { name: tenant, tenant });
  keys.bob = await createKey(a.file, { name: 'bob', tenant: 'acme' });
  ready = true;
});

after(async () => {
  await Promise.all(open.map((x) => x.close().catch(() => {})));
  await Promise.all([a, b, c, d].filter(Boolean).map((g) => g.close()));
  await dropPgSchema(schema).catch(() => {});
  await dropRedisKeys(prefix).catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
});

/** A 2025-11-25 client on replica `g` with the key `who` (acme, globex: their tenants; bob: another of acme). */
async function client(g: TestGateway, who: string): Promise<Client> {
  const x = new Client({ name: `tasks-${who}`, version: '1' });
  await x.connect(
    new StreamableHTTPClientTransport(new URL(`${g.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${keys[who]}` } },
    }),
  );
  open.push(x);
  return x;
}

const deploy = (x: Client, ms: number) =>
  x.request(
    { method: 'tools/call', params: { name: 'tasks__deploy', arguments: { ms }, task: { ttl: 120_000 } } },
    CreateTaskResultSchema,
  );
const getTask = (x: Client, taskId: string) =>
  x.request({ method: 'tasks/get', params: { taskId } }, GetTaskResultSchema);
const Deployed = z.object({ content: z.array(z.object({ text: z.string() })) }).passthrough();
const taskResult = (x: Client, taskId: string) =>
  x.request({ method: 'tasks/result', params: { taskId } }, Deployed, { timeout: 20_000 });
const cancelTask = (x: Client, taskId: string) =>
  x.request({ method: 'tasks/cancel', params: { taskId } }, z.object({ status: z.string() }).passthrough());

/** The replica a handle names (the last part of its encrypted body, read with the replicas' shared key). */
async function holderOf(handle: string): Promise<string> {
  const key = await a.gw.store.approvals.sharedKey('task-handles');
  const plain = unseal(
    deriveKey(key, 'gatehouse task handles: aes-256-gcm key'),
    'gatehouse task handle gh3',
    handle.slice(4),
  );
  return JSON.parse(plain)[4];
}

test('a task started through A is followed through B to its end (tasks/get), and its slot is freed when B sees the end', async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  const viaA = await client(a, 'acme');
  const viaB = await client(b, 'acme');
  const first = await deploy(viaA, 1_500);
  assert.equal(await holderOf(first.task.taskId), a.gw.replica, 'the handle names replica A');
  await assert.rejects(deploy(viaB, 0), REFUSED, 'the running task holds the shared slot');
  assert.equal((await getTask(viaB, first.task.taskId)).status, 'working');
  const done = await eventually(async () => {
    const s = await getTask(viaB, first.task.taskId);
    return s.status === 'completed' ? s : undefined;
  });
  assert.equal(done.taskId, first.task.taskId, 'the answer carries the same handle, naming A');
  // Only B saw the end (the server never announces it, A was never asked): B gave the slot back.
  const second = await deploy(viaB, 0);
  assert.equal(await holderOf(second.task.taskId), b.gw.replica);
  const result = await taskResult(viaB, first.task.taskId);
  assert.equal(result.content[0].text, 'deployed in 1500 ms');
  await eventually(async () => (await getTask(viaA, second.task.taskId)).status === 'completed');
  // The requests through B are B's audit records, with the task's tool.
  const records = await b.gw.store.audit.read({ limit: 200 });
  assert.ok(
    records.some((r) => r.event.tool === 'tasks__deploy' && JSON.stringify(r.event).includes('tasks/get')),
    'B audited the relayed tasks/get',
  );
});

test('tasks/result through B waits on A for the task to end, then frees its slot', async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  const viaA = await client(a, 'acme');
  const viaB = await client(b, 'acme');
  const first = await deploy(viaA, 1_200);
  await assert.rejects(deploy(viaA, 0), REFUSED);
  const started = Date.now();
  const result = await taskResult(viaB, first.task.taskId);
  assert.equal(result.content[0].text, 'deployed in 1200 ms');
  assert.ok(Date.now() - started > 500, 'it waited for the end');
  const next = await deploy(viaA, 0);
  await eventually(async () => (await getTask(viaA, next.task.taskId)).status === 'completed');
});

test('tasks/cancel through B cancels the task on A and frees its slot', async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  const viaA = await client(a, 'acme');
  const viaB = await client(b, 'acme');
  const first = await deploy(viaA, 600_000);
  await assert.rejects(deploy(viaB, 0), REFUSED);
  assert.equal((await cancelTask(viaB, first.task.taskId)).status, 'cancelled');
  assert.equal((await getTask(viaA, first.task.taskId)).status, 'cancelled', 'cancelled on A, where it runs');
  const next = await deploy(viaB, 0);
  await eventually(async () => (await getTask(viaA, next.task.taskId)).status === 'completed');
});

test('modern (2026-07-28) callers: a task started through A is followed through B to its end, and its slot freed', async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  const token = keys.acme;
  const call = (g: TestGateway, ms: number) =>
    postModernCall(g.url, 'tasks__deploy', { ms }, { token, extra: { task: { ttl: 60_000 } } }).then(replyOf);
  const get = (g: TestGateway, taskId: string) =>
    postModern(g.url, 'tasks/get', { taskId, _meta: modernMeta() }, { token, name: taskId }).then(replyOf);
  const first = await call(a, 800);
  const handle = String((first.result?.task as { taskId?: string } | undefined)?.taskId);
  assert.equal(await holderOf(handle), a.gw.replica, JSON.stringify(first));
  assert.match((await call(b, 0)).error?.message ?? '', REFUSED);
  const done = await eventually(async () => {
    const r = await get(b, handle);
    assert.equal(r.error, undefined, JSON.stringify(r));
    return r.result?.status === 'completed' ? r : undefined;
  });
  assert.equal(done.result?.taskId, handle);
  const next = await call(b, 0);
  const nextHandle = String((next.result?.task as { taskId?: string } | undefined)?.taskId);
  assert.equal(await holderOf(nextHandle), b.gw.replica, JSON.stringify(next));
  await eventually(async () => (await get(a, nextHandle)).result?.status === 'completed');
});

/** acme's principal as A's store knows it (from a session): what a forger on Redis would need. */
async function acmePrincipal(x: Client): Promise<{ key: string; subject: string }> {
  const sid = (x.transport as StreamableHTTPClientTransport).sessionId!;
  const key = (await a.gw.store.sessions.get(sid))!.principal!;
  return { key, subject: parsePrincipalKey(key)!.subject };
}

test("hostile: another tenant's caller, altered handles and forged messages on A's channel reach no task", async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  const viaA = await client(a, 'acme');
  const globexB = await client(b, 'globex');
  const bobB = await client(b, 'bob');
  const first = await deploy(viaA, 600_000);
  const handle = first.task.taskId;
  // globex, or bob of the same tenant (whose requests share A's connection), on B with acme's
  // handle: its seal does not open for them; nothing is relayed.
  await assert.rejects(cancelTask(globexB, handle), /unknown task/);
  await assert.rejects(cancelTask(bobB, handle), /unknown task/);
  await assert.rejects(getTask(bobB, handle), /unknown task/);
  // The replica is sealed in: a handle altered anywhere opens nothing.
  const [v, iv, tag, ct] = handle.split('.');
  const bytes = Buffer.from(ct, 'base64url');
  bytes[bytes.length - 8] ^= 1;
  const altered = `${v}.${iv}.${tag}.${bytes.toString('base64url')}`;
  await assert.rejects(cancelTask(globexB, altered), /unknown task/, 'the replica is under the tag');

  // Straight onto A's channel: acme's handle, with another principal, tenant, subject or endpoint.
  const acme = await acmePrincipal(viaA);
  const listener = new Redis('redis://127.0.0.1:6379');
  const pub = new Redis('redis://127.0.0.1:6379');
  const me = randomBytes(8).toString('hex');
  const outcomes: Record<string, { outcome: { result?: { status?: string }; gatehouse?: { code: string } } }> = {};
  try {
    await listener.subscribe(`${prefix}replica:${me}`);
    listener.on('message', (_c: string, text: string) => {
      const m = JSON.parse(text).msg;
      outcomes[m.corr] = m;
    });
    const forged = (corr: string, method: string, over: Record<string, unknown>) =>
      pub.publish(
        `${prefix}replica:${a.gw.replica}`,
        JSON.stringify({
          origin: me,
          msg: {
            kind: 'task',
            corr,
            from: me,
            handle,
            method,
            params: {},
            principal: acme.key,
            tenant: 'acme',
            subject: acme.subject,
            scope: '',
            era: 'legacy',
            waitMs: 5000,
            ...over,
          },
        }),
      );
    assert.equal(await forged('principal', 'tasks/cancel', { principal: acme.key.replace('acme', 'globex') }), 1);
    await forged('tenant', 'tasks/cancel', { tenant: 'globex' });
    await forged('subject', 'tasks/cancel', { subject: 'apikey:globex' });
    await forged('scope', 'tasks/cancel', { scope: 'tasks' });
    await forged('altered', 'tasks/cancel', { handle: altered });
    // The control: everything as acme's, asking tasks/get (the witness that the channel answers).
    await forged('genuine', 'tasks/get', {});
    await eventually(async () => Object.keys(outcomes).length === 6 || undefined, { timeoutMs: 5000 });
  } finally {
    listener.disconnect();
    await pub.quit();
  }
  for (const corr of ['principal', 'tenant', 'subject', 'scope', 'altered'])
    assert.equal(
      outcomes[corr].outcome.gatehouse?.code,
      'E_UNKNOWN_TASK',
      `${corr}: ${JSON.stringify(outcomes[corr])}`,
    );
  assert.equal(outcomes.genuine.outcome.result?.status, 'working', JSON.stringify(outcomes.genuine));
  assert.equal((await getTask(viaA, handle)).status, 'working', 'no forged cancel reached the task');
  assert.equal((await cancelTask(viaA, handle)).status, 'cancelled');
});

test('without Redis: a task held by the other replica is said so plainly; on its own replica it is followed', async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  const viaC = await client(c, 'acme');
  const viaD = await client(d, 'acme');
  const first = await deploy(viaC, 600_000);
  await assert.rejects(getTask(viaD, first.task.taskId), /held by another gateway replica/);
  assert.equal((await getTask(viaC, first.task.taskId)).status, 'working');
  assert.equal((await cancelTask(viaC, first.task.taskId)).status, 'cancelled');
});
