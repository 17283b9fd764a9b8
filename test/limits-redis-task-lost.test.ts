/**
 * Redis losing its data (a restart without persistence, FLUSHALL, eviction: here every key of the
 * gateway's prefix deleted, as walk Z did) while a task holds a concurrency cap of 1. A running call's
 * lease was re-added by its next renewal, but a task's hold never is, and the gateway dropped its own
 * local copy of it too: a second deploy task was accepted while the first still ran. Now the gateway
 * holding the task writes its hold back, and the task's end still frees it. Real client -> real
 * gateway -> the SDK's task server, real Redis (a unique key prefix).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateTaskResultSchema, GetTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { ROOT, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';
import { dropRedisKeys, redisAvailable } from './support/services.ts';

const SERVER = join(ROOT, 'test/fixtures/upstreams/task-server.ts');
const REFUSED = /rate limited \(deploys\): concurrency cap of 1 reached/;
const PREFIX = `gatehouse-test:task-lost:${randomUUID()}:`;
let t: TestGateway;
let client: Client;

before(async () => {
  if (!(await redisAvailable())) return;
  t = await startGateway(`${stdioServer('ci', SERVER, ['--quiet'])}    tools: { deploy: { class: WRITE } }\n`, {
    top:
      'inventory: { newTools: accept }\nlimits:\n' +
      `  redis: { url: "redis://127.0.0.1:6379", keyPrefix: "${PREFIX}", commandTimeoutMs: 2000, leaseTtlMs: 1000 }\n` +
      "  rules:\n    - { id: deploys, scope: tenant_tool, tools: ['*__deploy'], concurrency: 1 }\n",
  });
  client = new Client({ name: 'task-lost', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`)));
});
after(async () => {
  await client?.close();
  await t?.close();
  await dropRedisKeys(PREFIX);
});

const deploy = (ms: number) =>
  client.request(
    { method: 'tools/call', params: { name: 'ci__deploy', arguments: { ms }, task: { ttl: 60_000 } } },
    CreateTaskResultSchema,
  );
const status = async (taskId: string) =>
  (await client.request({ method: 'tasks/get', params: { taskId } }, GetTaskResultSchema)).status;

test('Redis loses every key while a deploy task runs: a second deploy is still refused, and passes once the first ends', async (tc) => {
  if (!t) return tc.skip('redis is not reachable');
  const first = await deploy(5_000);
  assert.equal(first.task.status, 'working');
  await assert.rejects(deploy(0), REFUSED);
  await dropRedisKeys(PREFIX);
  await sleep(1_200); // past a renewal round (leaseTtlMs/3) and the lease TTL
  await assert.rejects(deploy(0), REFUSED, 'the running task still holds the only slot');
  assert.equal(await status(first.task.taskId), 'working');
  await eventually(async () => (await status(first.task.taskId)) === 'completed', { timeoutMs: 15_000 });
  const second = await deploy(0);
  await eventually(async () => (await status(second.task.taskId)) === 'completed');
});
