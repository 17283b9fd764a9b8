/**
 * Hostile protocol input: each request is refused with the documented status and code, and nothing
 * reaches the upstream. The upstream is a real stdio MCP server that appends every message it
 * receives to a file, so "nothing reached it" is checked, not assumed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { startGateway, stdioServer, ROOT, type TestGateway } from './support/gateway.ts';
import { linesWith } from './support/lines.ts';
import { rawRequest } from './support/http.ts';
import type { Reply } from './support/rpc.ts';

let t: TestGateway;
const recordFile = join(mkdtempSync(join(tmpdir(), 'gatehouse-rec-')), 'received.jsonl');
const RECORDER = join(ROOT, 'test/fixtures/upstreams/recording-server.ts');

before(async () => {
  const server = `${stdioServer('rec', RECORDER)}    env: { RECORD_FILE: ${JSON.stringify(recordFile)} }\n`;
  t = await startGateway(server, { gateway: '  maxBodyBytes: 1048576\n' });
});
after(async () => t?.close());

/** Tool calls the recorder saw (it records to the path in its env; see the fixture). */
function upstreamCalls(): string[] {
  return readFileSync(recordFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"tools/call"'));
}

const LEGACY = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

async function post(
  body: string | Buffer,
  headers: Record<string, string> = {},
  path = '/mcp',
): Promise<{ status: number; json: Reply }> {
  const r = await fetch(`${t.url}${path}`, { method: 'POST', headers: { ...LEGACY, ...headers }, body });
  const text = await r.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: r.status, json: json as Reply };
}

/** node:http, because fetch will not send a Host header of our choosing. */
async function rawPost(body: string, headers: Record<string, string>): Promise<{ status: number; json: Reply }> {
  const r = await rawRequest(`${t.url}/mcp`, 'POST', headers, body);
  return { status: r.status, json: JSON.parse(r.text) };
}

function modernCall(name: string, args: unknown = {}, version = '2026-07-28') {
  return JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: {
      name,
      arguments: args,
      _meta: { 'io.modelcontextprotocol/protocolVersion': version, 'io.modelcontextprotocol/clientCapabilities': {} },
    },
  });
}
const modernHeaders = (name: string, version = '2026-07-28') => ({
  'mcp-protocol-version': version,
  'mcp-method': 'tools/call',
  'mcp-name': name,
});

test('control: a well-formed modern call reaches the upstream', async () => {
  const before = upstreamCalls().length;
  const r = await post(modernCall('rec__record', { note: 'ok' }), modernHeaders('rec__record'));
  assert.equal(r.status, 200);
  assert.equal(r.json.result.resultType, 'complete');
  assert.equal(upstreamCalls().length, before + 1);
});

