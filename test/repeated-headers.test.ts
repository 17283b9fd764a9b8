/**
 * Headers that must come once, sent twice, as a hostile client (or a request smuggled past a proxy)
 * would: Node keeps the first of some (host, authorization, content-type) and joins others with ", "
 * (origin, the mcp-* headers, last-event-id), while a proxy in front may act on another. Each repeat
 * is refused at the listener's entry, on every door, naming the header, and nothing reaches the
 * upstream. Raw header lines through node:http (fetch would join them into one).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ROOT, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { linesWith } from './support/lines.ts';
import { rawRequest } from './support/http.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-repeated-headers-'));
const rec = join(tmp, 'rec.jsonl');
let t: TestGateway;
const ran = (needle: string) => linesWith(rec, '"tools/call"', needle);

before(async () => {
  t = await startGateway(
    stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(rec)} }\n    tools: { record: { class: READ } }\n`,
  );
});
after(async () => {
  await t?.close();
  rmSync(tmp, { recursive: true, force: true });
});

type Lines = Array<[string, string]>;

/** Each header line sent as given, in order. */
const raw = (method: string, path: string, lines: Lines, body?: string) =>
  rawRequest(`${t.url}${path}`, method, lines.flat(), body);

/** A valid stateless (2026-07-28) tools/call of rec__record: its header lines and body. */
function recordCall(note: string): { lines: Lines; body: string } {
  const lines: Lines = [
    ['host', new URL(t.url).host],
    ['content-type', 'application/json'],
    ['accept', 'application/json, text/event-stream'],
    ['mcp-protocol-version', '2026-07-28'],
    ['mcp-method', 'tools/call'],
    ['mcp-name', 'rec__record'],
  ];
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: {
      name: 'rec__record',
      arguments: { note },
      _meta: {
        'io.modelcontextprotocol/protocolVersion': '2026-07-28',
        'io.modelcontextprotocol/clientCapabilities': {},
      },
    },
  });
  return { lines, body };
}

/**
 * The headers that must come once, written out here on purpose rather than taken from
 * src/listeners/guards.ts: the test is an independent statement of the list, so a header dropped
 * from the gateway's list fails it.
 */
const ONCE = [
  'authorization',
  'host',
  'origin',
  'content-type',
  'mcp-session-id',
  'mcp-protocol-version',
  'mcp-method',
  'mcp-name',
  'last-event-id',
];

test('the call as sent once reaches the upstream', async () => {
  const note = `once-${randomUUID()}`;
  const { lines, body } = recordCall(note);
  const r = await raw('POST', '/mcp', [...lines, ['origin', `http://${new URL(t.url).host}`]], body);
  assert.equal(r.status, 200, r.text);
  assert.equal(ran(note), 1);
});

test('each header that must come once, sent twice (same value, another value, another case), is refused naming it, and nothing reaches the upstream', async () => {
  const { lines: base } = recordCall('');
  const valueFor = (header: string) =>
    base.find(([n]) => n === header)?.[1] ??
    {
      authorization: 'Bearer ghk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      origin: `http://${new URL(t.url).host}`,
      'mcp-session-id': randomUUID(),
      'last-event-id': '1',
    }[header] ??
    assert.fail(header);
  for (const name of ONCE) {
    for (const [what, second] of [
      ['the same value', [name, valueFor(name)]],
      ['another value', [name, name === 'host' ? 'evil.example' : `${valueFor(name)}x`]],
      ['another case', [name.toUpperCase(), valueFor(name)]],
    ] as Array<[string, [string, string]]>) {
      const note = `twice-${name}-${randomUUID()}`;
      const { lines, body } = recordCall(note);
      const once = lines.some(([n]) => n === name) ? lines : [...lines, [name, valueFor(name)] as [string, string]];
      const r = await raw('POST', '/mcp', [...once, second], body);
      const label = `${name}, ${what}`;
      if (name === 'authorization') {
        assert.equal(r.status, 401, `${label}: ${r.text}`);
        assert.match(r.text, /the request carries 2 authorization headers: send exactly one credential/, label);
      } else {
        assert.equal(r.status, 400, `${label}: ${r.text}`);
        assert.match(r.text, new RegExp(`the request carries 2 \`${name}\` headers: send it once`), label);
      }
      assert.equal(ran(note), 0, `${label}: nothing reached the upstream`);
    }
  }
});

test('every door refuses a repeat before reading anything: approvals, admin api, metrics, health', async () => {
  const host: [string, string] = ['host', new URL(t.url).host];
  for (const [method, path] of [
    ['GET', '/approvals'],
    ['GET', '/admin/v1/inventory'],
    ['POST', '/admin/v1/principals/revoke'],
    ['GET', '/metrics'],
    ['GET', '/healthz'],
    ['GET', '/.well-known/oauth-protected-resource'],
  ]) {
    const twice = await raw(method, path, [host, host]);
    assert.equal(twice.status, 400, `${method} ${path}: ${twice.text}`);
    assert.match(twice.text, /the request carries 2 `host` headers/, path);
    const origins = await raw(method, path, [host, ['origin', 'http://a.example'], ['Origin', 'http://b.example']]);
    assert.equal(origins.status, 400, `${method} ${path}: ${origins.text}`);
    assert.match(origins.text, /the request carries 2 `origin` headers/, path);
  }
  assert.equal((await raw('GET', '/healthz', [host])).status, 200, 'once is fine');
});
