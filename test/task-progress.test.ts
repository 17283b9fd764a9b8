/**
 * A task-augmented tools/call that asked for progress keeps its progress token for the task's lifetime
 * (spec 2025-11-25 basic/utilities/progress.mdx: "even after the CreateTaskResult has been returned";
 * walk Y F2): the upstream's progress said after the CreateTaskResult reaches the session that started
 * the task, on its stream, under the caller's own token, scrubbed, naming the handle. Hostile: bob (same
 * tenant, same upstream connection, the same token of his own) and gina (another tenant) hear none of
 * alice's; a tenant switched off after its task started hears none of it; once a task is cancelled, what
 * the server still says under its token reaches nobody. Real SDK clients -> a real
 * gateway -> the SDK's task server (test/fixtures/upstreams/task-server.ts `--progress`), a canary
 * secret of each tenant injected into its process. And over `gatehouse stdio` (the walk's route), the
 * same.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateTaskResultSchema, TaskStatusNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { join } from 'node:path';
import { ROOT, createKey, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { localSecrets } from './support/secrets.ts';
import { eventually } from './support/eventually.ts';
import { stdioClient } from './support/stdio.ts';

const SERVER = join(ROOT, 'test/fixtures/upstreams/task-server.ts');
const CANARY = { acme: 'progress-canary-acme-7d2e91c4b0', globex: 'progress-canary-globex-3f8a60d5e2' };
const PEOPLE = [
  ['alice', 'acme'],
  ['bob', 'acme'],
  ['gina', 'globex'],
] as const;
type Who = (typeof PEOPLE)[number][0];
const LOCAL_CANARY = 'progress-canary-default-91b0c7e4d2';
type Progress = { progressToken: string | number; progress: number; total?: number; message?: string };

let t: TestGateway;
const clients = {} as Record<Who, Client>;
/** What each caller heard, in order: progress and statuses outside its calls, and its CreateTaskResults. */
const heard = {} as Record<
  Who,
  Array<{ progress?: Progress; status?: { taskId: string; status: string }; created?: string }>
>;

before(async () => {
  t = await startGateway(
    `${stdioServer('ci', SERVER, ['--progress'])}` +
      '    credentials: { env: { STARTED_TEXT: "local:canary-{tenant}" }, discoveryTenant: acme }\n' +
      '    tools: { deploy: { class: READ }, job: { class: READ } }\n',
    {
      top: 'identity: { apiKeys: true }\ninventory: { newTools: accept }\n',
      before: async (stateDir) => {
        const secrets = await localSecrets(stateDir);
        for (const [tenant, canary] of Object.entries(CANARY)) await secrets.set(`canary-${tenant}`, canary);
        await secrets.set('canary-default', LOCAL_CANARY); // the stdio caller's tenant
      },
    },
  );
  for (const [name, tenant] of PEOPLE) {
    const key = await createKey(t.file, { name, tenant });
    const c = new Client({ name, version: '1' });
    const h: (typeof heard)[Who] = [];
    heard[name] = h;
    c.setNotificationHandler(TaskStatusNotificationSchema, (n) => void h.push({ status: n.params }));
    let opened: () => void = () => {};
    const streamOpen = new Promise<void>((r) => {
      opened = r;
    });
    const watch: typeof fetch = async (input, init) => {
      const r = await fetch(input, init);
      if ((init?.method ?? 'GET') === 'GET' && r.ok) opened();
      return r;
    };
    const transport = new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
      fetch: watch,
    });
    await c.connect(transport);
    // The SDK client drops progress under a token it did not make itself: read it as it arrives.
    const inner = transport.onmessage;
    transport.onmessage = (m) => {
      if ('method' in m && m.method === 'notifications/progress') h.push({ progress: m.params as Progress });
      inner?.(m);
    };
    await streamOpen;
    clients[name] = c;
  }
});

after(async () => {
  await Promise.all(Object.values(clients).map((c) => c.close().catch(() => {})));
  await t?.close();
});

/** `who` starts a `job` task asking for progress under `token`: its handle. */
async function job(who: Who, token: string | number, steps = 3, gapMs = 250): Promise<string> {
  const r = await clients[who].request(
    {
      method: 'tools/call',
      params: { name: 'ci__job', arguments: { steps, gapMs }, task: { ttl: 60_000 }, _meta: { progressToken: token } },
    },
    CreateTaskResultSchema,
  );
  heard[who].push({ created: r.task.taskId });
  return r.task.taskId;
}

const progressOf = (who: Who) => heard[who].flatMap((e) => (e.progress ? [e.progress] : []));
const ended = (who: Who, handle: string) =>
  heard[who].some((e) => e.status?.taskId === handle && e.status.status === 'completed') || undefined;

