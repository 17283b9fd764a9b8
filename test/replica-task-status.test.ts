/**
 * A task's notifications/tasks/status reaches its caller when the caller's GET stream is on another
 * replica than the one whose upstream connection holds the task (a load balancer without affinity:
 * here each client's POSTs go to replica A, its GET stream to B). Two real gateways share one
 * PostgreSQL schema and one Redis key prefix; the SDK's own task server
 * (test/fixtures/upstreams/task-server.ts, `--say-started`) says each task's statuses, its first one
 * with a per-tenant canary secret injected into its environment. Hostile: alice's task is heard by
 * alice only (not bob of the same tenant, whose tasks share A's connection, nor globex's gina), the
 * canaries never reach anyone, and messages straight onto B's channel naming another principal,
 * tenant, endpoint or sending replica, or an altered handle, reach no stream. And a tasks/result sent
 * to B for a task A holds passes on the progress and log messages A's upstream says during it (the
 * fixture's `--chatty=150`), to that caller only, scrubbed on B, naming the handle, the first 100.
 * And a task's progress said after its CreateTaskResult (task-server `--progress`) reaches its
 * caller's stream on B the same way, under the caller's own token (walk Y F2).
 * And a tenant switched off after its task started (`mode set disabled --tenant`) hears nothing of it
 * on B: B asks whether the stream's caller may still use the task's tool (walk V F5).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CallToolResultSchema,
  CreateTaskResultSchema,
  LoggingMessageNotificationSchema,
  TaskStatusNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { JsonObject } from '../src/protocol/jsonrpc.ts';
import { ROOT, createKey, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { createPgSchema, dropPgSchema, dropRedisKeys, freshPgSchema, pgUrlWithSchema } from './support/services.ts';
import { postgresAvailable, redisAvailable } from './support/services.ts';
import { eventually } from './support/eventually.ts';
import { setSharedSecrets } from './support/secrets.ts';
import { sessionDigest } from '../src/sessions/session-digest.ts';

const SERVER = join(ROOT, 'test/fixtures/upstreams/task-server.ts');
const CANARY = { acme: 'status-canary-acme-5c1e8a93d7', globex: 'status-canary-globex-b24f07e6a1' };
const schema = freshPgSchema();
// The replicas' one secrets key, as docs/operations.md has it (in-process replicas read this environment).
process.env.GATEHOUSE_SECRETS_KEY ??= randomBytes(32).toString('base64');
const prefix = `gh-test-status-${randomBytes(4).toString('hex')}:`;
let a: TestGateway, b: TestGateway;
const keys: Record<string, string> = {};
type Status = { taskId: string; status: string; statusMessage?: string };
const heard: Record<string, Status[]> = {};
const progressHeard: Record<string, JsonObject[]> = {};
const clients: Record<string, Client> = {};
let ready = false;
/** What is published on B's channel (a real subscriber): statuses cross it. */
const bChannel: string[] = [];
let watcher: Redis | undefined;

async function replica(): Promise<TestGateway> {
  return startGateway(
    `${stdioServer('ci', SERVER, ['--say-started', '--chatty=150', '--progress'])}` +
      '    credentials: { env: { STARTED_TEXT: "local:started-{tenant}" }, discoveryTenant: acme }\n' +
      '    tools: { deploy: { class: READ }, job: { class: READ } }\n',
    {
      storage: `storage:\n  driver: postgres\n  postgresUrl: ${JSON.stringify(pgUrlWithSchema(schema))}\n`,
      top:
        'identity: { apiKeys: true }\ninventory: { newTools: accept }\n' +
        `limits:\n  redis: { url: "redis://127.0.0.1:6379", keyPrefix: "${prefix}", commandTimeoutMs: 2000 }\n`,
      // Replicas on PostgreSQL share one key and read `local:` secrets from the database (ADR 0016).
      before: (stateDir) =>
        setSharedSecrets(
          stateDir,
          pgUrlWithSchema(schema),
          Object.fromEntries(
            Object.entries(CANARY).map(([tenant, canary]) => [`started-${tenant}`, `started ${canary}`]),
          ),
        ),
    },
  );
}

