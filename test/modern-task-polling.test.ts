/**
 * What a 2026-07-28 caller learns of a task after its CreateTaskResult: by polling tasks/get, as the
 * revision has it (ADR 0002, "After a task's CreateTaskResult, a 2026-07-28 caller polls"). Progress
 * and log messages are request-scoped in 2026-07-28 (changelog, major change 4): they flow on the
 * response stream of the request they relate to and never on a `subscriptions/listen` stream, whose
 * core types are list changes and resource subscriptions; the tasks extension's push
 * (`notifications/tasks` for listen `taskIds`) is a MAY of a task shape the gateway does not give its
 * callers. So this pins: tasks/get carries the task's status message and its end; a listen stream
 * asking `taskIds` is not acknowledged them and hears nothing of the task, however chatty its server;
 * another tenant's caller polling the handle finds no task (the witness that the stream would deliver:
 * the tools list change it asked for does reach the same handler). Passes on the code before the listen
 * stream's resource subscriptions too: it verifies a decision, it does not show a change.
 * Real SDK v2 client (listen) and raw 2026-07-28 requests -> a real gateway -> the SDK's task server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ROOT, createKey, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { modernMeta, postModern, postModernCall, replyOf } from './support/rpc.ts';
import { eventually } from './support/eventually.ts';

const STARTED = `started ${randomUUID()}`;
let t: TestGateway;
const keys: Record<string, string> = {};

before(async () => {
  const server = stdioServer('ci', join(ROOT, 'test/fixtures/upstreams/task-server.ts'), [
    '--say-started',
    '--progress',
  ]);
  t = await startGateway(
    `${server}    env: { STARTED_TEXT: ${JSON.stringify(STARTED)} }\n    tools: { deploy: { class: READ }, job: { class: READ } }\n`,
    {
      top: 'identity: { apiKeys: true }\ninventory: { newTools: accept }\n',
    },
  );
  for (const [name, tenant] of [
    ['alice', 'acme'],
    ['gina', 'globex'],
  ] as const)
    keys[name] = await createKey(t.file, { name, tenant, person: name, scopes: 'mcp:tools' });
});
after(async () => t?.close());

const start = (who: string, tool: string, args: Record<string, unknown>) =>
  postModernCall(t.url, tool, args, {
    token: keys[who],
    extra: { task: { ttl: 60_000 }, _meta: { ...modernMeta(), progressToken: 'p1' } },
  }).then(replyOf);
const get = (who: string, taskId: string) =>
  postModern(t.url, 'tasks/get', { taskId, _meta: modernMeta() }, { token: keys[who], name: taskId }).then(replyOf);

test('a 2026-07-28 caller follows its task by polling: status message, then its end; nothing is pushed on its listen stream', async () => {
  const c = new Client({ name: 'alice', version: '1' }, { versionNegotiation: { mode: 'auto' } });
  const pushed: string[] = [];
  c.fallbackNotificationHandler = async (n) => void pushed.push(n.method);
  await c.connect(
    new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${keys.alice}` } },
    }),
  );
  assert.equal(c.getNegotiatedProtocolVersion(), '2026-07-28');
  const created = await start('alice', 'ci__deploy', { ms: 1_500 });
  const handle = String((created.result?.task as { taskId?: string } | undefined)?.taskId);
  assert.match(handle, /^gh3\./, JSON.stringify(created));
  // The filter's task ids (the tasks extension's) are not acknowledged: polling is how the caller follows it.
  const filter = { toolsListChanged: true, taskIds: [handle] } as Parameters<Client['listen']>[0];
  const sub = await c.listen(filter);
  assert.deepEqual(sub.honoredFilter, { toolsListChanged: true });
  const polled = await get('alice', handle);
  assert.equal(polled.result?.status, 'working', JSON.stringify(polled));
  assert.equal(polled.result?.statusMessage, STARTED, 'the status message the server said, by polling');
  assert.equal(polled.result?.taskId, handle);
  const other = await get('gina', handle);
  assert.match(other.error?.message ?? '', /unknown task/, "another tenant's caller finds no task");
  // The progress the task says after its CreateTaskResult reaches no stream of a 2026-07-28 caller.
  const job = await start('alice', 'ci__job', { steps: 3, gapMs: 100 });
  const jobHandle = String((job.result?.task as { taskId?: string } | undefined)?.taskId);
  await eventually(async () => (await get('alice', jobHandle)).result?.status === 'completed', { timeoutMs: 10_000 });
  await eventually(async () => (await get('alice', handle)).result?.status === 'completed', { timeoutMs: 10_000 });
  assert.deepEqual(pushed, [], 'no task status, progress or log message on the listen stream');
  // The witness: what the stream was asked for does reach this handler (a tool switched off changes her tools).
  const mode = (...args: string[]) =>
    runCli(['mode', ...args, '--tool', 'ci__job', '--reason', 'witness', '-c', t.file]);
  assert.equal((await mode('set', 'disabled')).code, 0);
  await eventually(() => pushed.length > 0, { timeoutMs: 10_000, intervalMs: 20 });
  assert.deepEqual(pushed, ['notifications/tools/list_changed']);
  assert.equal((await mode('clear')).code, 0);
  await sub.close();
  await c.close();
});
