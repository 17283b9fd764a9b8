/**
 * What upstreams send is bounded in all, not only per message (ADR 0009, "A budget of bytes held
 * from upstreams"). A hostile HTTP server (raw node:http, 2025-11-25 era) called by acme answers
 * larger than its `messages.maxBytes`, holds answers half sent to fill the gateway's
 * `maxUpstreamBufferedBytes` (configured small: 1 MiB), and floods its GET stream with a notification
 * over `maxNotificationBytes`. Each refused answer fails its own call with the catalogue's error, the
 * gateway keeps serving globex's calls on another server, the notification is dropped unread, and
 * every byte held goes back to the budget: answers finished, connections cut.
 * (Before, each answer could take 64 MiB on any of 256 connections, and notifications were parsed whole.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKey, startGateway, type TestGateway } from './support/gateway.ts';
import { hostileInputHttp, type HostileInput } from './fixtures/upstreams/hostile-input-http.ts';
import { postModernCall } from './support/rpc.ts';
import { eventually } from './support/eventually.ts';
import { capturedLog } from './support/logs.ts';
import type { JsonRpcNotification } from '../src/protocol/jsonrpc.ts';
import { listenOnLoopback } from './support/http.ts';

const KIB = 1024;
const MAX_MESSAGE = 384 * KIB;
const BUDGET = 1024 * KIB;
/** A `hold` answer: more than a quarter of the budget, so one server's half holds one of them, never two. */
const HOLD = 300_000;

interface Flood {
  url: string;
  /** Answers of `hold` calls, half sent: finish or cut them. */
  holding: ServerResponse[];
  /** The GET streams the gateway opened. */
  streams: ServerResponse[];
  /** Answers to the server's own requests (their ids). */
  answered: unknown[];
  close(): Promise<void>;
}

const TOOLS = ['ok', 'huge', 'huge_sse', 'hold', 'big'].map((name) => ({
  name,
  description: name,
  inputSchema: { type: 'object' },
}));

/** The hostile server: `huge` answers 400 kB of JSON, `huge_sse` one SSE event of 400 kB, `hold` 300 kB and waits, `big` 300 kB. */
async function flood(): Promise<Flood> {
  const holding: ServerResponse[] = [];
  const streams: ServerResponse[] = [];
  const answered: unknown[] = [];
  const http = createServer(async (req, res) => {
    res.on('error', () => {});
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/event-stream' }).flushHeaders();
      streams.push(res);
      return;
    }
    let text = '';
    for await (const c of req) text += c;
    if (req.method !== 'POST') return void res.writeHead(405).end();
    const msg = JSON.parse(text || '{}') as { id?: number; method?: string; params?: { name?: string } };
    const ok = (result: unknown) =>
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }));
    if (msg.method === undefined) answered.push(msg.id); // an answer to the server's own request
    if (msg.id === undefined || msg.method === undefined) return void res.writeHead(202).end();
    if (msg.method === 'server/discover') return void res.writeHead(404, { 'content-type': 'text/html' }).end('no');
    if (msg.method === 'initialize')
      return ok({
        protocolVersion: '2025-06-18',
        capabilities: { tools: {} },
        serverInfo: { name: 'flood', version: '1' },
      });
    if (msg.method === 'tools/list') return ok({ tools: TOOLS });
    const head = `{"jsonrpc":"2.0","id":${msg.id},"result":{"content":[{"type":"text","text":"`;
    const tail = '"}]}}';
    switch (msg.params?.name) {
      case 'huge':
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(head + 'h'.repeat(400_000) + tail);
      case 'huge_sse':
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        return void res.end(`event: message\ndata: ${head}${'s'.repeat(400_000)}${tail}\n\n`);
      case 'hold':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(head + 'w'.repeat(HOLD));
        holding.push(res);
        return;
      case 'big':
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(head + 'b'.repeat(HOLD) + tail);
      default:
        return ok({ content: [{ type: 'text', text: `fine: ${msg.params?.name}` }] });
    }
  });
  const { url, close } = await listenOnLoopback(http, '/mcp');
  return { url, holding, streams, answered, close };
}

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-budget-'));
const keys: Record<string, string> = {};
const { log, lines: logs } = capturedLog('warn');
let t: TestGateway;
let up: Flood;
let calm: HostileInput;