/** A 2025-11-25 client whose POSTs go to A and whose GET stream goes to B; what task statuses it hears. */
async function split(who: string): Promise<Client> {
  let opened: () => void = () => {};
  const streamOpen = new Promise<void>((r) => {
    opened = r;
  });
  const route: typeof fetch = async (input, init) => {
    const get = (init?.method ?? 'GET') === 'GET';
    const r = await fetch(get ? `${b.url}/mcp` : input, init);
    if (get && r.ok) opened();
    return r;
  };
  const c = new Client({ name: `status-${who}`, version: '1' });
  heard[who] = [];
  c.setNotificationHandler(TaskStatusNotificationSchema, (n) => void heard[who].push(n.params));
  const transport = new StreamableHTTPClientTransport(new URL(`${a.url}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${keys[who]}` } },
    fetch: route,
  });
  await c.connect(transport);
  // The SDK client drops progress under a token it did not make itself: read it as it arrives.
  progressHeard[who] = [];
  const inner = transport.onmessage;
  transport.onmessage = (m) => {
    if ('method' in m && m.method === 'notifications/progress') progressHeard[who].push(m.params as JsonObject);
    inner?.(m);
  };
  await streamOpen;
  clients[who] = c;
  return c;
}

before(async () => {
  if (!(await postgresAvailable()) || !(await redisAvailable())) return;
  await createPgSchema(schema);
  a = await replica();
  b = await replica();
  for (const [name, tenant] of [
    ['alice', 'acme'],
    ['bob', 'acme'],
    ['gina', 'globex'],
  ] as const)
    keys[name] = await createKey(a.file, { name, tenant });
  watcher = new Redis('redis://127.0.0.1:6379');
  await watcher.subscribe(`${prefix}replica:${b.gw.replica}`);
  watcher.on('message', (_c: string, text: string) => void bChannel.push(text));
  for (const who of ['alice', 'bob', 'gina']) await split(who);
  // B noted the three streams in Redis (what A looks up to send a status there).
  const r = new Redis('redis://127.0.0.1:6379');
  await eventually(async () => (await r.keys(`${prefix}stream:*`)).length === 3 || undefined);
  r.disconnect();
  ready = true;
});

after(async () => {
  watcher?.disconnect();
  await Promise.all(Object.values(clients).map((x) => x.close().catch(() => {})));
  await Promise.all([a, b].filter(Boolean).map((g) => g.close()));
  await dropPgSchema(schema).catch(() => {});
  await dropRedisKeys(prefix).catch(() => {});
});

const deploy = async (who: string, ms: number) =>
  (
    await clients[who].request(
      { method: 'tools/call', params: { name: 'ci__deploy', arguments: { ms }, task: { ttl: 60_000 } } },
      CreateTaskResultSchema,
    )
  ).task.taskId;

const sessionOf = (who: string) => (clients[who].transport as StreamableHTTPClientTransport).sessionId ?? '';

test("a task's statuses reach its caller's stream on the other replica, scrubbed, and no one else's", async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  const alices = await deploy('alice', 800);
  const ginas = await deploy('gina', 800);
  for (const [who, handle] of [
    ['alice', alices],
    ['gina', ginas],
  ])
    await eventually(() => heard[who].some((n) => n.taskId === handle && n.status === 'completed') || undefined);
  const own = (who: string, handle: string) => heard[who].filter((n) => n.taskId === handle).map((n) => n.status);
  assert.deepEqual(own('alice', alices), ['working', 'completed'], JSON.stringify(heard.alice));
  assert.deepEqual(own('gina', ginas), ['working', 'completed'], JSON.stringify(heard.gina));
  // The first status carried the tenant's injected secret: scrubbed on A before it crossed.
  const first = heard.alice.find((n) => n.taskId === alices && n.status === 'working');
  assert.equal(first?.statusMessage, '[REDACTED:credential]');
  await new Promise((r) => setTimeout(r, 300)); // anything late would have arrived
  const all = JSON.stringify(heard);
  for (const canary of Object.values(CANARY)) assert.ok(!all.includes(canary), `a canary in ${all}`);
  assert.deepEqual(heard.bob, [], 'bob (same tenant, same connection on A) heard nothing');
  assert.ok(!heard.gina.some((n) => n.taskId === alices) && !heard.alice.some((n) => n.taskId === ginas));
  // What crossed Redis named each session by the digest of its id, never by the id (a bearer-like handle).
  await watcher?.unsubscribe(); // the hostile test counts B's channel's listeners: B alone
  const statuses = bChannel.map((text) => JSON.parse(text).msg).filter((m) => m.kind === 'status');
  assert.ok(statuses.some((m) => m.session === sessionDigest(sessionOf('alice')) && m.handle === alices));
  for (const who of ['alice', 'bob', 'gina'])
    assert.ok(!bChannel.some((text) => text.includes(sessionOf(who))), `${who}'s session id on B's channel`);
});

