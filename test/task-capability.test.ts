/**
 * The gateway declares the 2025-11-25 `tasks` capability for what it carries, so an SDK client that
 * enforces capabilities sends task-augmented calls through it: `requests.tools.call` when a server
 * behind the endpoint takes them, `cancel` when such a server cancels, never `list` (the gateway has
 * no tasks/list), and nothing when no server takes tasks. A server configured but not connected yet
 * when a session begins (here: its credential is not there yet) may take tasks once it connects:
 * capabilities are fixed at initialize, so the session is told the gateway takes task-augmented
 * calls, and runs one on that server once it is up. Real SDK client (enforceStrictCapabilities)
 * -> real gateway -> the SDK's own task-capable server (test/fixtures/upstreams/task-server.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ROOT, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';
import { localSecrets } from './support/secrets.ts';

const TASKS = join(ROOT, 'test/fixtures/upstreams/task-server.ts');
const RECORDING = join(ROOT, 'test/fixtures/upstreams/recording-server.ts');
const deploy = '    tools: { deploy: { class: WRITE } }\n';
const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-task-capability-'));
const rec = `${stdioServer('rec', RECORDING)}    env: { RECORD_FILE: ${JSON.stringify(join(tmp, 'rec.jsonl'))} }\n    tools: { record: { class: READ } }\n`;
let withTasks: TestGateway;
let without: TestGateway;
/** Its task server's credential is set only after the gateway started: it connects late. */
let late: TestGateway;
const clients: Client[] = [];

before(async () => {
  withTasks = await startGateway(
    `${stdioServer('ci', TASKS)}${deploy}${stdioServer('full', TASKS, ['--declare-all'])}${deploy}${rec}`,
    { top: 'inventory: { newTools: accept }\n' },
  );
  without = await startGateway(rec, { top: 'inventory: { newTools: accept }\n' });
  late = await startGateway(
    `${rec}${stdioServer('late', TASKS)}    credentials: { env: { STARTED_TEXT: "local:late-text" } }\n${deploy}`,
    { top: 'inventory: { newTools: accept }\n', waitMs: 500 },
  );
});
after(async () => {
  for (const c of clients) await c.close();
  await withTasks?.close();
  await without?.close();
  await late?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function strict(url: string): Promise<Client> {
  const c = new Client(
    { name: 'strict', version: '1' },
    { enforceStrictCapabilities: true, capabilities: { tasks: {} } },
  );
  await c.connect(new StreamableHTTPClientTransport(new URL(url)));
  clients.push(c);
  return c;
}

test('the aggregate endpoint declares task-augmented tools/call and cancel, not list; a strict client runs a task end to end', async () => {
  const c = await strict(`${withTasks.url}/mcp`);
  assert.deepEqual(c.getServerCapabilities()?.tasks, { cancel: {}, requests: { tools: { call: {} } } });
  const seen: string[] = [];
  let text: unknown;
  const params = { name: 'ci__deploy', arguments: { ms: 50 } };
  for await (const m of c.experimental.tasks.callToolStream(params, undefined, { task: { ttl: 10_000 } })) {
    seen.push(m.type);
    if (m.type === 'error') assert.fail(String(m.error));
    if (m.type === 'result') text = m.result.content;
  }
  assert.deepEqual(
    seen.filter((x) => x !== 'taskStatus'),
    ['taskCreated', 'result'],
  );
  assert.deepEqual(text, [{ type: 'text', text: 'deployed in 50 ms' }]);
  // tasks/cancel passes a strict client's check too, and reaches the task's server.
  const long = await c.experimental.tasks.callToolStream(
    { name: 'full__deploy', arguments: { ms: 600_000 } },
    undefined,
    {
      task: { ttl: 10_000 },
    },
  );
  const created = (await long.next()).value;
  assert.equal(created?.type, 'taskCreated', JSON.stringify(created));
  const taskId = created?.type === 'taskCreated' ? created.task.taskId : '';
  assert.equal((await c.experimental.tasks.cancelTask(taskId)).status, 'cancelled');
  await long.return(undefined);
  await assert.rejects(
    c.experimental.tasks.listTasks(),
    /-32601: method not found: `tasks\/list`/,
    'not declared, not carried',
  );
});

test("a server's own endpoint declares what of its tasks the gateway carries", async () => {
  const ci = await strict(`${withTasks.url}/servers/ci/mcp`);
  assert.deepEqual(ci.getServerCapabilities()?.tasks, { requests: { tools: { call: {} } } });
  const full = await strict(`${withTasks.url}/servers/full/mcp`);
  assert.deepEqual(full.getServerCapabilities()?.tasks, { cancel: {}, requests: { tools: { call: {} } } }, 'no list');
  const rec = await strict(`${withTasks.url}/servers/rec/mcp`);
  assert.equal(rec.getServerCapabilities()?.tasks, undefined);
});

test('no server behind the gateway takes tasks: no tasks capability, and a strict client sends none', async () => {
  const c = await strict(`${without.url}/mcp`);
  assert.equal(c.getServerCapabilities()?.tasks, undefined);
  assert.ok(
    (await c.listTools()).tools.some((x) => x.name === 'rec__record'),
    'the server behind it is up',
  );
});

test('a server not connected yet when a session begins: the session may send it task-augmented calls once it connects', async () => {
  const c = await strict(`${late.url}/mcp`);
  assert.ok(!(await c.listTools()).tools.some((x) => x.name === 'late__deploy'), 'not connected yet');
  assert.deepEqual(c.getServerCapabilities()?.tasks, { cancel: {}, requests: { tools: { call: {} } } });
  await (await localSecrets(join(late.dir, 'state'))).set('late-text', 'started late');
  await eventually(async () => (await c.listTools()).tools.some((x) => x.name === 'late__deploy') || undefined, {
    timeoutMs: 15_000,
  });
  const seen: string[] = [];
  let text: unknown;
  for await (const m of c.experimental.tasks.callToolStream(
    { name: 'late__deploy', arguments: { ms: 50 } },
    undefined,
    { task: { ttl: 10_000 } },
  )) {
    seen.push(m.type);
    if (m.type === 'error') assert.fail(String(m.error));
    if (m.type === 'result') text = m.result.content;
  }
  assert.deepEqual(
    seen.filter((x) => x !== 'taskStatus'),
    ['taskCreated', 'result'],
  );
  assert.deepEqual(text, [{ type: 'text', text: 'deployed in 50 ms' }]);
});
