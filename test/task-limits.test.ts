/**
 * A task's later requests (tasks/get, tasks/result, tasks/cancel) pass the limit stage (walk K: they
 * skipped it, so a principal refused further calls by its rate limit could still send any number of
 * tasks/get to the upstream). They count in the rules of every request of a principal or tenant, not
 * in the rules of the task's tool, whose budget counts calls of it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { z } from 'zod';
import { ROOT, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';

let t: TestGateway;
let client: Client;

before(async () => {
  t = await startGateway(
    `${stdioServer('chaos', join(ROOT, 'test/fixtures/upstreams/chaos-server.ts'))}    tools: { task: { class: READ } }\n`,
    {
      top:
        'inventory: { newTools: accept }\nlimits:\n  rules:\n' +
        '    - { id: per-user, scope: principal, rate: { points: 3, perSeconds: 3600 } }\n' +
        "    - { id: one-task-an-hour, scope: tenant_tool, tools: ['chaos__task'], rate: { points: 1, perSeconds: 3600 } }\n",
    },
  );
  client = new Client({ name: 'task-limits', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`)));
});
after(async () => {
  await client?.close();
  await t?.close();
});

const getTask = (taskId: string) =>
  client.request({ method: 'tasks/get', params: { taskId } }, z.object({ status: z.string() }).passthrough());

test("tasks/get spends the principal's budget, not the tool's; once it is spent, tasks/get is refused before the upstream", async () => {
  const created = (await client.request(
    { method: 'tools/call', params: { name: 'chaos__task', arguments: {} } },
    z.object({ task: z.object({ taskId: z.string() }) }).passthrough(),
  )) as { task: { taskId: string } };
  // The tool's budget (one call an hour) is spent by the call; polling its task does not spend it.
  assert.equal((await getTask(created.task.taskId)).status, 'completed');
  assert.equal((await getTask(created.task.taskId)).status, 'completed');
  // The principal's three requests are spent: the next is refused.
  await assert.rejects(getTask(created.task.taskId), /rate limited \(per-user\)/);
  const refused = await t.gw.store.audit.read({ kind: 'call.refused', limit: 10 });
  assert.ok(
    refused.some((r) => r.event.method === 'tasks/get' && JSON.stringify(r.event).includes('E_RATE_LIMITED')),
    JSON.stringify(refused.map((r) => r.event)),
  );
});