test("a task's progress after its CreateTaskResult reaches its caller's stream on the other replica, under its own token, and no one else's (walk Y F2)", async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  const job = async (who: string, token: string) =>
    (
      await clients[who].request(
        {
          method: 'tools/call',
          params: {
            name: 'ci__job',
            arguments: { steps: 3, gapMs: 200 },
            task: { ttl: 60_000 },
            _meta: { progressToken: token },
          },
        },
        CreateTaskResultSchema,
      )
    ).task.taskId;
  const steps = (who: string) => progressHeard[who].filter((p) => String(p.message).includes(' step '));
  const [alices, ginas] = await Promise.all([job('alice', 'a-tp'), job('gina', 'a-tp')]);
  await eventually(() => (steps('alice').length === 3 && steps('gina').length === 3) || undefined, {
    timeoutMs: 10_000,
  });
  await new Promise((r) => setTimeout(r, 300)); // anything late would have arrived
  for (const [who, handle] of [
    ['alice', alices],
    ['gina', ginas],
  ]) {
    assert.deepEqual(
      steps(who).map((p) => [p.progressToken, p.progress, p.message]),
      [1, 2, 3].map((i) => ['a-tp', i, `task ${handle} step ${i}: [REDACTED:credential]`]),
      JSON.stringify(progressHeard[who]),
    );
  }
  assert.deepEqual(steps('bob'), [], 'bob (same tenant, same connection on A) heard nothing');
  const all = JSON.stringify(progressHeard);
  for (const canary of Object.values(CANARY)) assert.ok(!all.includes(canary), `a canary in ${all}`);
  // Forged onto B's channel: a progress for alice's session under bob's name reaches nobody; all hers, her stream.
  const bobPrincipal = (await a.gw.store.sessions.get(sessionOf('bob')))?.principal ?? null;
  const alicePrincipal = (await a.gw.store.sessions.get(sessionOf('alice')))?.principal ?? null;
  const pub = new Redis('redis://127.0.0.1:6379');
  const forge = (text: string, over: Record<string, unknown>) => {
    const msg = {
      kind: 'status',
      method: 'notifications/progress',
      from: a.gw.replica,
      session: sessionDigest(sessionOf('alice')),
      principal: alicePrincipal,
      tenant: 'acme',
      scope: '',
      handle: alices,
      params: { progressToken: 'a-tp', progress: 9, message: `forged ${text}` },
      ...over,
    };
    return pub.publish(
      `${prefix}replica:${b.gw.replica}`,
      JSON.stringify({ origin: randomBytes(8).toString('hex'), msg }),
    );
  };
  try {
    await forge('principal', { principal: bobPrincipal });
    await forge('gina-handle', { handle: ginas });
    await forge('no-token', { params: { progress: 9, message: 'forged no-token' } });
    await forge('control', {});
    await eventually(() => progressHeard.alice.some((p) => p.message === 'forged control') || undefined);
  } finally {
    await pub.quit();
  }
  await new Promise((r) => setTimeout(r, 300));
  const forged = Object.values(progressHeard).flatMap((ps) => ps.filter((p) => String(p.message).startsWith('forged')));
  assert.deepEqual(
    forged.map((p) => p.message),
    ['forged control'],
  );
});

test("hostile: statuses forged onto B's channel reach no stream unless every field is the caller's own", async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  const handle = await deploy('alice', 600_000);
  await eventually(() => heard.alice.some((n) => n.taskId === handle) || undefined);
  const bobHandle = await deploy('bob', 600_000);
  const alicePrincipal = (await a.gw.store.sessions.get(sessionOf('alice')))?.principal ?? null;
  const bobPrincipal = (await a.gw.store.sessions.get(sessionOf('bob')))?.principal ?? null;
  const [v, iv, tag, ct] = handle.split('.');
  const bytes = Buffer.from(ct, 'base64url');
  bytes[bytes.length - 8] ^= 1;
  const altered = `${v}.${iv}.${tag}.${bytes.toString('base64url')}`;
  // A task as the protocol says one (the client drops a status that is not one).
  const now = new Date().toISOString();
  const TASK = { ttl: 60_000, createdAt: now, lastUpdatedAt: now };
  const pub = new Redis('redis://127.0.0.1:6379');
  const me = randomBytes(8).toString('hex');
  const forge = (text: string, over: Record<string, unknown>) => {
    const h = (over.handle as string | undefined) ?? handle;
    const msg = {
      kind: 'status',
      from: a.gw.replica,
      session: sessionDigest(sessionOf('alice')),
      principal: alicePrincipal,
      tenant: 'acme',
      scope: '',
      handle: h,
      params: { ...TASK, taskId: h, status: 'failed', statusMessage: `forged ${text} ${CANARY.globex}` },
      ...over,
    };
    return pub.publish(`${prefix}replica:${b.gw.replica}`, JSON.stringify({ origin: me, msg }));
  };
  try {
    assert.equal(await forge('principal', { principal: bobPrincipal }), 1, 'B listens on its channel');
    await forge('tenant', { tenant: 'globex' });
    await forge('scope', { scope: 'ci' });
    await forge('sender', { from: me });
    await forge('altered', { handle: altered });
    await forge('bob-handle-alice-session', { handle: bobHandle });
    await forge('alice-handle-bob-session', { session: sessionDigest(sessionOf('bob')), principal: bobPrincipal });
    await forge('gina-session', { session: sessionDigest(sessionOf('gina')), tenant: 'globex' });
    await forge('raw-session-id', { session: sessionOf('alice') }); // named by its id, not its digest
    await forge('no-status', { params: { ...TASK, taskId: handle, status: undefined } });
    // The witness that the channel delivers: every field the caller's own (Redis is trusted this far).
    await forge('control', { params: { ...TASK, taskId: handle, status: 'working', statusMessage: 'control' } });
    await eventually(() => heard.alice.some((n) => n.statusMessage === 'control') || undefined);
  } finally {
    await pub.quit();
  }
  await new Promise((r) => setTimeout(r, 300));
  const forged = Object.entries(heard).flatMap(([who, ns]) =>
    ns.filter((n) => n.statusMessage?.startsWith('forged') || n.status === 'failed').map((n) => [who, n]),
  );
  assert.deepEqual(forged, [], 'no forged status reached a stream');
  await clients.alice.request({ method: 'tasks/cancel', params: { taskId: handle } }, z.object({}).passthrough());
  await clients.bob.request({ method: 'tasks/cancel', params: { taskId: bobHandle } }, z.object({}).passthrough());
});

