/**
 * End to end with HTTP upstreams of every kind: server-everything over Streamable HTTP (legacy era)
 * and over HTTP+SSE (2024-11-05), and an SDK v2 server that speaks only 2026-07-28. Each is probed,
 * its verdict cached, and reached by legacy and modern callers alike.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Transport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as V2Client, StreamableHTTPClientTransport as V2Transport } from '@modelcontextprotocol/client';
import { EVERYTHING, ROOT, startGateway, type TestGateway } from './support/gateway.ts';
import { startOnPort, startPrintingUrl, type Proc } from './support/processes.ts';
import { eventually } from './support/eventually.ts';
import { postModernCall, replyOf } from './support/rpc.ts';

let t: TestGateway;
const procs: Proc[] = [];

before(async () => {
  const [http, sse, modern] = await Promise.all([
    startOnPort(EVERYTHING, ['streamableHttp'], '/mcp'),
    startOnPort(EVERYTHING, ['sse'], '/sse'),
    startPrintingUrl(join(ROOT, 'test/fixtures/upstreams/modern-server.ts')),
  ]);
  procs.push(http, sse, modern);
  t = await startGateway(
    `  - { name: ehttp, transport: http, url: ${JSON.stringify(http.url)} }\n` +
      `  - { name: esse, transport: sse, url: ${JSON.stringify(sse.url)} }\n` +
      `  - { name: modern, transport: http, url: ${JSON.stringify(modern.url)} }\n`,
    { top: 'inventory: { newTools: accept }  # modern__grow adds tools at run time\n' },
  );
});
after(async () => {
  await t?.close();
  await Promise.all(procs.map((p) => p.stop()));
});

async function legacyClient(caps: Record<string, unknown> = {}): Promise<V1Client> {
  const c = new V1Client({ name: 'legacy', version: '1' }, { capabilities: caps });
  await c.connect(new V1Transport(new URL(`${t.url}/mcp`)));
  return c;
}
async function modernClient(caps: Record<string, unknown> = {}): Promise<V2Client> {
  const c = new V2Client(
    { name: 'modern', version: '2' },
    { capabilities: caps, versionNegotiation: { mode: 'auto' } },
  );
  await c.connect(new V2Transport(new URL(`${t.url}/mcp`)));
  return c;
}

test('each upstream was probed to the right era and the verdict is stored', async () => {
  assert.equal(t.gw.upstreams.get('ehttp')!.identity!.era, 'legacy');
  assert.equal(t.gw.upstreams.get('esse')!.identity!.era, 'legacy');
  assert.equal(t.gw.upstreams.get('modern')!.identity!.era, 'modern');
  assert.equal((await t.gw.store.verdicts.get('modern'))?.era, 'modern');
  assert.equal((await t.gw.store.verdicts.get('ehttp'))?.era, 'legacy');
});

/** A caller that calls a tool of each of the three upstreams through the gateway gets each one's answer. */
async function callsEachUpstream(content: (name: string, args: Record<string, unknown>) => Promise<unknown>) {
  assert.deepEqual(await content('ehttp__echo', { message: 'a' }), [{ type: 'text', text: 'Echo: a' }]);
  assert.deepEqual(await content('esse__echo', { message: 'b' }), [{ type: 'text', text: 'Echo: b' }]);
  assert.deepEqual(await content('modern__greet', { name: 'c' }), [{ type: 'text', text: 'hello c' }]);
}

test('a legacy caller reaches all three upstreams', async () => {
  const c = await legacyClient();
  const names = (await c.listTools()).tools.map((x) => x.name);
  for (const n of ['ehttp__echo', 'esse__echo', 'modern__greet']) assert.ok(names.includes(n), n);
  await callsEachUpstream(async (name, args) => (await c.callTool({ name, arguments: args })).content);
  await c.close();
});

test('a modern caller reaches all three upstreams', async () => {
  const c = await modernClient();
  assert.equal(c.getProtocolEra(), 'modern');
  await callsEachUpstream(async (name, args) => (await c.callTool({ name, arguments: args })).content);
  await c.close();
});

test('the gateway sends the 2026-07-28 headers to a modern upstream', async () => {
  const c = await legacyClient();
  await c.callTool({ name: 'modern__greet', arguments: { name: 'h' } });
  const r = await c.callTool({ name: 'modern__headers', arguments: {} });
  const seen = JSON.parse((r.content as Array<{ text: string }>)[0].text) as Record<string, string>;
  assert.deepEqual(seen, { method: 'tools/call', name: 'headers', version: '2026-07-28' });
  await c.close();
});

test('input_required from a modern upstream: passed through to a modern caller', async () => {
  const c = await modernClient({ elicitation: { form: {} } });
  let asked = '';
  c.setRequestHandler('elicitation/create', async (req: { params: { message: string } }) => {
    asked = req.params.message;
    return { action: 'accept', content: { ok: true } };
  });
  const r = await c.callTool({ name: 'modern__confirm', arguments: { action: 'deploy' } });
  assert.equal(asked, 'Really deploy?');
  assert.deepEqual(r.content, [{ type: 'text', text: 'did deploy' }]);
  await c.close();
});

