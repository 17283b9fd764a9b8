/**
 * Hostile intake against a running gateway: slow headers and bodies, ids beyond 2^53, compressed and
 * non-UTF-8 bodies, a missing Accept, a protocol version other than the negotiated one, invalid UTF-8
 * from the caller and from the upstream, and a catastrophic regular expression in an upstream's input
 * schema. Each is refused (or answered exactly) and never reaches the upstream; the gateway's event
 * loop delay is measured around the hostile work rather than timing it against this machine's speed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startGateway, type TestGateway } from './support/gateway.ts';
import type { Reply } from './support/rpc.ts';
import { hostileInputHttp, type HostileInput } from './fixtures/upstreams/hostile-input-http.ts';
import { withLoopDelay } from './support/loop-delay.ts';

let t: TestGateway;
let up: HostileInput;
const H = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

before(async () => {
  up = await hostileInputHttp();
  t = await startGateway(`  - { name: h, transport: http, url: ${JSON.stringify(up.url)} }\n`, {
    gateway: '  headersTimeoutMs: 400\n  bodyTimeoutMs: 400\n',
    top: 'inventory: { newTools: accept }\n',
  });
});
after(async () => {
  await t?.close();
  await up?.close();
});

async function post(
  body: string | Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Reply; headers: Headers }> {
  const r = await fetch(`${t.url}/mcp`, { method: 'POST', headers: { ...H, ...headers }, body });
  const text = await r.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: r.status, json: json as Reply, headers: r.headers };
}

async function session(version = '2025-11-25'): Promise<string> {
  const r = await post(
    JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'hostile', version: '1' } },
    }),
  );
  assert.equal(r.status, 200);
  const sid = r.headers.get('mcp-session-id')!;
  await post(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), {
    'mcp-session-id': sid,
    'mcp-protocol-version': version,
  });
  return sid;
}

const call = (id: number | string, name: string, args: unknown = {}) =>
  JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });

/** Open a raw connection, send `head`, and wait for the gateway to answer and hang up. */
function slowClient(head: string): Promise<{ response: string; ms: number }> {
  const url = new URL(t.url);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const s = connect({ host: url.hostname, port: Number(url.port) }, () => s.write(head));
    let response = '';
    s.on('data', (d) => (response += d));
    s.on('close', () => resolve({ response, ms: Date.now() - started }));
    s.on('error', reject);
    setTimeout(() => s.destroy(new Error('the gateway never hung up')), 10_000).unref();
  });
}

test('slow headers: refused with 408 and the connection closed', async () => {
  const host = new URL(t.url).host;
  const r = await slowClient(`POST /mcp HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/json\r\n`);
  assert.match(r.response, /^HTTP\/1\.1 408/);
});

test('slow body: refused with 408 and the connection closed; nothing reached the upstream', async () => {
  const host = new URL(t.url).host;
  const before = up.calls.length;
  const r = await slowClient(
    `POST /mcp HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/json\r\naccept: application/json\r\ncontent-length: 500\r\n\r\n{"jsonrpc":"2.0",`,
  );
  assert.match(r.response, /^HTTP\/1\.1 408/);
  assert.match(r.response, /request body not received within 400 ms/);
  assert.equal(up.calls.length, before);
});

test('an id above 2^53 comes back exactly as it was sent', async () => {
  const body =
    '{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"big","version":"1"}}}';
  const r = await fetch(`${t.url}/mcp`, { method: 'POST', headers: H, body });
  const text = await r.text();
  assert.equal(r.status, 200);
  assert.match(text, /"id":123456789012345678901234567890[,}]/);
});

test('a call with an id above 2^53 is answered with that id', async () => {
  const sid = await session();
  const r = await fetch(`${t.url}/mcp`, {
    method: 'POST',
    headers: { ...H, accept: 'application/json', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' },
    body: call('__ID__', 'h__ok').replace('"__ID__"', '9007199254740993'),
  });
  const text = await r.text();
  assert.match(text, /"id":9007199254740993[,}]/, text);
  assert.match(text, /fine: ok/);
});