before(async () => {
  const policy = join(tmp, 'policy.yaml');
  writeFileSync(policy, "rules:\n  - { id: all, tools: ['h__*', 'calm__*'], effect: allow }\n");
  up = await flood();
  calm = await hostileInputHttp();
  const tools = (names: string[]) => `    tools: { ${names.map((n) => `${n}: { class: READ }`).join(', ')} }\n`;
  t = await startGateway(
    `  - name: h\n    transport: http\n    url: ${JSON.stringify(up.url)}\n` +
      `    messages: { maxBytes: ${MAX_MESSAGE}, maxNotificationBytes: ${16 * KIB} }\n` +
      tools(TOOLS.map((x) => x.name)) +
      `  - name: calm\n    transport: http\n    url: ${JSON.stringify(calm.url)}\n` +
      tools(['ok']),
    {
      gateway: `  maxUpstreamBufferedBytes: ${BUDGET}\n`,
      top: `identity: { apiKeys: true }\npolicy: { files: [${JSON.stringify(policy)}] }\ninventory: { newTools: accept }\n`,
      log,
    },
  );
  for (const tenant of ['acme', 'globex']) keys[tenant] = await createKey(t.file, { name: tenant, tenant });
});
after(async () => {
  await t?.close();
  await up?.close();
  await calm?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'budget', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

async function call(
  tenant: string,
  name: string,
): Promise<{ error?: { code: number; message: string }; result?: unknown }> {
  const r = await postModernCall(t.url, name, {}, { token: keys[tenant], id: 1, extra: { _meta: META } });
  const text = await r.text();
  const data = text.startsWith('{') ? text : text.slice(text.indexOf('data: ') + 6).split('\n')[0];
  return JSON.parse(data);
}

const metric = async (line: RegExp) => assert.match(await (await fetch(`${t.url}/metrics`)).text(), line);

test("an answer over the server's maxBytes fails its call, JSON or SSE; the gateway goes on", async () => {
  for (const name of ['h__huge', 'h__huge_sse']) {
    const r = await call('acme', name);
    assert.equal(r.error?.code, -32603, name);
    assert.equal(r.error?.message, `upstream response larger than ${MAX_MESSAGE} bytes`, name);
  }
  assert.match(JSON.stringify(await call('acme', 'h__ok')), /fine: ok/);
  assert.equal(t.gw.upstreamBytes.held, 0);
  await metric(/gatehouse_upstream_messages_refused_total\{reason="too_large"\} 2/);
  assert.ok(logs.some((l) => l.msg === 'refused an oversized upstream message' && l.upstream === 'http:h'));
});

test("answers held half sent fill the server's half of the budget: the rest are refused, globex's call on another server is served, and every byte comes back", async () => {
  // Five answers of 300 kB at once: the server's connections may hold 512 kB together, so one is held and four refused.
  const holds = Array.from({ length: 5 }, () => call('acme', 'h__hold'));
  await eventually(() => up.holding.length === 5);
  const settled: Array<Awaited<(typeof holds)[number]>> = [];
  for (const h of holds) void h.then((r) => settled.push(r));
  await eventually(() => settled.length === 4);
  for (const r of settled) {
    assert.equal(r.error?.code, -32603);
    assert.equal(r.error?.message, 'the gateway holds too much unread upstream data: the response was refused');
  }
  // The one held: its 300 kB and the JSON before them.
  await eventually(() => t.gw.upstreamBytes.held > HOLD);
  const one = t.gw.upstreamBytes.held;
  assert.ok(one < HOLD + 200, `${one}`);
  await metric(new RegExp(`gatehouse_upstream_buffered_bytes ${one}\n`));
  await metric(/gatehouse_upstream_messages_refused_total\{reason="budget"\} 4/);
  assert.ok(logs.some((l) => l.msg?.startsWith('refused an upstream message: over the budget')));

  // Within the server's bound, but over its half of what the gateway may hold: refused, nothing more held.
  const refused = await call('acme', 'h__big');
  assert.equal(refused.error?.message, 'the gateway holds too much unread upstream data: the response was refused');
  assert.equal(t.gw.upstreamBytes.held, one);

  // Another tenant, another server: its answer is read as ever.
  assert.match(JSON.stringify(await call('globex', 'calm__ok')), /fine: ok/);

  // The answer held ends (parsed and passed on): given back.
  const open = up.holding.filter((r) => !r.destroyed);
  assert.equal(open.length, 1, 'the refused answers had their connections closed');
  open[0].end('"}]}}');
  assert.equal(settled.length, 4);
  await eventually(() => settled.length === 5);
  assert.equal(settled.filter((r) => r.result).length, 1);
  await eventually(() => t.gw.upstreamBytes.held === 0);

  // One more held, then its connection cut by the server: given back too.
  const cut = call('acme', 'h__hold');
  await eventually(() => t.gw.upstreamBytes.held > HOLD);
  up.holding.at(-1)?.destroy();
  assert.equal((await cut).error?.code, -32603);
  await eventually(() => t.gw.upstreamBytes.held === 0);
  await metric(/gatehouse_upstream_buffered_bytes 0\n/);
  assert.match(JSON.stringify(await call('acme', 'h__ok')), /fine: ok/);
});

test('a notification over maxNotificationBytes on the GET stream is dropped unread; the stream reads on', async () => {
  const catalogue = t.gw.upstreams.get('h');
  assert.ok(catalogue);
  await eventually(() => up.streams.length >= 1);
  const seen: JsonRpcNotification[] = [];
  catalogue.on('event', (n) => seen.push(n));
  const event = (m: object) => `event: message\ndata: ${JSON.stringify(m)}\n\n`;
  const big = { jsonrpc: '2.0', method: 'notifications/tools/list_changed', params: { pad: 'n'.repeat(50_000) } };
  const small = { jsonrpc: '2.0', method: 'notifications/tools/list_changed', params: { after: true } };
  for (const s of up.streams) s.write(event(big) + event(small));
  // The small one comes after the big one on the same stream: once it is in, the big one was dropped.
  await eventually(() => seen.length >= 1);
  assert.equal(seen.length, 1);
  assert.deepEqual(seen[0].params, { after: true });
  assert.ok(logs.some((l) => l.msg === 'dropped an oversized upstream notification unread'));
  await metric(/gatehouse_upstream_messages_refused_total\{reason="notification"\} [1-9]/);
  assert.equal(t.gw.upstreamBytes.held, 0);
});