/** A 2025-11-25 client with all its requests on B; the log messages it hears. */
async function onB(who: string, logs: string[]): Promise<Client> {
  const c = new Client({ name: `notes-${who}`, version: '1' });
  c.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(String(n.params.data)));
  await c.connect(
    new StreamableHTTPClientTransport(new URL(`${b.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${keys[who]}` } },
    }),
  );
  clients[`${who}B`] = c;
  return c;
}

test("tasks/result through B passes on A's upstream's progress and log messages to its caller only: scrubbed, the handle, bounded", async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  const logs: Record<string, string[]> = { alice: [], bob: [], gina: [] };
  const aliceB = await onB('alice', logs.alice);
  await onB('bob', logs.bob);
  await onB('gina', logs.gina);
  const handle = await deploy('alice', 1_000);
  const progress: unknown[] = [];
  const result = await aliceB.request({ method: 'tasks/result', params: { taskId: handle } }, CallToolResultSchema, {
    timeout: 20_000,
    onprogress: (p) => void progress.push(p),
  });
  assert.equal((result.content[0] as { text: string }).text, 'deployed in 1000 ms');
  assert.deepEqual(progress, [{ progress: 1, total: 2, message: `task ${handle} half way` }]);
  // The progress message and 99 of the 150 log messages: 100 in all crossed.
  assert.equal(logs.alice.length, 99, JSON.stringify(logs.alice.slice(-2)));
  assert.equal(logs.alice[0], `tasks/result 1 of task ${handle}: [REDACTED:credential]`);
  await new Promise((r) => setTimeout(r, 300));
  const all = JSON.stringify(logs);
  for (const canary of Object.values(CANARY)) assert.ok(!all.includes(canary), 'a canary crossed');
  assert.deepEqual([logs.bob, logs.gina], [[], []], 'only the caller heard them');
  assert.ok(!heard.alice.some((n) => JSON.stringify(n).includes('tasks/result')));
});

test('a tenant switched off after its task started hears nothing of it on the other replica (walk V F5)', async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  const started = Date.now();
  const alices = await deploy('alice', 8_000);
  const ginas = await deploy('gina', 8_000);
  await eventually(() => heard.gina.some((n) => n.taskId === ginas) || undefined);
  const mode = (...args: string[]) =>
    runCli(['mode', ...args, '--tenant', 'globex', '--reason', 'walk V', '-c', a.file]);
  assert.equal((await mode('set', 'disabled')).code, 0);
  assert.ok(Date.now() - started < 7_500, 'the tenant was off before the task could end (a slow machine: retry)');
  // alice's task, of the tenant still on, ends at the same time: the witness that the statuses were said.
  await eventually(() => heard.alice.some((n) => n.taskId === alices && n.status === 'completed') || undefined, {
    timeoutMs: 15_000,
  });
  await new Promise((r) => setTimeout(r, 1_500)); // gina's, said at the same time, would have crossed by now
  const own = heard.gina.filter((n) => n.taskId === ginas).map((n) => n.status);
  assert.equal((await mode('clear')).code, 0);
  assert.deepEqual(own, ['working'], 'no status of her task while her tenant is off');
});
