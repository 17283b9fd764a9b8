/**
 * Hostile: no one but a task's starter (and its upstream) ends the task's hold on a concurrency cap.
 * acme's alice and bob share a per-tenant deploy cap of 1; alice's deploy runs as a task. Bob, given
 * alice's task handle (leaked), or its raw upstream id, cannot cancel it, read it, or free its slot;
 * another tenant's cap is its own. Real client -> real gateway -> the SDK's task server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { ROOT, createKey, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';

const SERVER = join(ROOT, 'test/fixtures/upstreams/task-server.ts');
const REFUSED = /rate limited \(deploys\): concurrency cap of 1 reached/;
let t: TestGateway;
const clients: Record<string, Client> = {};

before(async () => {
  t = await startGateway(`${stdioServer('ci', SERVER, ['--quiet'])}    tools: { deploy: { class: WRITE } }\n`, {
    top:
      'identity: { apiKeys: true }\ninventory: { newTools: accept }\nlimits:\n  rules:\n' +
      "    - { id: deploys, scope: tenant_tool, tools: ['ci__deploy'], concurrency: 1 }\n",
  });
  const who = [
    ['alice', 'acme'],
    ['bob', 'acme'],
    ['gina', 'globex'],
  ] as const;
  for (const [name, tenant] of who) {
    const key = await createKey(t.file, { name, tenant, scopes: 'mcp:tools' });
    const c = new Client({ name, version: '1' });
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

const deploy = (who: string) =>
  clients[who].request(
    { method: 'tools/call', params: { name: 'ci__deploy', arguments: { ms: 600_000 }, task: { ttl: 60_000 } } },
    CreateTaskResultSchema,
  );
const ask = (who: string, method: string, taskId: string) =>
  clients[who].request({ method, params: { taskId } }, z.object({ status: z.string() }).passthrough());

test("another caller of the tenant cannot end a task's hold on the cap, with its handle or a raw id; its starter can", async () => {
  const alice = await deploy('alice');
  await assert.rejects(deploy('bob'), REFUSED, "the cap is the tenant's: bob waits for alice's deploy");
  for (const method of ['tasks/cancel', 'tasks/get', 'tasks/result'])
    await assert.rejects(ask('bob', method, alice.task.taskId), /unknown task/, `${method} with alice's handle`);
  // The SDK's task ids are UUIDs; a guessed raw id is no handle either.
  await assert.rejects(ask('bob', 'tasks/cancel', '00000000-0000-4000-8000-000000000000'), /unknown task/);
  await assert.rejects(deploy('bob'), REFUSED, "bob's attempts freed nothing");
  // Another tenant's deploys are counted apart: globex is not held up by acme's task.
  const gina = await deploy('gina');
  assert.equal((await ask('alice', 'tasks/cancel', alice.task.taskId)).status, 'cancelled');
  const bob = await deploy('bob');
  assert.ok(bob.task.taskId);
  await ask('bob', 'tasks/cancel', bob.task.taskId);
  await ask('gina', 'tasks/cancel', gina.task.taskId);
});