test('a request id that is a number but no integer written in digits is refused (MCP: string or integer), named, never echoed or recorded (walk S, F8)', async () => {
  const sid = await session();
  const s = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25', accept: 'application/json' };
  const before = up.calls.length;
  for (const literal of ['1e400', '1.0000000000000000001', '-1e-400', '1.5', '1.0', '1e3', '1E+2']) {
    const r = await post(call('__ID__', 'h__ok').replace('"__ID__"', literal), s);
    const text = JSON.stringify(r.json);
    assert.equal(r.status, 400, text);
    assert.equal(r.json.error?.code, -32600, text);
    assert.equal((r.json as { id?: unknown }).id, null, text);
    assert.match(r.json.error!.message, /^invalid request: id must be a string or an integer written in digits, not `/);
    assert.ok(r.json.error!.message.includes(`\`${literal}\``), text);
  }
  assert.equal(up.calls.length, before, 'nothing reached the upstream');
  const trail = JSON.stringify(await t.gw.store.audit.read({ limit: 1000 }));
  for (const literal of ['1e400', '1.0000000000000000001', '-1e-400']) assert.ok(!trail.includes(literal), literal);
  // Integers in digits stay ids, above 2^53 and negative too.
  for (const literal of ['-7', '0', '123456789012345678901234567890']) {
    const body = call('__ID__', 'h__ok').replace('"__ID__"', literal);
    const text = await (await fetch(`${t.url}/mcp`, { method: 'POST', headers: { ...H, ...s }, body })).text();
    assert.match(text, new RegExp(`"id":${literal}[,}].*fine: ok`));
  }
});

test('refused before the body is read or anything reaches the upstream: gzip, utf-7, other charsets, no Accept', async () => {
  const sid = await session();
  const before = up.calls.length;
  const s = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
  const cases: Array<[Record<string, string>, number, RegExp]> = [
    [{ ...s, 'content-encoding': 'gzip' }, 415, /content-encoding `gzip`/],
    [{ ...s, 'content-type': 'application/json; charset=utf-7' }, 415, /charset `utf-7`/],
    [{ ...s, 'content-type': 'application/json; charset=latin1' }, 415, /charset/],
    [{ ...s, accept: '' }, 406, /accept/],
    [{ ...s, accept: 'text/html' }, 406, /accept/],
  ];
  for (const [headers, status, message] of cases) {
    const r = await post(call(2, 'h__ok'), headers);
    assert.equal(r.status, status, JSON.stringify([headers, r.json]));
    assert.match(r.json.error.message, message);
  }
  assert.equal(up.calls.length, before);
});

