/**
 * End to end, legacy era: the SDK v1 client (2025-11-25, sessions) -> Gatehouse -> real npm MCP
 * servers (server-everything and server-filesystem over stdio).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CallToolResultSchema,
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { EVERYTHING, FILESYSTEM, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';
import { initializeRequest, postLegacy } from './support/rpc.ts';

let t: TestGateway;
let sandbox: string;

before(async () => {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  sandbox = mkdtempSync(join(tmpdir(), 'gatehouse-sandbox-'));
  mkdirSync(join(sandbox, 'docs'));
  writeFileSync(join(sandbox, 'docs', 'hello.txt'), 'hello from the sandbox\n');
  t = await startGateway(
    stdioServer('everything', EVERYTHING, ['stdio']) + stdioServer('files', FILESYSTEM, [sandbox]),
  );
});
after(async () => t?.close());

async function connect(path = '/mcp', capabilities: Record<string, unknown> = {}): Promise<Client> {
  const client = new Client({ name: 'e2e-legacy', version: '1.0.0' }, { capabilities });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${t.url}${path}`)));
  return client;
}

test('lists the tools of both servers under namespaced names', async () => {
  const client = await connect();
  const { tools } = await client.listTools();
  const names = tools.map((x) => x.name);
  assert.ok(names.includes('everything__echo'), names.join(','));
  assert.ok(names.includes('files__read_text_file') || names.includes('files__read_file'), names.join(','));
  assert.ok(names.every((n) => n.startsWith('everything__') || n.startsWith('files__')));
  await client.close();
});

test('calls a tool through the gateway and gets the upstream result', async () => {
  const client = await connect();
  const r = await client.callTool({ name: 'everything__echo', arguments: { message: 'hi through gatehouse' } });
  assert.deepEqual(r.content, [{ type: 'text', text: 'Echo: hi through gatehouse' }]);
  const file = await client.callTool({
    name: 'files__read_text_file',
    arguments: { path: join(sandbox, 'docs', 'hello.txt') },
  });
  assert.match(JSON.stringify(file.content), /hello from the sandbox/);
  await client.close();
});

test('an unknown tool and a tool of an unknown server give the same error', async () => {
  const client = await connect();
  const a = await client.callTool({ name: 'everything__nope', arguments: {} }).catch((e: Error) => e);
  const b = await client.callTool({ name: 'ghost__echo', arguments: {} }).catch((e: Error) => e);
  assert.ok(a instanceof Error && b instanceof Error);
  assert.match(a.message, /-32602.*unknown tool/);
  assert.equal(a.message.replace('everything__nope', 'X'), b.message.replace('ghost__echo', 'X'));
  await client.close();
});

test('arguments that do not match the input schema are a tool result with isError naming every problem, as the server itself answers', async () => {
  const client = await connect();
  const r = await client.callTool({ name: 'everything__get-sum', arguments: { a: 'one' } });
  assert.equal(r.isError, true, JSON.stringify(r));
  const text = (r.content as Array<{ type: string; text: string }>)[0].text;
  assert.match(text, /input schema of `everything__get-sum`; nothing was sent to the server/);
  assert.match(text, /^- `a` must be number$/m);
  assert.match(text, /^- `b` is required$/m);
  const rows = await t.gw.store.audit.read({ kind: 'call.refused', limit: 100 });
  const refused = rows.map((x) => x.event).filter((e) => e.tool === 'everything__get-sum');
  assert.deepEqual(
    refused.map((e) => [e.stage, e.error]),
    [['validate', 'E_INVALID_ARGUMENTS']],
  );
  // Malformed requests stay protocol errors: `arguments` not an object.
  const malformed = await client
    .request({ method: 'tools/call', params: { name: 'everything__get-sum', arguments: [1, 2] } }, CallToolResultSchema)
    .catch((e: Error) => e);
  assert.ok(malformed instanceof Error);
  assert.match(malformed.message, /-32602.*`arguments` must be an object/);
  await client.close();
});

test('progress notifications reach the caller with its own token', async () => {
  const client = await connect();
  const seen: number[] = [];
  const r = await client.callTool(
    { name: 'everything__trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } },
    undefined,
    {
      onprogress: (p) => seen.push(p.progress),
    },
  );
  assert.equal(r.isError ?? false, false);
  assert.deepEqual(seen, [1, 2, 3]);
  await client.close();
});

test('sampling, elicitation and roots requests are routed to the caller that caused them', async () => {
  const client = await connect('/mcp', { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } });
  client.setRequestHandler(CreateMessageRequestSchema, async () => ({
    model: 'test-model',
    role: 'assistant',
    content: { type: 'text', text: 'sampled by the caller' },
  }));
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { name: 'Ada' } }));
  client.setRequestHandler(ListRootsRequestSchema, async () => ({
    roots: [{ uri: 'file:///caller-root', name: 'caller' }],
  }));
  const s = await client.callTool({
    name: 'everything__trigger-sampling-request',
    arguments: { prompt: 'hello', maxTokens: 10 },
  });
  assert.match(JSON.stringify(s.content), /sampled by the caller/);
  const roots = await client.callTool({ name: 'everything__get-roots-list', arguments: {} });
  assert.match(JSON.stringify(roots.content), /caller-root/);
  await client.close();
});

test('a caller without the sampling capability is not asked', async () => {
  const client = await connect();
  const s = await client
    .callTool({ name: 'everything__trigger-sampling-request', arguments: { prompt: 'hello', maxTokens: 10 } })
    .catch((e: Error) => e);
  // The upstream's request is refused by the gateway; the upstream reports the failure.
  assert.ok(s instanceof Error || (s as { isError?: boolean }).isError === true);
  await client.close();
});

test('prompts and resources are aggregated and routed', async () => {
  const client = await connect();
  const { prompts } = await client.listPrompts();
  assert.ok(prompts.some((p) => p.name.startsWith('everything__')));
  const simple = prompts.find((p) => p.name === 'everything__simple-prompt') ?? prompts[0];
  const got = await client.getPrompt({ name: simple.name, arguments: {} }).catch(() => undefined);
  if (simple.name === 'everything__simple-prompt') assert.ok(got && got.messages.length > 0);
  const { resources } = await client.listResources();
  assert.ok(resources.length > 0);
  const read = await client.readResource({ uri: resources[0].uri });
  assert.ok(read.contents.length > 0);
  await client.close();
});

test('the per-server endpoint exposes one server under its own tool names', async () => {
  const client = await connect('/servers/everything/mcp');
  const { tools } = await client.listTools();
  assert.ok(tools.some((x) => x.name === 'echo'));
  assert.ok(!tools.some((x) => x.name.includes('__')));
  const r = await client.callTool({ name: 'echo', arguments: { message: 'scoped' } });
  assert.deepEqual(r.content, [{ type: 'text', text: 'Echo: scoped' }]);
  await client.close();
});

test('sessions end with DELETE and unknown sessions get 404', async () => {
  const client = await connect();
  const transport = client.transport as StreamableHTTPClientTransport;
  const sid = transport.sessionId!;
  await transport.terminateSession();
  const r = await postLegacy(t.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { sid });
  assert.equal(r.status, 404);
  void ToolListChangedNotificationSchema;
});

test('a question for a caller with no stream to be asked on fails fast instead of hanging', async () => {
  const jsonOnly = { accept: 'application/json' };
  const init = await postLegacy(t.url, initializeRequest('json-only', { capabilities: { sampling: {} } }), {
    headers: jsonOnly,
  });
  const sid = init.headers.get('mcp-session-id')!;
  const started = Date.now();
  const call = {
    jsonrpc: '2.0',
    id: 2,
    method: 'tools/call',
    params: { name: 'everything__trigger-sampling-request', arguments: { prompt: 'p', maxTokens: 5 } },
  };
  const r = await postLegacy(t.url, call, { sid, headers: jsonOnly });
  const body = (await r.json()) as { result?: { isError?: boolean }; error?: unknown };
  assert.ok(body.error !== undefined || body.result?.isError === true, JSON.stringify(body));
  assert.ok(Date.now() - started < 5000, 'answered promptly');
});

test('an anonymous loopback session subscribed to a resource hears its updates', async () => {
  const client = await connect();
  const heard: string[] = [];
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void heard.push(n.params.uri));
  const { resources } = await client.listResources();
  const uri = resources.find((r) => r.uri.startsWith('gatehouse:everything/'))?.uri;
  assert.ok(uri, resources.map((r) => r.uri).join(' '));
  await client.subscribeResource({ uri });
  // The server sends an update for each subscribed URI at once, then every 5 s, until toggled off.
  await client.callTool({ name: 'everything__toggle-subscriber-updates', arguments: {} });
  try {
    await eventually(() => heard.includes(uri), { timeoutMs: 8000 });
  } finally {
    await client.callTool({ name: 'everything__toggle-subscriber-updates', arguments: {} });
    await client.close();
  }
});
