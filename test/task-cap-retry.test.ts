/**
 * A call refused by a concurrency cap whose slot a running task holds is told so, and when the slot
 * frees at the latest (the task's deadline), not "retry in 1 s" (outside walk T): real client -> real
 * gateway -> the SDK's own task-capable server (test/fixtures/upstreams/task-server.ts), limits in
 * memory and in Redis (a unique key prefix).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateTaskResultSchema, McpError } from '@modelcontextprotocol/sdk/types.js';
import { ROOT, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { dropRedisKeys } from './support/services.ts';

const SERVER = join(ROOT, 'test/fixtures/upstreams/task-server.ts');
const PREFIX = `gatehouse-test:task-cap-retry:${randomUUID()}:`;

for (const backend of ['memory', 'redis'] as const)
  describe(`limits in ${backend}`, () => {
    let t: TestGateway;
    let client: Client;
    before(async () => {
      const redis =
        backend === 'redis'
          ? `  redis: { url: "redis://127.0.0.1:6379", keyPrefix: "${PREFIX}", commandTimeoutMs: 2000 }\n`
          : '';
      // A task holds its slot for its ttl, at least its server's maxTotalMs (a ttl of 1 ms is no way around a
      // cap): 20 s here, so the 45 s ttl is the deadline said.
      t = await startGateway(
        `${stdioServer('ci', SERVER)}    tools: { deploy: { class: WRITE } }\n    timeouts: { requestMs: 20000, maxTotalMs: 20000 }\n`,
        {
          top: `inventory: { newTools: accept }\nlimits:\n${redis}  rules:\n    - { id: deploys, scope: tenant_tool, tools: ['*__deploy'], concurrency: 1 }\n`,
        },
      );
      client = new Client({ name: 'task-cap-retry', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`)));
    });
    after(async () => {
      await client?.close();
      await t?.close();
      if (backend === 'redis') await dropRedisKeys(PREFIX);
    });

    const deploy = (ttl: number) =>
      client.request(
        { method: 'tools/call', params: { name: 'ci__deploy', arguments: { ms: 600_000 }, task: { ttl } } },
        CreateTaskResultSchema,
      );

    test('the refusal says a running task holds the slot, and its deadline as the latest retry', async () => {
      const first = await deploy(45_000);
      const err = await deploy(45_000).then(
        () => assert.fail('the second deploy passed the cap'),
        (e: unknown) => e as McpError,
      );
      assert.ok(err instanceof McpError, String(err));
      assert.match(
        err.message,
        /rate limited \(deploys\): concurrency cap of 1 reached \(rule deploys, per tenant_tool\), held by running tasks; a slot frees once one of them is seen to end \(tasks\/get, tasks\/result\), at the latest in 4[45] s/,
      );
      const data = err.data as { retryAfterMs: number; heldByTask: boolean };
      assert.equal(data.heldByTask, true);
      assert.ok(data.retryAfterMs > 40_000 && data.retryAfterMs <= 45_000, String(data.retryAfterMs));
      await client.request(
        { method: 'tasks/cancel', params: { taskId: first.task.taskId } },
        CreateTaskResultSchema.shape.task,
      );
    });
  });
