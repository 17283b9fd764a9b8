/**
 * What a caller sees of a 2025-11-25 task through the gateway (walk U): an opaque handle, never the
 * upstream's task id, server or tool, in the handle, a result, an error or a notification; the
 * related-task `_meta` a tasks/result must carry, naming the handle; and the upstream's
 * notifications/tasks/status, relayed to the caller who started the task and to no one else. acme's
 * alice and bob share the tenant's connection (one upstream process); globex's gina has her own.
 * Real SDK clients -> a real gateway -> the SDK's own task server (test/fixtures/upstreams/task-server.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CallToolResultSchema,
  CreateTaskResultSchema,
  GetTaskResultSchema,
  TaskStatusNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { ROOT, createKey, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';

const SERVER = join(ROOT, 'test/fixtures/upstreams/task-server.ts');
const RELATED = 'io.modelcontextprotocol/related-task';
/** A token-shaped string the server puts in its status text (the pattern's shape; no real token). */
const TOKEN = `ghp_${'A1b2C3d4E5'.repeat(4)}`;
let t: TestGateway;
const clients: Record<string, Client> = {};
/** The task status notifications each caller heard. */
const heard: Record<string, Array<{ taskId: string; status: string; statusMessage?: string }>> = {};

before(async () => {
  t = await startGateway(
    `${stdioServer('ci', SERVER, ['--tell-ids', '--say-started'])}    env: { STARTED_TEXT: "started ${TOKEN}" }\n    tools: { deploy: { class: WRITE }, seen: { class: READ } }\n`,
    // A status's text is what the server says to the caller: well-known formats are redacted as in results.
    { top: 'identity: { apiKeys: true }\ninventory: { newTools: accept }\nsecrets: { results: redact }\n' },
  );
  for (const [name, tenant] of [
    ['alice', 'acme'],
    ['bob', 'acme'],
    ['gina', 'globex'],
  ] as const) {
    const key = await createKey(t.file, { name, tenant, scopes: 'mcp:tools' });
    const c = new Client({ name, version: '1' });
    heard[name] = [];
    c.setNotificationHandler(TaskStatusNotificationSchema, (n) => void heard[name].push(n.params));
    await c.connect(
      new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
      }),
    );
    clients[name] = c;
  }
});
after(async () => {
  await Promise.all(Object.values(clients).map((c) => c.close()));
  await t?.close();
});

const deploy = async (who: string, ms: number) =>
  (
    await clients[who].request(
      { method: 'tools/call', params: { name: 'ci__deploy', arguments: { ms }, task: { ttl: 60_000 } } },
      CreateTaskResultSchema,
    )
  ).task.taskId;
/** The upstream ids of the tasks made on `who`'s tenant's connection (the fixture says them). */
const upstreamIds = async (who: string): Promise<string[]> => {
  const r = await clients[who].request(
    { method: 'tools/call', params: { name: 'ci__seen', arguments: {} } },
    CallToolResultSchema,
  );
  return JSON.parse((r.content[0] as { text: string }).text);
};
/** Everything a handle can be read as: itself, each part, each part base64url-decoded. */
const readings = (handle: string) =>
  [handle, ...handle.split('.')].flatMap((p) => [p, Buffer.from(p, 'base64url').toString('latin1')]);

test('a handle is opaque: no decoding of it shows the upstream id, server or tool; an altered one is an unknown task', async () => {
  const handle = await deploy('alice', 600_000);
  const [id] = await upstreamIds('alice');
  assert.ok(id && id.length >= 16, `the fixture said its task id: ${id}`);
  for (const secret of [id, id.slice(0, 12), 'ci__deploy', 'deploy', '"ci"'])
    assert.ok(!readings(handle).some((r) => r.includes(secret)), `${secret} read from ${handle}`);
  assert.match(handle, /^gh3\./);
  const got = await clients.alice.request({ method: 'tasks/get', params: { taskId: handle } }, GetTaskResultSchema);
  assert.equal(got.taskId, handle, 'tasks/get names the task by the handle the caller holds');
  assert.ok(!JSON.stringify(got).includes(id));
  const [v, iv, tag, ct] = handle.split('.');
  const bytes = Buffer.from(ct, 'base64url');
  for (const i of [0, 20, bytes.length - 1]) {
    const altered = Buffer.from(bytes);
    altered[i] ^= 1;
    const forged = `${v}.${iv}.${tag}.${altered.toString('base64url')}`;
    await assert.rejects(
      clients.alice.request({ method: 'tasks/get', params: { taskId: forged } }, GetTaskResultSchema),
      /unknown task/,
      `byte ${i} flipped`,
    );
  }
  await clients.alice.request({ method: 'tasks/cancel', params: { taskId: handle } }, z.object({}).passthrough());
});

test("tasks/result on a cancelled task: the upstream's error names the caller's handle, not its own id", async () => {
  const handle = await deploy('alice', 600_000);
  const ids = await upstreamIds('alice');
  const id = ids[ids.length - 1];
  await clients.alice.request({ method: 'tasks/cancel', params: { taskId: handle } }, z.object({}).passthrough());
  const err = await clients.alice
    .request({ method: 'tasks/result', params: { taskId: handle } }, CallToolResultSchema)
    .then(
      () => assert.fail('a cancelled task has no result'),
      (e: Error & { data?: unknown }) => e,
    );
  const said = JSON.stringify({ message: err.message, data: err.data });
  assert.ok(!said.includes(id), `the upstream id in ${said}`);
  assert.match(err.message, /has no result stored/);
  assert.ok(err.message.includes(handle), err.message);
});

test("tasks/result carries the related-task _meta naming the caller's handle; the task's status reaches its starter only", async () => {
  const bobs = await deploy('bob', 200); // the same connection as alice's
  const ginas = await deploy('gina', 200); // another tenant's connection, its own upstream ids
  const handle = await deploy('alice', 300);
  const result = await clients.alice.request(
    { method: 'tasks/result', params: { taskId: handle } },
    CallToolResultSchema.extend({ _meta: z.record(z.string(), z.unknown()) }),
  );
  assert.deepEqual(result._meta[RELATED], { taskId: handle });
  assert.equal((result.content[0] as { text: string }).text, 'deployed in 300 ms');
  await eventually(() => heard.alice.some((n) => n.taskId === handle && n.status === 'completed'));
  // The first status was said before the CreateTaskResult passed the gateway: it was kept for it.
  const alices = heard.alice.filter((n) => n.taskId === handle);
  assert.deepEqual(
    alices.map((n) => [n.status, n.statusMessage]),
    [
      ['working', 'started [REDACTED:github-token]'],
      ['completed', 'started [REDACTED:github-token]'],
    ],
  );
  await eventually(() => heard.bob.some((n) => n.taskId === bobs && n.status === 'completed'));
  await eventually(() => heard.gina.some((n) => n.taskId === ginas && n.status === 'completed'));
  // Each heard of its own tasks only, by its own handles: never another's, never an upstream id.
  const upstream = [...(await upstreamIds('alice')), ...(await upstreamIds('gina'))];
  const own: Record<string, string[]> = { alice: [handle], bob: [bobs], gina: [ginas] };
  for (const [who, ns] of Object.entries(heard)) {
    const others = Object.entries(own).flatMap(([w, hs]) => (w === who ? [] : hs));
    assert.ok(!ns.some((n) => others.includes(n.taskId)), `${who} heard another's task: ${JSON.stringify(ns)}`);
    assert.ok(!upstream.some((id) => JSON.stringify(ns).includes(id)), `${who} heard an upstream id`);
  }
});
