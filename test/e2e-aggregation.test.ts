/**
 * Aggregation details, end to end: unsafe upstream names refused, pagination of the merged
 * listing, cancellation reaching the upstream, prompts and completions routed by namespaced name.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ListToolsResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { ROOT, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { linesWith } from './support/lines.ts';
import { postModernCall, replyOf } from './support/rpc.ts';
import { eventually } from './support/eventually.ts';

let t: TestGateway;
let client: Client;
const rec = join(mkdtempSync(join(tmpdir(), 'gatehouse-agg-')), 'rec.jsonl');

before(async () => {
  t = await startGateway(
    stdioServer('cat', join(ROOT, 'test/fixtures/upstreams/catalog-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(rec)} }\n`,
    { gateway: '  pageSize: 10\n' },
  );
  client = new Client({ name: 'agg', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`)));
});
after(async () => {
  await client?.close();
  await t?.close();
});

async function allTools(): Promise<{ names: string[]; pages: number }> {
  const names: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const r = await client.request({ method: 'tools/list', params: cursor ? { cursor } : {} }, ListToolsResultSchema);
    names.push(...r.tools.map((x) => x.name));
    cursor = r.nextCursor;
    pages++;
  } while (cursor);
  return { names, pages };
}

test('look-alike, mixed-script and invisible-character names never reach callers', async () => {
  const { names } = await allTools();
  assert.ok(!names.includes('cat__read_file') && !names.includes('cat__Read-File'), 'look-alikes: both refused');
  assert.ok(!names.some((n) => n.includes('\u0430')), 'mixed-script name refused');
  assert.ok(!names.some((n) => n.includes('\u200b')), 'invisible character refused');
  const err = await client.callTool({ name: 'cat__Read-File', arguments: {} }).catch((e: Error) => e);
  assert.match(String(err), /unknown tool/);
});

test('the merged listing is paginated with opaque cursors', async () => {
  const { names, pages } = await allTools();
  assert.equal(names.length, 32); // wait, regional, t01..t30
  assert.equal(pages, 4);
  assert.equal(new Set(names).size, names.length);
  const bad = await client
    .request({ method: 'tools/list', params: { cursor: 'forged' } }, ListToolsResultSchema)
    .catch((e: Error) => e);
  assert.match(String(bad), /-32602.*cursor/);
});

test('a cursor is good only for its listing on its endpoint: elsewhere it is -32602', async () => {
  const { nextCursor } = await client.request({ method: 'tools/list', params: {} }, ListToolsResultSchema);
  assert.ok(nextCursor);
  const other = new Client({ name: 'agg-scoped', version: '1' });
  await other.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/servers/cat/mcp`)));
  try {
    const foreign = await other
      .request({ method: 'tools/list', params: { cursor: nextCursor } }, ListToolsResultSchema)
      .catch((e: Error) => e);
    assert.match(String(foreign), /-32602.*cursor/);
    const page2 = await other.request({ method: 'tools/list', params: {} }, ListToolsResultSchema);
    assert.ok(page2.nextCursor);
    assert.equal(
      (await other.request({ method: 'tools/list', params: { cursor: page2.nextCursor } }, ListToolsResultSchema)).tools
        .length > 0,
      true,
    );
  } finally {
    await other.close();
  }
  const prompts = await client
    .request({ method: 'prompts/list', params: { cursor: nextCursor } }, ListToolsResultSchema)
    .catch((e: Error) => e);
  assert.match(String(prompts), /-32602.*cursor/);
});

test('a cancelled call is cancelled upstream too', async () => {
  const ac = new AbortController();
  const call = client
    .callTool({ name: 'cat__wait', arguments: {} }, undefined, { signal: ac.signal })
    .catch((e: Error) => e);
  // The call reached the upstream before it is cancelled.
  await eventually(() =>
    readFileSync(rec, 'utf8')
      .split('\n')
      .some((l) => l.includes('"method":"tools/call"') && l.includes('"name":"wait"')),
  );
  ac.abort('the user changed their mind');
  assert.ok((await call) instanceof Error);
  const seen = await eventually(() => {
    const text = readFileSync(rec, 'utf8');
    return text.includes('"aborted":"wait"') && text;
  });
  assert.match(seen, /"method":"notifications\/cancelled"/);
  assert.match(seen, /"aborted":"wait"/);
});

test('prompts and argument completion are routed by namespaced name', async () => {
  const { prompts } = await client.listPrompts();
  assert.deepEqual(
    prompts.map((p) => p.name),
    ['cat__greet'],
  );
  const p = await client.getPrompt({ name: 'cat__greet', arguments: { language: 'esperanto' } });
  assert.deepEqual(p.messages[0].content, { type: 'text', text: 'greet in esperanto' });
  const c = await client.complete({
    ref: { type: 'ref/prompt', name: 'cat__greet' },
    argument: { name: 'language', value: 'es' },
  });
  assert.deepEqual(c.completion.values, ['esperanto', 'estonian']);
  const sent = readFileSync(rec, 'utf8');
  assert.match(sent, /"method":"completion\/complete","params":\{"ref":\{"type":"ref\/prompt","name":"greet"\}/);
});

test('modern callers: Mcp-Param headers must match the x-mcp-header arguments, or nothing reaches the upstream', async () => {
  const call = (region: unknown, headers: Record<string, string>) =>
    postModernCall(t.url, 'cat__regional', { region, query: 'q' }, { id: 9, headers }).then(async (r) => ({
      status: r.status,
      body: await replyOf(r),
    }));
  const count = () => linesWith(rec, '"name":"regional"');
  const before = count();
  for (const [region, headers] of [
    ['eu-west-1', {}],
    ['eu-west-1', { 'mcp-param-region': 'us-east-1' }],
    ['eu-west-1', { 'mcp-param-region': '=?base64?dXMtZWFzdC0x?=' }],
  ] as const) {
    const r = await call(region, headers);
    assert.equal(r.status, 400, JSON.stringify(headers));
    assert.equal(r.body.error.code, -32020);
  }
  assert.equal(count(), before, 'nothing reached the upstream');
  const ok = await call('zürich', { 'mcp-param-region': `=?base64?${Buffer.from('zürich').toString('base64')}?=` });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(count(), before + 1);
});

test('a legacy notifications/cancelled naming a request id above 2^53 cancels that call upstream', async () => {
  const base = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  const post = (body: string, headers: Record<string, string>, signal?: AbortSignal) =>
    fetch(`${t.url}/mcp`, { method: 'POST', headers, body, signal });
  const init = await post(
    JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'big-ids', version: '1' } },
    }),
    base,
  );
  await init.text();
  const h = {
    ...base,
    'mcp-session-id': init.headers.get('mcp-session-id') ?? '',
    'mcp-protocol-version': '2025-11-25',
  };
  await (await post('{"jsonrpc":"2.0","method":"notifications/initialized"}', h)).text();
  const count = (re: RegExp) => (readFileSync(rec, 'utf8').match(re) ?? []).length;
  const waits = count(/"name":"wait"/g);
  const aborted = count(/"aborted":"wait"/g);
  // Written by hand: JSON.stringify could not write this id, a double cannot hold it.
  const call = post(
    '{"jsonrpc":"2.0","id":9007199254740993,"method":"tools/call","params":{"name":"cat__wait","arguments":{}}}',
    h,
    AbortSignal.timeout(15_000),
  )
    .then((r) => r.text())
    .catch(() => ''); // whatever the caller gets for a cancelled request, it is not left hanging
  await eventually(() => count(/"name":"wait"/g) > waits);
  const cancel = await post(
    '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9007199254740993,"reason":"changed my mind"}}',
    h,
  );
  assert.equal(cancel.status, 202);
  await eventually(() => count(/"aborted":"wait"/g) > aborted);
  await call;
});

test("a legacy client's cancellation reaches the upstream with its own reason, when it is a short plain one", async () => {
  const c = new Client({ name: 'canceller', version: '1' });
  await c.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`)));
  const reasons = () =>
    readFileSync(rec, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"notifications/cancelled"'))
      .map((l) => (JSON.parse(l) as { params: { reason?: string } }).params.reason);
  const cases = [
    ['user stop', 'user stop'],
    ['\u001b[2Jcleared\nscreen\u202e', '[2Jcleared screen'],
    ['x'.repeat(300), 'cancelled by the client'],
  ];
  for (const [given, told] of cases) {
    const before = reasons().length;
    const waits = linesWith(rec, '"name":"wait"');
    const abort = new AbortController();
    const call = c.callTool({ name: 'cat__wait', arguments: {} }, undefined, { signal: abort.signal }).catch(() => 'x');
    await eventually(() => linesWith(rec, '"name":"wait"') > waits);
    abort.abort(given);
    await call;
    await eventually(() => reasons().length > before, { timeoutMs: 10_000, intervalMs: 20 });
    assert.equal(reasons().at(-1), told, JSON.stringify(given));
  }
  await c.close();
});
