/**
 * A task-augmented tools/call (2025-11-25 tasks) the gateway answers itself creates no task, so it is
 * never answered with a plain CallToolResult (the SDK's callToolStream fails on one with -32603, and
 * the approval page never reaches anyone): a pending approval is the URL-elicitation-required error
 * (-32042) carrying the page for a caller that declared URL elicitation, else the gateway's refusal
 * naming the page; shadow mode is a refusal saying nothing ran. Real SDK client -> real gateway ->
 * the SDK's own task-capable server (test/fixtures/upstreams/task-server.ts); the approval is still
 * usable: approved through the CLI, the retry creates the task and its result comes back.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError, UrlElicitationRequiredError } from '@modelcontextprotocol/sdk/types.js';
import { ROOT, createKey, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';

const SERVER = join(ROOT, 'test/fixtures/upstreams/task-server.ts');
const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-task-answers-'));
const POLICY = join(tmp, 'policy.yaml');
let t: TestGateway;
const keys: Record<string, string> = {};
const clients: Client[] = [];

before(async () => {
  writeFileSync(
    POLICY,
    'modes:\n  servers: { shady: shadow }\nrules:\n' +
      '  - { id: deploys-need-a-lead, subjects: { tenants: [acme] }, tools: [tasks__deploy], effect: approve, approvers: { roles: [lead], count: 1 } }\n' +
      '  - { id: shady-deploys, subjects: { tenants: [acme] }, tools: [shady__deploy], effect: allow }\n',
  );
  t = await startGateway(
    `${stdioServer('tasks', SERVER)}    tools: { deploy: { class: WRITE } }\n` +
      `${stdioServer('shady', SERVER)}    tools: { deploy: { class: WRITE } }\n`,
    {
      top: `identity: { apiKeys: true }\ninventory: { newTools: accept }\npolicy: { files: [${JSON.stringify(POLICY)}] }\n`,
    },
  );
  keys.agent = await createKey(t.file, { name: 'agent', tenant: 'acme', person: 'agent', roles: 'agent', scopes: 'x' });
});
after(async () => {
  for (const c of clients) await c.close();
  await t?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function connect(capabilities: Record<string, unknown> = {}): Promise<Client> {
  const c = new Client({ name: 'task-answers', version: '1' }, { capabilities });
  const requestInit = { headers: { authorization: `Bearer ${keys.agent}` } };
  await c.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`), { requestInit }));
  clients.push(c);
  return c;
}

type Message = { type: string; error?: unknown; task?: { taskId: string }; result?: { content?: unknown } };

/** A deploy asked as a task through the SDK's callToolStream: every message it yields. */
async function deployAsTask(c: Client, name: string, meta?: Record<string, unknown>): Promise<Message[]> {
  const out: Message[] = [];
  const params = { name, arguments: { ms: 100 }, ...(meta ? { _meta: meta } : {}) };
  for await (const m of c.experimental.tasks.callToolStream(params, undefined, { task: { ttl: 10_000 } }))
    out.push(m as Message);
  return out;
}

const pending = async () =>
  (await t.gw.store.approvals.list({ tenant: 'acme' })).filter((r) => r.status === 'pending').map((r) => r.id);

test('a caller that declared URL elicitation gets -32042 with the approval page; approved, the retry runs as a task', async () => {
  const c = await connect({ elicitation: { url: {} } });
  const first = await deployAsTask(c, 'tasks__deploy');
  assert.deepEqual(
    first.map((m) => m.type),
    ['error'],
  );
  const err = first[0].error;
  assert.ok(err instanceof UrlElicitationRequiredError, String(err));
  assert.equal(err.code, -32042);
  const [page] = err.elicitations;
  assert.equal(page.mode, 'url');
  assert.match(page.url, /^http:\/\/127\.0\.0\.1:\d+\/approvals\/apr_\S+$/);
  const id = page.elicitationId;
  assert.ok(page.url.endsWith(id));
  assert.match(err.message, new RegExp(`approval ${id} is pending at .*"io\\.gatehouse/approval": "${id}"`));
  assert.ok((await pending()).includes(id), 'the request waits in approvals list');
  const approve = await runCli(['approvals', 'approve', id, '--role', 'lead', '--by', 'lead1', '-c', t.file]);
  assert.equal(approve.code, 0, approve.stderr);
  const retry = await deployAsTask(c, 'tasks__deploy', { 'io.gatehouse/approval': id });
  assert.deepEqual(
    retry.map((m) => m.type).filter((x) => x !== 'taskStatus'),
    ['taskCreated', 'result'],
    JSON.stringify(retry),
  );
  assert.deepEqual(retry.at(-1)?.result?.content, [{ type: 'text', text: 'deployed in 100 ms' }]);
  const reused = await deployAsTask(c, 'tasks__deploy', { 'io.gatehouse/approval': id });
  assert.match(String(reused.at(-1)?.error), /cannot be used for this call/, 'an approval is used once');
});

test('a caller without URL elicitation gets the refusal naming the page and how to retry, at once', async () => {
  const c = await connect();
  const started = Date.now();
  const [only, ...rest] = await deployAsTask(c, 'tasks__deploy');
  assert.equal(rest.length, 0);
  assert.equal(only.type, 'error');
  const err = only.error as McpError;
  assert.ok(err instanceof McpError && !(err instanceof UrlElicitationRequiredError), String(err));
  assert.equal(err.code, -32001);
  assert.match(
    err.message,
    /needs a person's approval: approval (apr_\S+) is pending at http:\/\/127\.0\.0\.1:\d+\/approvals\/apr_\S+\. Once it is approved, send the same call again with _meta \{"io\.gatehouse\/approval": "apr_\S+"\}\. Nothing ran, and no task was created/,
  );
  const data = err.data as { approval: { id: string; status: string } };
  assert.equal(data.approval.status, 'pending');
  assert.ok((await pending()).includes(data.approval.id));
  assert.ok(Date.now() - started < 5_000, 'a task call is not held waiting for the decision');
});

test('shadow mode: a refusal saying nothing ran, audited as shadow', async () => {
  const c = await connect({ elicitation: { url: {} } });
  const [only, ...rest] = await deployAsTask(c, 'shady__deploy');
  assert.equal(rest.length, 0);
  const err = only.error as McpError;
  assert.ok(err instanceof McpError, String(err));
  assert.equal(err.code, -32001);
  assert.match(
    err.message,
    /Shadow mode: Gatehouse recorded this call to shady__deploy as proposed and did NOT run it/,
  );
  assert.match(err.message, /No task was created/);
  const outcomes = (await t.gw.store.audit.read({ kind: 'call.outcome', limit: 100 }))
    .map((r) => r.event)
    .filter((e) => e.tool === 'shady__deploy');
  assert.deepEqual(
    outcomes.map((e) => e.outcome),
    ['shadow'],
    JSON.stringify(outcomes),
  );
});
