/**
 * A server's own endpoint (`/servers/<name>/mcp`) answers as the server does for what it did not
 * declare: the SDK's task server declares tools and tasks only, so prompts, resources, completions
 * and logging are -32601 there, as the server itself says when asked directly, in both eras; the
 * aggregate endpoint declares the gateway's own capabilities and answers them. A listen stream on
 * the server's endpoint is acknowledged only for the notification types it supports. Real SDK v1
 * client -> real gateway -> the SDK's task server over stdio, and the same client -> that server directly.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { ROOT, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { modernMeta, postModern, replyOf } from './support/rpc.ts';

const TASKS = join(ROOT, 'test/fixtures/upstreams/task-server.ts');
let t: TestGateway;
const clients: Client[] = [];

before(async () => {
  t = await startGateway(`${stdioServer('ci', TASKS)}    tools: { deploy: { class: WRITE } }\n`, {
    top: 'inventory: { newTools: accept }\n',
  });
});
after(async () => {
  for (const c of clients) await c.close();
  await t?.close();
});

const UNDECLARED: Array<[string, Record<string, unknown>, string]> = [
  ['prompts/list', {}, 'prompts'],
  ['resources/list', {}, 'resources'],
  ['resources/templates/list', {}, 'resources'],
  ['logging/setLevel', { level: 'info' }, 'logging'],
  [
    'completion/complete',
    { ref: { type: 'ref/prompt', name: 'p' }, argument: { name: 'a', value: '' } },
    'completions',
  ],
  ['prompts/get', { name: 'p' }, 'prompts'],
  ['resources/read', { uri: 'x://y' }, 'resources'],
  ['resources/subscribe', { uri: 'x://y' }, 'resources.subscribe'],
];

async function client(transport: StdioClientTransport | StreamableHTTPClientTransport): Promise<Client> {
  const c = new Client({ name: 'caps', version: '1' }, { capabilities: {} });
  await c.connect(transport);
  clients.push(c);
  return c;
}

/** The JSON-RPC code (or `ok`) each undeclared method gets from `c`. */
async function codes(c: Client): Promise<Array<[string, number | 'ok']>> {
  const out: Array<[string, number | 'ok']> = [];
  for (const [method, params] of UNDECLARED) {
    const r = await c.request({ method, params } as never, ResultSchema).then(
      () => 'ok' as const,
      (e: { code?: number }) => e.code ?? -1,
    );
    out.push([method, r]);
  }
  return out;
}

test("a server's own endpoint answers -32601 for what the server did not declare, as the server does directly", async () => {
  const direct = await client(new StdioClientTransport({ command: process.execPath, args: [TASKS], stderr: 'ignore' }));
  const through = await client(new StreamableHTTPClientTransport(new URL(`${t.url}/servers/ci/mcp`)));
  const expected = UNDECLARED.map(([m]) => [m, -32601]);
  assert.deepEqual(await codes(direct), expected, 'the server itself');
  assert.deepEqual(await codes(through), expected, 'through the gateway');
  assert.equal(through.getServerCapabilities()?.prompts, undefined);
  // Declared: its tools are answered.
  assert.deepEqual(
    (await through.listTools()).tools.map((x) => x.name),
    ['deploy'],
  );
  // The aggregate endpoint declares the gateway's own capabilities, and answers them.
  const aggregate = await client(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`)));
  assert.deepEqual((await aggregate.listPrompts()).prompts, []);
  assert.deepEqual(await aggregate.setLoggingLevel('info'), {});
});

test('a 2026-07-28 caller gets -32601 (HTTP 404) on the server endpoint too, naming what is not declared', async () => {
  for (const [method, params, cap] of UNDECLARED) {
    if (method === 'logging/setLevel' || method === 'resources/subscribe') continue; // not in 2026-07-28
    const name = [params.name, params.uri].find((v) => typeof v === 'string') as string | undefined;
    const r = await postModern(`${t.url}/servers/ci`, method, { ...params, _meta: modernMeta() }, { name });
    const body = await replyOf(r);
    assert.equal(body.error?.code, -32601, `${method}: ${JSON.stringify(body)}`);
    assert.equal(r.status, 404, method);
    assert.equal(
      body.error?.message,
      `method not found: \`${method}\` (the server behind this endpoint does not declare \`${cap}\`)`,
    );
  }
  const agg = await replyOf(await postModern(t.url, 'prompts/list', { _meta: modernMeta() }));
  assert.deepEqual(agg.result?.prompts, []);
});

/** The acknowledgment of a listen stream asking every list_changed type, on `path`. */
async function acknowledged(path: string): Promise<unknown> {
  const ac = new AbortController();
  const params = {
    notifications: { toolsListChanged: true, promptsListChanged: true, resourcesListChanged: true },
    _meta: modernMeta(),
  };
  const r = await postModern(`${t.url}${path}`, 'subscriptions/listen', params, { signal: ac.signal });
  const reader = r.body!.getReader();
  let text = '';
  while (!text.includes('\n\n')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  ac.abort();
  const data = text.split('\n').find((l) => l.startsWith('data:')) ?? '';
  return (JSON.parse(data.slice(5)) as { params: { notifications: unknown } }).params.notifications;
}

test('a listen stream is acknowledged for the notification types the endpoint supports, the others omitted', async () => {
  assert.deepEqual(await acknowledged('/servers/ci'), { toolsListChanged: true });
  assert.deepEqual(await acknowledged(''), {
    toolsListChanged: true,
    promptsListChanged: true,
    resourcesListChanged: true,
  });
});
