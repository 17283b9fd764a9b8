/**
 * End to end, modern era: the SDK v2 client in auto mode negotiates 2026-07-28 with Gatehouse
 * (stateless, `_meta` on every request) in front of legacy upstreams; server->client requests from
 * the upstream come back to the modern client as `input_required` round trips.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Transport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EVERYTHING, ROOT, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { modernMeta, postModern, postModernCall, type Reply } from './support/rpc.ts';
import { eventually } from './support/eventually.ts';

let t: TestGateway;
before(async () => {
  const rec = join(mkdtempSync(join(tmpdir(), 'gatehouse-modern-')), 'rec.jsonl');
  t = await startGateway(
    stdioServer('everything', EVERYTHING, ['stdio']) +
      stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(rec)} }\n`,
  );
});
after(async () => t?.close());

async function connect(capabilities: Record<string, unknown> = {}): Promise<Client> {
  const client = new Client(
    { name: 'e2e-modern', version: '2.0.0' },
    { capabilities, versionNegotiation: { mode: 'auto' } },
  );
  await client.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`)));
  return client;
}

test('the v2 client negotiates the modern era with the gateway', async () => {
  const client = await connect();
  assert.equal(client.getProtocolEra(), 'modern');
  assert.equal(client.getNegotiatedProtocolVersion(), '2026-07-28');
  await client.close();
});

test('lists and calls tools statelessly', async () => {
  const client = await connect();
  const { tools } = await client.listTools();
  assert.ok(tools.some((x) => x.name === 'everything__echo'));
  const r = await client.callTool({ name: 'everything__echo', arguments: { message: 'modern hello' } });
  assert.deepEqual(r.content, [{ type: 'text', text: 'Echo: modern hello' }]);
  await client.close();
});

test('progress reaches a modern caller on the response stream', async () => {
  const client = await connect();
  const seen: number[] = [];
  const r = await client.callTool(
    { name: 'everything__trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } },
    {
      onprogress: (p: { progress: number }) => seen.push(p.progress),
    },
  );
  assert.equal(r.isError ?? false, false);
  assert.deepEqual(seen, [1, 2, 3]);
  await client.close();
});

test('an elicitation from a legacy upstream becomes an input_required round trip', async () => {
  const client = await connect({ elicitation: { form: {} } });
  let asked = 0;
  client.setRequestHandler('elicitation/create', async () => {
    asked++;
    return { action: 'accept', content: { name: 'Ada', check: true } };
  });
  const r = await client.callTool({ name: 'everything__trigger-elicitation-request', arguments: {} });
  assert.equal(asked, 1);
  assert.match(JSON.stringify(r.content), /Ada|accept/);
  await client.close();
});

test('a forged requestState is refused and reaches nothing', async () => {
  const res = await postModernCall(
    t.url,
    'everything__echo',
    { message: 'x' },
    {
      id: 7,
      extra: { requestState: 'gh1.AAAA.BBBB', inputResponses: { q1: { action: 'accept' } } },
    },
  );
  const body = (await res.json()) as { error: { code: number; message: string } };
  assert.equal(body.error.code, -32602);
  assert.match(body.error.message, /request state/);
});

test('server/discover answers without a session', async () => {
  const res = await postModern(t.url, 'server/discover', { _meta: modernMeta() }, { id: 1 });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('mcp-session-id'), null);
  const body = (await res.json()) as {
    result: { supportedVersions: string[]; capabilities: Record<string, unknown>; resultType: string };
  };
  assert.ok(body.result.supportedVersions.includes('2026-07-28'));
  assert.ok(body.result.supportedVersions.includes('2025-11-25'));
  assert.equal(body.result.resultType, 'complete');
  assert.ok(body.result.capabilities.tools);
});

const SERVER_INFO = 'io.modelcontextprotocol/serverInfo';

test('server/discover follows 2026-07-28: no serverInfo of its own, who answers in _meta; every result the v2 client gets names the same server', async () => {
  // schema/2026-07-28/schema.ts: DiscoverResult is supportedVersions, capabilities, instructions and
  // the cacheable fields; basic/index.mdx: serverInfo goes in every result's _meta.
  for (const base of [t.url, `${t.url}/servers/everything`]) {
    const res = await postModern(base, 'server/discover', { _meta: modernMeta() }, { id: 1 });
    const { result } = (await res.json()) as { result: Record<string, unknown> & { _meta: Record<string, unknown> } };
    assert.equal(Object.hasOwn(result, 'serverInfo'), false, base);
    assert.ok((result._meta[SERVER_INFO] as { name?: string })?.name, base);
  }
  for (const [path, gateway] of [
    ['/mcp', true],
    ['/servers/everything/mcp', false],
  ] as const) {
    const client = new Client({ name: 'e2e-modern', version: '2.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${t.url}${path}`)));
    try {
      assert.equal(client.getProtocolEra(), 'modern');
      const who = client.getServerVersion();
      assert.equal(who?.name === 'gatehouse', gateway, `${path}: ${JSON.stringify(who)}`);
      const prefix = gateway ? 'everything__' : '';
      const results: Array<[string, { _meta?: Record<string, unknown> }]> = [
        ['tools/list', await client.listTools()],
        ['prompts/list', await client.listPrompts()],
        ['resources/list', await client.listResources()],
        ['tools/call', await client.callTool({ name: `${prefix}echo`, arguments: { message: 'who' } })],
      ];
      for (const [method, r] of results) assert.deepEqual(r._meta?.[SERVER_INFO], who, `${path} ${method}`);
    } finally {
      await client.close();
    }
  }
  // A 2025-11-25 caller's results carry none of it: serverInfo is its initialize's.
  const legacy = new V1Client({ name: 'e2e-legacy', version: '1.0.0' });
  await legacy.connect(new V1Transport(new URL(`${t.url}/mcp`)));
  try {
    assert.equal(legacy.getServerVersion()?.name, 'gatehouse');
    assert.equal((await legacy.listTools())._meta?.[SERVER_INFO], undefined);
  } finally {
    await legacy.close();
  }
});

const META = modernMeta();
async function raw(
  method: string,
  params: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Reply }> {
  const res = await postModern(t.url, method, params, { id: 42, headers });
  const text = await res.text();
  // An answer as an event stream is the list of its messages (what `levels` below reads).
  const data: unknown = text.startsWith('{')
    ? JSON.parse(text)
    : text
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => JSON.parse(l.slice(6)));
  return { status: res.status, body: data as Reply };
}

test('modern: a request whose _meta lacks the protocol version is -32602 with HTTP 400', async () => {
  const r = await raw('tools/list', {});
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, -32602);
  assert.equal(r.body.id, 42);
});

test('modern: methods 2026-07-28 removed are -32601 with HTTP 404', async () => {
  for (const m of ['ping', 'logging/setLevel']) {
    const r = await raw(m, { _meta: META, level: 'info' });
    assert.equal(r.status, 404, m);
    assert.equal(r.body.error.code, -32601, m);
  }
});

test('modern: a tool that needs sampling from a caller that did not declare it is -32021 with the capability named', async () => {
  const r = await raw(
    'tools/call',
    { name: 'everything__trigger-sampling-request', arguments: { prompt: 'x', maxTokens: 5 }, _meta: META },
    { 'mcp-name': 'everything__trigger-sampling-request' },
  );
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, -32021);
  assert.deepEqual(r.body.error.data, { requiredCapabilities: { sampling: {} } });
});

test('modern: log messages are relayed only when the request asks for them, at or above its level', async () => {
  const call = (meta: Record<string, unknown>) =>
    raw('tools/call', { name: 'rec__log', arguments: {}, _meta: { ...META, ...meta } }, { 'mcp-name': 'rec__log' });
  const levels = (b: unknown) =>
    (Array.isArray(b) ? b : [b])
      .filter((m: Reply) => m.method === 'notifications/message')
      .map((m: Reply) => m.params?.level);
  assert.deepEqual(levels((await call({})).body), [], 'no logLevel: no log messages');
  assert.deepEqual(levels((await call({ 'io.modelcontextprotocol/logLevel': 'info' })).body), ['info', 'error']);
  assert.deepEqual(levels((await call({ 'io.modelcontextprotocol/logLevel': 'debug' })).body), [
    'debug',
    'info',
    'error',
  ]);
});

test('modern: a log level in _meta that is no MCP level is -32602 naming the levels; nothing is relayed', async () => {
  for (const level of ['verbose', 3, null]) {
    const r = await raw(
      'tools/call',
      { name: 'rec__log', arguments: {}, _meta: { ...META, 'io.modelcontextprotocol/logLevel': level } },
      { 'mcp-name': 'rec__log' },
    );
    const replies = (Array.isArray(r.body) ? r.body : [r.body]) as Reply[];
    assert.deepEqual(
      replies.filter((m) => m.method === 'notifications/message'),
      [],
      String(level),
    );
    const last = replies.at(-1);
    assert.equal(last?.error?.code, -32602, JSON.stringify(r.body));
    assert.match(
      last?.error?.message ?? '',
      /`_meta\.io\.modelcontextprotocol\/logLevel` is .*, not a log level \(one of debug, info, notice, warning, error, critical, alert, emergency\)/,
    );
  }
});

test('modern: closing the connection cancels the call upstream', async () => {
  const ac = new AbortController();
  const started = Date.now();
  const p = postModernCall(
    t.url,
    'everything__trigger-long-running-operation',
    { duration: 30, steps: 30 },
    {
      id: 5,
      signal: ac.signal,
    },
  ).catch((e: Error) => e);
  const up = t.gw.upstreams.get('everything')!;
  // The call reached the upstream before the connection closes.
  await eventually(() => up.inFlight > 0);
  ac.abort();
  assert.ok((await p) instanceof Error);
  // The gateway dropped the upstream request (it sent notifications/cancelled): nothing is left in flight.
  await eventually(() => up.inFlight === 0);
  assert.equal(up.inFlight, 0);
  assert.ok(Date.now() - started < 10_000);
});

test('modern: tasks/get, tasks/update and tasks/cancel need Mcp-Name equal to the task id (else -32020, HTTP 400)', async () => {
  for (const method of ['tasks/get', 'tasks/cancel']) {
    const missing = await raw(method, { taskId: 'gh1.x.y', _meta: META });
    assert.equal(missing.status, 400, method);
    assert.equal(missing.body.error.code, -32020);
    const wrong = await raw(method, { taskId: 'gh1.x.y', _meta: META }, { 'mcp-name': 'gh1.x.z' });
    assert.equal(wrong.body.error.code, -32020);
    const right = await raw(method, { taskId: 'gh1.x.y', _meta: META }, { 'mcp-name': 'gh1.x.y' });
    assert.notEqual(right.body.error?.code, -32020, `${method}: the header check passes; the task is unknown`);
  }
});