test("a task's progress after its CreateTaskResult reaches its starter under its own token, and no one else", async () => {
  // alice and bob share acme's connection and use the same token of their own: each hears only their own task's.
  const [alices, bobs] = await Promise.all([job('alice', 'tp-1'), job('bob', 'tp-1')]);
  await eventually(() => ended('alice', alices) && ended('bob', bobs), { timeoutMs: 10_000 });
  await new Promise((r) => setTimeout(r, 300)); // anything late would have arrived
  for (const [who, handle, other] of [
    ['alice', alices, bobs],
    ['bob', bobs, alices],
  ] as const) {
    const got = progressOf(who);
    assert.deepEqual(
      got.map((p) => [p.progressToken, p.progress, p.total]),
      [
        ['tp-1', 1, 3],
        ['tp-1', 2, 3],
        ['tp-1', 3, 3],
      ],
      JSON.stringify(heard[who]),
    );
    // Said after the CreateTaskResult, naming the caller's handle (never the upstream's id, nor the other's task).
    const created = heard[who].findIndex((e) => e.created === handle);
    const first = heard[who].findIndex((e) => e.progress);
    assert.ok(created >= 0 && created < first, JSON.stringify(heard[who]));
    for (const p of got) {
      assert.match(String(p.message), new RegExp(`^task ${handle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} step \\d: `));
      assert.ok(!String(p.message).includes(other));
    }
  }
  assert.deepEqual(progressOf('gina'), [], 'gina (another tenant) heard nothing');
  const all = JSON.stringify(heard);
  for (const canary of Object.values(CANARY)) assert.ok(!all.includes(canary), `a canary in ${all}`);
});

test('a numeric token comes back as a number; a task asked without a token says no progress to anyone', async () => {
  const before = { alice: progressOf('alice').length, bob: progressOf('bob').length, gina: progressOf('gina').length };
  const handle = await job('alice', 42, 2, 150);
  const plain = await clients.gina.request(
    { method: 'tools/call', params: { name: 'ci__job', arguments: { steps: 2, gapMs: 150 }, task: { ttl: 60_000 } } },
    CreateTaskResultSchema,
  );
  await eventually(() => ended('alice', handle) && ended('gina', plain.task.taskId), { timeoutMs: 10_000 });
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(
    progressOf('alice')
      .slice(before.alice)
      .map((p) => p.progressToken),
    [42, 42],
  );
  assert.equal(progressOf('bob').length, before.bob);
  assert.equal(progressOf('gina').length, before.gina);
});

test("a tenant switched off after its task started hears none of the task's progress", async () => {
  const mode = (...args: string[]) =>
    runCli(['mode', ...args, '--tenant', 'globex', '--reason', 'walk Y', '-c', t.file]);
  const handle = await job('gina', 'g-1', 4, 2_000);
  assert.equal((await mode('set', 'disabled')).code, 0);
  // What was said before every gateway applied the mode may have been heard (the CLI takes a while
  // on a busy machine); nothing after.
  const before = progressOf('gina').length;
  try {
    await new Promise((r) => setTimeout(r, 8_500)); // the remaining steps said (and the task ended) meanwhile
    assert.equal(progressOf('gina').length, before, JSON.stringify(heard.gina));
    assert.ok(before < 4, 'some steps came after the mode was set');
    assert.ok(!heard.gina.some((e) => e.status?.taskId === handle && e.status.status === 'completed'));
  } finally {
    assert.equal((await mode('clear')).code, 0);
  }
});

test('once its task is cancelled, what the server still says under its token reaches nobody', async () => {
  const before = progressOf('bob').length;
  const handle = await job('bob', 'b-cancel', 4, 700);
  await eventually(() => progressOf('bob').length > before || undefined, { timeoutMs: 5_000 });
  await clients.bob.request({ method: 'tasks/cancel', params: { taskId: handle } }, z.object({}).passthrough());
  const heardThen = progressOf('bob').length;
  await new Promise((r) => setTimeout(r, 2_600)); // the server says the remaining steps meanwhile
  assert.equal(progressOf('bob').length, heardThen, JSON.stringify(heard.bob));
  assert.ok(heardThen - before < 4);
});

test("over stdio, the task's progress reaches the client under its own token after the CreateTaskResult", async () => {
  type Line = { id?: number; method?: string; params?: Progress; result?: { task?: { taskId: string } } };
  const client = stdioClient<Line>();
  client.serve(() => t.gw.endpoint);
  const send = (m: object) => client.input.write(`${JSON.stringify({ jsonrpc: '2.0', ...m })}\n`);
  const answer = (id: number) => eventually(() => client.lines.find((m) => m.id === id), { timeoutMs: 10_000 });
  try {
    send({
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'stdio-tp', version: '1' } },
    });
    await answer(1);
    send({ method: 'notifications/initialized' });
    send({
      id: 2,
      method: 'tools/call',
      params: {
        name: 'ci__job',
        arguments: { steps: 3, gapMs: 200 },
        task: { ttl: 60_000 },
        _meta: { progressToken: 'tp-1' },
      },
    });
    const created = await answer(2);
    const handle = String(created.result?.task?.taskId);
    const progress = () => client.lines.filter((m) => m.method === 'notifications/progress');
    await eventually(() => progress().length === 3 || undefined, { timeoutMs: 10_000 }).catch(() =>
      assert.fail(JSON.stringify(client.lines)),
    );
    assert.deepEqual(
      progress().map((m) => [
        m.params?.progressToken,
        m.params?.progress,
        String(m.params?.message).startsWith(`task ${handle} step`),
      ]),
      [
        ['tp-1', 1, true],
        ['tp-1', 2, true],
        ['tp-1', 3, true],
      ],
    );
    assert.ok(client.lines.indexOf(created) < client.lines.indexOf(progress()[0]));
    assert.ok(
      !JSON.stringify(client.lines).includes(CANARY.acme),
      'the local user is of tenant default: no canary either',
    );
  } finally {
    await client.close();
  }
});
