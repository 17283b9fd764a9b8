/**
 * A concurrency cap counts a task for its life, not only while its tools/call is in flight (a caller
 * asking for a task got its slot back with the CreateTaskResult, and could start any number of
 * deploys at once). Real client -> real gateway -> the SDK's own task-capable server
 * (test/fixtures/upstreams/task-server.ts): with `concurrency: 1`, a second task-augmented call is
 * refused while the first task runs, and passes once the gateway sees it end: a tasks/get saying
 * completed, a tasks/result, the upstream's notifications/tasks/status, or its ttl passing. A task's
 * own tasks/get passes a per-user cap its slot fills. In memory, and in Redis (a unique key prefix).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateTaskResultSchema, GetTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { ROOT, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';
import { dropRedisKeys } from './support/services.ts';

const SERVER = join(ROOT, 'test/fixtures/upstreams/task-server.ts');
const REFUSED = /rate limited \(deploys\): concurrency cap of 1 reached/;
const PREFIX = `gatehouse-test:task-concurrency:${randomUUID()}:`;

for (const backend of ['memory', 'redis'] as const)
  describe(`limits in ${backend}`, () => {
    let t: TestGateway;
    let client: Client;

    before(async () => {
      const redis =
        backend === 'redis'
          ? `  redis: { url: "redis://127.0.0.1:6379", keyPrefix: "${PREFIX}", commandTimeoutMs: 2000 }\n`
          : '';
      t = await startGateway(
        `${stdioServer('quiet', SERVER, ['--quiet'])}    tools: { deploy: { class: WRITE } }\n` +
          `${stdioServer('ci', SERVER)}    tools: { deploy: { class: WRITE } }\n` +
          // A task holds its slot at least as long as its call could run in flight: this server's 1 s.
          `${stdioServer('brief', SERVER, ['--quiet'])}    tools: { deploy: { class: WRITE } }\n` +
          '    timeouts: { requestMs: 1000, maxTotalMs: 1000 }\n',
        {
          top:
            `inventory: { newTools: accept }\nlimits:\n${redis}  rules:\n` +
            "    - { id: deploys, scope: tenant_tool, tools: ['*__deploy'], concurrency: 1 }\n" +
            '    - { id: per-user, scope: principal, concurrency: 2 }\n',
        },
      );
      client = new Client({ name: 'task-concurrency', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`)));
    });
    after(async () => {
      await client?.close();
      await t?.close();
      if (backend === 'redis') await dropRedisKeys(PREFIX);
    });

    /** Start a deploy as a task: it completes after `ms`; the upstream keeps it `ttl` ms. */
    const deploy = (server: string, ms: number, ttl = 60_000) =>
      client.request(
        { method: 'tools/call', params: { name: `${server}__deploy`, arguments: { ms }, task: { ttl } } },
        CreateTaskResultSchema,
      );
    const getTask = (taskId: string) =>
      client.request({ method: 'tasks/get', params: { taskId } }, GetTaskResultSchema);

    test('a running task holds the slot; the second deploy is refused until a tasks/get shows the first completed', async () => {
      const first = await deploy('quiet', 1_000);
      assert.equal(first.task.status, 'working');
      await assert.rejects(deploy('quiet', 0), REFUSED);
      assert.equal((await getTask(first.task.taskId)).status, 'working');
      await assert.rejects(deploy('quiet', 0), REFUSED, 'a tasks/get saying working frees nothing');
      await eventually(async () => (await getTask(first.task.taskId)).status === 'completed');
      const second = await deploy('quiet', 0);
      await eventually(async () => (await getTask(second.task.taskId)).status === 'completed');
    });

    test('a tasks/result (the task has ended) gives the slot back', async () => {
      const first = await deploy('quiet', 500);
      await assert.rejects(deploy('quiet', 0), REFUSED);
      const result = await client.request(
        { method: 'tasks/result', params: { taskId: first.task.taskId } },
        z.object({ content: z.array(z.object({ text: z.string() })) }).passthrough(),
      );
      assert.equal(result.content[0].text, 'deployed in 500 ms');
      const second = await deploy('quiet', 0);
      await eventually(async () => (await getTask(second.task.taskId)).status === 'completed');
    });

    test('a tasks/cancel answered cancelled gives the slot back', async () => {
      const first = await deploy('quiet', 600_000);
      await assert.rejects(deploy('quiet', 0), REFUSED);
      const cancelled = await client.request(
        { method: 'tasks/cancel', params: { taskId: first.task.taskId } },
        z.object({ status: z.string() }).passthrough(),
      );
      assert.equal(cancelled.status, 'cancelled');
      const second = await deploy('quiet', 0);
      await eventually(async () => (await getTask(second.task.taskId)).status === 'completed');
    });

    test('a task never seen again frees the slot once its ttl passes, not before', async () => {
      const started = Date.now();
      await deploy('brief', 600_000, 2_000);
      await sleep(1_300);
      await assert.rejects(deploy('brief', 0), REFUSED, "past the server's maxTotalMs, within the ttl");
      await sleep(Math.max(0, 2_000 - (Date.now() - started)) + 100);
      const second = await deploy('brief', 0);
      await eventually(async () => (await getTask(second.task.taskId)).status === 'completed');
    });

    test("a caller's tiny ttl does not shorten the hold: five deploys with ttl 1 under a cap of 1, one runs; a task seen to end frees it sooner", async () => {
      const started = Date.now();
      await deploy('brief', 600_000, 1);
      for (let i = 0; i < 4; i++) {
        await sleep(50);
        await assert.rejects(deploy('brief', 600_000, 1), REFUSED, `deploy ${i + 2}: the first still runs`);
      }
      // Held for the server's maxTotalMs (1 s), not the ttl of 1 ms...
      await sleep(Math.max(0, 700 - (Date.now() - started)));
      await assert.rejects(deploy('brief', 0, 1), REFUSED);
      await sleep(Math.max(0, 1_000 - (Date.now() - started)) + 100);
      // ...and a task seen to end gives its slot back before the floor.
      const short = await deploy('brief', 100, 500);
      await assert.rejects(deploy('brief', 0, 500), REFUSED);
      await eventually(async () => (await getTask(short.task.taskId)).status === 'completed');
      const next = await deploy('brief', 0);
      await eventually(async () => (await getTask(next.task.taskId)).status === 'completed');
    });

    test("the upstream's notifications/tasks/status saying completed gives the slot back, with no tasks/* asked; a task's polling passes the per-user cap it fills", async () => {
      await deploy('ci', 700);
      await assert.rejects(deploy('ci', 0), REFUSED);
      // Another server's deploy is another tool: a slot of its own. Two tasks now fill per-user (2)...
      const elsewhere = await deploy('quiet', 300);
      // ...and the tasks' own tasks/get still pass it: each task's slot covers its polling.
      assert.equal((await getTask(elsewhere.task.taskId)).status, 'working');
      await eventually(async () => (await getTask(elsewhere.task.taskId)).status === 'completed');
      const second = await eventually(() => deploy('ci', 0).catch(() => undefined), { timeoutMs: 5_000 });
      assert.ok(second.task.taskId);
    });

    test('the refusals are audited: E_RATE_LIMITED at the limit stage', async () => {
      const refused = await t.gw.store.audit.read({ kind: 'call.refused', limit: 50 });
      assert.ok(
        refused.some((r) => r.event.tool === 'quiet__deploy' && JSON.stringify(r.event).includes('E_RATE_LIMITED')),
        JSON.stringify(refused.map((r) => r.event)),
      );
    });
  });