const cases: Array<[string, () => Promise<{ status: number; json: Reply }>, number, number | null]> = [
  [
    'foreign Origin',
    () => post(modernCall('rec__record'), { ...modernHeaders('rec__record'), origin: 'http://evil.example' }),
    403,
    -32600,
  ],
  [
    'null Origin',
    () => post(modernCall('rec__record'), { ...modernHeaders('rec__record'), origin: 'null' }),
    403,
    -32600,
  ],
  [
    'unsupported protocol version (body and header)',
    () => post(modernCall('rec__record', {}, '2099-01-01'), modernHeaders('rec__record', '2099-01-01')),
    400,
    -32022,
  ],
  [
    'unsupported protocol version header on a legacy request',
    () =>
      post(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {} }), {
        'mcp-protocol-version': '1999-01-01',
      }),
    400,
    -32022,
  ],
  ['Mcp-Name does not match the body', () => post(modernCall('rec__record'), modernHeaders('rec__other')), 400, -32020],
  [
    'Mcp-Method does not match the body',
    () => post(modernCall('rec__record'), { ...modernHeaders('rec__record'), 'mcp-method': 'tools/list' }),
    400,
    -32020,
  ],
  [
    'protocol version header does not match the body',
    () => post(modernCall('rec__record'), { ...modernHeaders('rec__record'), 'mcp-protocol-version': '2025-11-25' }),
    400,
    -32020,
  ],
  [
    'missing Mcp-Name',
    () => post(modernCall('rec__record'), { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call' }),
    400,
    -32020,
  ],
  [
    'duplicate JSON keys',
    () =>
      post(
        modernCall('rec__record').replace('"name":"rec__record"', '"name":"rec__record","name":"rec__record"'),
        modernHeaders('rec__record'),
      ),
    400,
    -32700,
  ],
  [
    '100,000-deep nesting',
    () =>
      post(
        `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
        modernHeaders('rec__record'),
      ),
    400,
    -32700,
  ],
  ['a batch array', () => post(`[${modernCall('rec__record')}]`, modernHeaders('rec__record')), 400, -32600],
  [
    'an unknown session id',
    () =>
      post(
        JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'rec__record', arguments: {} } }),
        { 'mcp-session-id': 'AAAAAAAAAAAAAAAAAAAAAA', 'mcp-protocol-version': '2025-11-25' },
      ),
    404,
    -32600,
  ],
  [
    'a legacy request without a session',
    () =>
      post(
        JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'rec__record', arguments: {} } }),
      ),
    400,
    -32600,
  ],
  ['not json at all', () => post('{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {'), 400, -32700],
  [
    'wrong content type',
    () => post(modernCall('rec__record'), { ...modernHeaders('rec__record'), 'content-type': 'text/plain' }),
    415,
    -32600,
  ],
  [
    'jsonrpc version missing',
    () =>
      post(
        JSON.stringify({ id: 1, method: 'tools/call', params: { name: 'rec__record' } }),
        modernHeaders('rec__record'),
      ),
    400,
    -32600,
  ],
  [
    'a foreign Host header (DNS rebinding)',
    () =>
      rawPost(modernCall('rec__record'), { ...LEGACY, ...modernHeaders('rec__record'), host: 'attacker.example:8765' }),
    403,
    -32600,
  ],
];

for (const [name, send, status, code] of cases) {
  test(`refused: ${name}`, async () => {
    const before = upstreamCalls().length;
    const r = await send();
    assert.equal(r.status, status, JSON.stringify(r.json));
    if (code !== null) assert.equal(r.json.error.code, code, JSON.stringify(r.json));
    assert.equal(upstreamCalls().length, before, 'nothing reaches the upstream');
  });
}

test('a missing header is named as missing, a header that disagrees as not matching', async () => {
  const { 'mcp-protocol-version': _v, ...noVersion } = modernHeaders('rec__record');
  const missing = await post(modernCall('rec__record'), noVersion);
  assert.match(
    missing.json.error.message,
    /the mcp-protocol-version header is missing \(the body declares `2026-07-28`\)/,
  );
  const { 'mcp-method': _m, ...noMethod } = modernHeaders('rec__record');
  assert.match(
    (await post(modernCall('rec__record'), noMethod)).json.error.message,
    /the mcp-method header is missing/,
  );
  const { 'mcp-name': _n, ...noName } = modernHeaders('rec__record');
  assert.match((await post(modernCall('rec__record'), noName)).json.error.message, /the mcp-name header is missing/);
  const other = await post(modernCall('rec__record'), modernHeaders('rec__other'));
  assert.match(other.json.error.message, /mcp-name does not match the body name/);
  const noAccept = await post(modernCall('rec__record'), { ...modernHeaders('rec__record'), accept: 'text/html' });
  assert.equal(noAccept.status, 406);
  assert.match(noAccept.json.error.message, /accept must include application\/json or text\/event-stream/);
});

test('a client that accepts only text/event-stream gets every answer as a stream, never a JSON body its Accept refused (walk AA)', async () => {
  const only = { ...modernHeaders('rec__record'), accept: 'text/event-stream' };
  const events = async (r: Response) => {
    assert.match(r.headers.get('content-type') ?? '', /^text\/event-stream/);
    const text = await r.text();
    const data = text
      .split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => JSON.parse(l.slice(6)) as Reply);
    assert.equal(data.length, 1, text);
    return data[0];
  };
  const ok = await fetch(`${t.url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...only },
    body: modernCall('rec__record', { note: 'sse only' }),
  });
  assert.equal(ok.status, 200);
  assert.equal((await events(ok)).result.resultType, 'complete');
  // An error keeps the status its era gives it, in the one form the client takes.
  const unknown = await fetch(`${t.url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...only, 'mcp-name': 'rec__nope' },
    body: modernCall('rec__nope'),
  });
  assert.equal((await events(unknown)).error.code, -32602);
  // Refused before dispatch (walk CC): bad JSON, a batch, an unknown session, a header that disagrees.
  for (const [what, body, headers, status] of [
    ['bad JSON', '{"jsonrpc":', only, 400],
    ['a batch', '[]', only, 400],
    [
      'an unknown session',
      '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
      { accept: 'text/event-stream', 'mcp-session-id': 'f'.repeat(32) },
      404,
    ],
    ['a header that disagrees', modernCall('rec__record'), { ...only, 'mcp-name': 'rec__other' }, 400],
  ] as const) {
    const r = await fetch(`${t.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
    assert.equal(r.status, status, what);
    assert.ok((await events(r)).error, what);
  }
});

test("a method named like an object's inherited property is an unknown method, not a lookup into the prototype", async () => {
  for (const method of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method,
      params: {
        _meta: {
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientCapabilities': {},
        },
      },
    });
    const r = await post(body, { 'mcp-protocol-version': '2026-07-28', 'mcp-method': method });
    assert.equal(r.status, 404, `${method}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.error.message, `method not found: \`${method}\``);
  }
});

test('refused: a 50 MB body is cut off at the limit with 413', async () => {
  const before = upstreamCalls().length;
  const url = new URL(`${t.url}/mcp`);
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: '/mcp',
        method: 'POST',
        headers: { ...LEGACY, ...modernHeaders('rec__record') },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let sent = 0;
    const pump = () => {
      while (sent < 50) {
        sent++;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    req.write('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"rec__record","arguments":{"x":"');
    pump();
  });
  assert.equal(status, 413);
  assert.equal(upstreamCalls().length, before);
});

test('the error body of an internal failure leaks nothing', async () => {
  const r = await post(modernCall('rec__record', {}, '2026-07-28'), {
    ...modernHeaders('rec__record'),
    'mcp-name': '=?base64?!!!?=',
  });
  assert.equal(r.status, 400);
  assert.doesNotMatch(JSON.stringify(r.json), /at .*\.ts|\/work\/|node:internal|127\.0\.0\.1/);
});

test('a storm of list_changed from an upstream costs one or two listings, not one each; the gateway keeps answering', async () => {
  const lists = () => linesWith(recordFile, '"tools/list"');
  const before = lists();
  const r = await post(modernCall('rec__storm', { n: 500 }), modernHeaders('rec__storm'));
  assert.equal(r.json.result?.resultType, 'complete', JSON.stringify(r.json));
  // Let the refreshes it caused finish: the count stops moving.
  let last = -1;
  for (let i = 0; i < 40 && lists() !== last; i++) {
    last = lists();
    await new Promise((res) => setTimeout(res, 250));
  }
  const asked = lists() - before;
  assert.ok(asked >= 1 && asked <= 3, `the upstream was asked for its tools ${asked} times`);
  const ok = await post(modernCall('rec__record', { note: 'after' }), modernHeaders('rec__record'));
  assert.equal(ok.json.result?.resultType, 'complete');
});