test('a protocol version header later than the negotiated one is refused; an earlier legacy one is served (as the conformance suite expects)', async () => {
  const sid = await session('2025-06-18');
  const before = up.calls.length;
  const r = await post(call(3, 'h__ok'), { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, -32022);
  assert.match(r.json.error.message, /not the one this session negotiated/);
  assert.equal(up.calls.length, before);
  assert.equal(
    (await post(call(4, 'h__ok'), { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' })).status,
    200,
  );
  assert.equal(
    (await post(call(5, 'h__ok'), { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-03-26' })).status,
    200,
  );
});

test('invalid utf-8 from the caller is a parse error, never executed with U+FFFD', async () => {
  const sid = await session();
  const before = up.calls.length;
  const body = Buffer.concat([
    Buffer.from('{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"h__ok","arguments":{"q":"'),
    Buffer.from([0xff, 0xfe]),
    Buffer.from('"}}}'),
  ]);
  const r = await post(body, { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, -32700);
  assert.match(r.json.error.message, /utf-8/);
  assert.equal(up.calls.length, before);
});

test('invalid utf-8 from the upstream is refused, in a JSON body and in an SSE event', async () => {
  const sid = await session();
  for (const [id, tool] of [
    [6, 'h__bad_utf8'],
    [7, 'h__bad_utf8_sse'],
  ] as const) {
    const r = await post(call(id, tool), {
      'mcp-session-id': sid,
      'mcp-protocol-version': '2025-11-25',
      accept: 'application/json',
    });
    const text = JSON.stringify(r.json);
    assert.doesNotMatch(text, /\ufffd|\\ufffd/, 'no replacement characters reach the caller');
    assert.ok(r.json.error || r.json.result?.isError, text);
  }
});

test('a catastrophic pattern in the upstream schema does not stop the event loop: the call is refused', async () => {
  const sid = await session();
  const before = up.calls.length;
  const { value, maxDelayMs } = await withLoopDelay(() =>
    post(call(8, 'h__redos', { q: `${'a'.repeat(48)}!` }), {
      'mcp-session-id': sid,
      'mcp-protocol-version': '2025-11-25',
      accept: 'application/json',
    }),
  );
  const text = JSON.stringify(value.json);
  assert.ok(value.json.error || value.json.result?.isError, text);
  assert.match(text, /pattern/);
  assert.equal(up.calls.length, before, 'refused before the upstream');
  // A backtracking engine needs about 2.5 s at 29 characters and doubles per character.
  assert.ok(maxDelayMs < 1000, `the gateway's event loop was blocked ${maxDelayMs} ms`);
  const fine = await post(call(9, 'h__redos', { q: 'hello world' }), {
    'mcp-session-id': sid,
    'mcp-protocol-version': '2025-11-25',
    accept: 'application/json',
  });
  assert.match(JSON.stringify(fine.json), /fine: redos/);
});

test('a number a 64-bit float cannot hold is refused in the call, never sent on rounded; as a string it arrives exactly', async () => {
  const sid = await session();
  const s = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25', accept: 'application/json' };
  const before = up.calls.length;
  for (const literal of ['9007199254740993', '-12345678901234567890', '1e400']) {
    const r = await post(call(9, 'h__ok', { ticket: '__N__' }).replace('"__N__"', literal), s);
    assert.equal(r.status, 400, JSON.stringify(r.json));
    assert.equal(r.json.error.code, -32700);
    assert.match(r.json.error.message, new RegExp(`\`${literal.replace('+', '\\+')}\` cannot be carried exactly`));
  }
  assert.equal(up.calls.length, before, 'nothing reached the upstream');
  const r = await post(call(10, 'h__ok', { ticket: '9007199254740993', exact: 9007199254740991 }), s);
  assert.match(JSON.stringify(r.json), /fine: ok/);
  assert.match(up.bodies.at(-1) ?? '', /"ticket":"9007199254740993","exact":9007199254740991/);
});

test("an upstream's answer holding a number a float cannot hold is refused, in a JSON body and an SSE event; a listing's int64 bound passes", async () => {
  const sid = await session();
  const s = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25', accept: 'application/json' };
  for (const [id, tool] of [
    [11, 'h__big_number'],
    [12, 'h__big_number_sse'],
  ] as const) {
    const r = await post(call(id, tool), s);
    const text = JSON.stringify(r.json);
    assert.equal(r.json.error?.code, -32001, text);
    assert.match(r.json.error.message, /`9007199254740993`.*cannot carry exactly/, text);
    assert.doesNotMatch(text, /9007199254740992/, 'the rounded number never reaches the caller');
  }
  const listed = await post(JSON.stringify({ jsonrpc: '2.0', id: 13, method: 'tools/list', params: {} }), s);
  const bounded = listed.json.result?.tools?.find((x: { name: string }) => x.name === 'h__bounded');
  assert.ok(bounded, 'the listing with an int64 bound is served');
});

test('a resource of a server that declared no resources is unknown: resources/read and subscribe never reach it', async () => {
  const sid = await session();
  const s = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25', accept: 'application/json' };
  for (const [id, method] of [
    [14, 'resources/read'],
    [15, 'resources/subscribe'],
  ] as const) {
    const before = up.requests.length;
    const r = await post(
      JSON.stringify({ jsonrpc: '2.0', id, method, params: { uri: 'gatehouse:h/file:///etc/passwd' } }),
      s,
    );
    assert.match(r.json.error?.message ?? '', /unknown resource/, JSON.stringify(r.json));
    assert.equal(up.requests.length, before, `${method} reached the upstream`);
  }
});