test('input_required from a modern upstream: played out as elicitation for a legacy caller', async () => {
  const { ElicitRequestSchema } = await import('@modelcontextprotocol/sdk/types.js');
  const c = await legacyClient({ elicitation: { form: {} } });
  let asked = '';
  c.setRequestHandler(ElicitRequestSchema, async (req) => {
    asked = String(req.params.message);
    return { action: 'accept', content: { ok: true } };
  });
  const r = await c.callTool({ name: 'modern__confirm', arguments: { action: 'ship' } });
  assert.equal(asked, 'Really ship?');
  assert.deepEqual(r.content, [{ type: 'text', text: 'did ship' }]);
  await c.close();
});

test('input_required from a modern upstream asking a method no server may ask: the call ends, no caller of either era is asked', async () => {
  const r = await postModernCall(t.url, 'modern__stray', {}, { capabilities: { elicitation: { form: {} } } });
  const modern = await replyOf(r);
  assert.equal(modern.result, undefined, JSON.stringify(modern));
  assert.equal(modern.error?.code, -32603);
  assert.match(String(modern.error?.message), /asked for input the gateway relays to no client \(method not found\)/);
  assert.doesNotMatch(JSON.stringify(modern), /stray\/ask/);
  const c = await legacyClient({ elicitation: { form: {} }, sampling: {}, roots: {} });
  const asked: unknown[] = [];
  c.fallbackRequestHandler = async (req) => {
    asked.push(req);
    return {};
  };
  await assert.rejects(c.callTool({ name: 'modern__stray', arguments: {} }), /relays to no client/);
  assert.deepEqual(asked, []);
  await c.close();
});

test('a server->client request on an HTTP upstream reaches its caller (sampling over the response stream)', async () => {
  const { CreateMessageRequestSchema } = await import('@modelcontextprotocol/sdk/types.js');
  const c = await legacyClient({ sampling: {} });
  c.setRequestHandler(CreateMessageRequestSchema, async () => ({
    model: 'm',
    role: 'assistant',
    content: { type: 'text', text: 'from the caller' },
  }));
  const r = await c.callTool({ name: 'ehttp__trigger-sampling-request', arguments: { prompt: 'p', maxTokens: 5 } });
  assert.match(JSON.stringify(r.content), /from the caller/);
  await c.close();
});

test('a modern upstream announces a list change on its listen stream; the gateway refreshes and fans out', async () => {
  const c = await legacyClient();
  await c.callTool({ name: 'modern__grow', arguments: {} });
  await eventually(
    async () => {
      const names = (await c.listTools()).tools.map((x) => x.name);
      assert.ok(names.includes('modern__extra_1'), names.join(','));
      return true;
    },
    { intervalMs: 100 },
  );
  await c.close();
});

test('a legacy caller gets 2025-shaped results from a modern upstream (no resultType)', async () => {
  const c = await legacyClient();
  const r = await c.request(
    { method: 'tools/call', params: { name: 'modern__greet', arguments: { name: 'x' } } },
    (await import('@modelcontextprotocol/sdk/types.js')).CallToolResultSchema.passthrough(),
  );
  assert.equal((r as Record<string, unknown>).resultType, undefined);
  await c.close();
});

test('a modern (SDK v2) caller reads a resource of a 2025-era upstream: ttlMs and cacheScope filled (no caching)', async () => {
  const c = await modernClient();
  for (const server of ['ehttp', 'esse']) {
    const { resources } = await c.listResources();
    const mine = resources.find((r) => r.uri.includes(server) && r.uri.endsWith('architecture.md'));
    assert.ok(mine, `${server}: ${resources.map((r) => r.uri).join(', ')}`);
    // The v2 client refuses a read without them (INVALID_RESULT): the read itself is the check.
    const r = (await c.readResource({ uri: mine.uri })) as Record<string, unknown>;
    assert.match(JSON.stringify(r.contents), /architecture/i);
    assert.equal(r.ttlMs, 0);
    assert.equal(r.cacheScope, 'private');
  }
  await c.close();
});

test("server/discover on a per-server endpoint says what initialize says there: the server's serverInfo and instructions", async () => {
  const url = new URL(`${t.url}/servers/ehttp/mcp`);
  const legacy = new V1Client({ name: 'legacy', version: '1' });
  await legacy.connect(new V1Transport(url));
  const modern = new V2Client({ name: 'modern', version: '2' }, { versionNegotiation: { mode: 'auto' } });
  await modern.connect(new V2Transport(url));
  assert.equal(modern.getProtocolEra(), 'modern');
  const info = legacy.getServerVersion();
  assert.notEqual(info?.name, 'gatehouse');
  assert.equal(modern.getServerVersion()?.name, info?.name);
  assert.equal(modern.getServerVersion()?.version, info?.version);
  assert.ok(legacy.getInstructions(), 'server-everything has instructions');
  assert.equal(modern.getInstructions(), legacy.getInstructions());
  await legacy.close();
  await modern.close();
});
