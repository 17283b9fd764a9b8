/**
 * The budget of request bytes held (`gateway.maxBufferedRequestBytes`, ADR 0009), against a running
 * gateway with API keys for two tenants and a recording HTTP upstream. The budget is small (512 KiB:
 * each tenant's requests hold at most 256 KiB). acme fills its half with bodies that trickle in, and
 * then with calls held at a slow upstream (their bodies read and parsed: still held until answered);
 * its next request is refused 503 (`E_TOO_MANY_REQUEST_BYTES`) before its body is read, or at the
 * chunk that goes over, and nothing reaches the upstream or the audit trail as a call; globex is
 * served meanwhile; once acme's requests end it is served again, and every byte comes back.
 * (Before, nothing bounded what requests held together: one tenant could hold thousands of bodies.)
 * A modern caller's call to a legacy upstream (SDK v1) that asks sampling is held past its answer
 * (`input_required`): its bytes stay in acme's half until the hold goes (answered, or the gateway
 * stopping). Before, they were given back with the answer, and held calls were bounded only by
 * count: one tenant could keep hundreds of megabytes of params, unseen by the metric.
 * acme and globex holding the whole (their halves) starve no one: initech, holding nothing, is
 * served a body of the largest size (128 KiB) from the reserve beyond the budget (256 KiB), and
 * refused past that floor; once tenants under their floor have used the reserve up, hooli is
 * refused too. (Before, two busy tenants refused every other everything.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, createServer, request, type ClientRequest, type ServerResponse } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKey, startGateway, type TestGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';
import { capturedLog } from './support/logs.ts';
import { listenOnLoopback, type Listening } from './support/http.ts';
import { sdkSessions } from './support/sdk-sessions.ts';
import { modernHeaders, modernMeta } from './support/rpc.ts';
import { loadConfig } from '../src/config/load.ts';
import { McpServer as V1Server } from '@modelcontextprotocol/sdk/server/mcp.js';
import { CreateMessageResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const KIB = 1024;
const BUDGET = 512 * KIB;
const HALF = BUDGET / 2;

interface Recorder extends Listening {
  /** The tools/call requests that reached it: the tool name and the size of the body. */
  calls: Array<{ name: string; bytes: number }>;
  /** Answers of `slow` calls, not yet sent. */
  waiting: Array<() => void>;
}

/** An HTTP upstream (2025-11-25 era) that records every call; `slow` answers only when the test lets it. */
async function recorder(): Promise<Recorder> {
  const calls: Recorder['calls'] = [];
  const waiting: Recorder['waiting'] = [];
  const http = createServer(async (req, res: ServerResponse) => {
    res.on('error', () => {});
    let text = '';
    for await (const c of req) text += c;
    if (req.method !== 'POST') return void res.writeHead(405).end();
    const msg = JSON.parse(text || '{}') as { id?: number; method?: string; params?: { name?: string } };
    const ok = (result: unknown) =>
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }));
    if (msg.id === undefined) return void res.writeHead(202).end();
    if (msg.method === 'server/discover') return void res.writeHead(404, { 'content-type': 'text/html' }).end('no');
    if (msg.method === 'initialize')
      return ok({
        protocolVersion: '2025-06-18',
        capabilities: { tools: {} },
        serverInfo: { name: 'recorder', version: '1' },
      });
    if (msg.method === 'tools/list')
      return ok({
        tools: ['ok', 'slow'].map((name) => ({
          name,
          description: name,
          inputSchema: { type: 'object', properties: { q: { type: 'string' } } },
        })),
      });
    const name = msg.params?.name ?? '';
    calls.push({ name, bytes: text.length });
    const answer = () => ok({ content: [{ type: 'text', text: `fine: ${name}` }] });
    if (name === 'slow') waiting.push(answer);
    else answer();
  });
  return { ...(await listenOnLoopback(http, '/mcp')), calls, waiting };
}

interface AskingUpstream extends Listening {
  /** The sizes of the `ask` calls' argument `q` that reached it. */
  calls: number[];
}

/** A 2025-11-25 upstream (SDK v1, with sessions) whose tool `ask` asks its caller one sampling question mid-call. */
async function asking(): Promise<AskingUpstream> {
  const calls: number[] = [];
  const handle = sdkSessions(() => {
    const server = new V1Server({ name: 'asking', version: '1' });
    server.registerTool('ask', { description: 'asks', inputSchema: { q: z.string() } }, async ({ q }, extra) => {
      calls.push(q.length);
      const r = await extra.sendRequest(
        { method: 'sampling/createMessage', params: { messages: [], maxTokens: 5 } },
        CreateMessageResultSchema,
      );
      return { content: [{ type: 'text', text: `sampled: ${JSON.stringify(r.content)}` }] };
    });
    return server;
  });
  const http = createServer((req, res) => void handle(req, res));
  return { ...(await listenOnLoopback(http, '/mcp')), calls };
}

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-request-budget-'));
const keys: Record<string, string> = {};
const { log, lines: logs } = capturedLog('warn');
let t: TestGateway;
let up: Recorder;
let asker: AskingUpstream;

before(async () => {
  const policy = join(tmp, 'policy.yaml');
  writeFileSync(policy, "rules:\n  - { id: all, tools: ['h__*', 'a__*'], effect: allow }\n");
  up = await recorder();
  asker = await asking();
  t = await startGateway(
    `  - name: h\n    transport: http\n    url: ${JSON.stringify(up.url)}\n    tools: { ok: { class: READ }, slow: { class: READ } }\n` +
      `  - name: a\n    transport: http\n    url: ${JSON.stringify(asker.url)}\n    tools: { ask: { class: READ } }\n`,
    {
      gateway: `  maxBodyBytes: ${128 * KIB}\n  maxBufferedRequestBytes: ${BUDGET}\n`,
      top: `identity: { apiKeys: true }\npolicy: { files: [${JSON.stringify(policy)}] }\ninventory: { newTools: accept }\n`,
      log,
    },
  );
  for (const tenant of ['acme', 'globex', 'initech', 'umbrella', 'hooli'])
    keys[tenant] = await createKey(t.file, { name: tenant, tenant });
});
after(async () => {
  await t?.close();
  await up?.close();
  await asker?.close();
  rmSync(tmp, { recursive: true, force: true });
});

let nextId = 1;
/** Whole calls go over kept-alive connections: a request's bytes come back when its answer ends, not only when its connection closes. */
const keptAlive = new Agent({ keepAlive: true, maxSockets: 4 });
after(() => keptAlive.destroy());

/** A 2026-07-28 tools/call of `h__<tool>` whose body is exactly `bytes` long (its argument padded). */
function callBody(tool: string, bytes: number): string {
  const body = (q: string) =>
    JSON.stringify({
      jsonrpc: '2.0',
      id: nextId,
      method: 'tools/call',
      params: { name: `h__${tool}`, arguments: { q }, _meta: modernMeta() },
    });
  const text = body('x'.repeat(bytes - body('').length));
  nextId++;
  assert.equal(Buffer.byteLength(text), bytes);
  return text;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { id?: unknown; result?: { content: Array<{ text: string }> }; error?: { code: number; message: string } };
}

/**
 * A request of `tenant`'s whose body the test sends as it likes: `send` writes the first bytes at
 * once; `rest()` the others and ends it. Without `declare` no length is sent (chunked).
 */
function open(
  tenant: string,
  tool: string,
  body: string,
  first: number,
  declare = true,
  agent: Agent | false = false,
): { req: ClientRequest; answer: Promise<Answer>; rest(): void } {
  const headers: Record<string, string | number> = {
    ...modernHeaders('tools/call', `h__${tool}`),
    authorization: `Bearer ${keys[tenant] ?? tenant}`,
  };
  if (declare) headers['content-length'] = Buffer.byteLength(body);
  const req = request(`${t.url}/mcp`, { method: 'POST', headers, agent });
  const answer = new Promise<Answer>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        const json = text.startsWith('{') ? text : text.slice(text.indexOf('data: ') + 6).split('\n')[0];
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(json) });
      });
    });
    req.on('error', reject);
  });
  answer.catch(() => {}); // a request the test cuts off fails where it is awaited, if it is
  req.write(body.slice(0, first));
  return { req, answer, rest: () => req.end(body.slice(first)) };
}

/** A whole call of `tenant`'s (a tenant's name, or an API key of the test's own) with a body of `bytes`. */
function call(tenant: string, tool: string, bytes: number): Promise<Answer> {
  const body = callBody(tool, bytes);
  const r = open(tenant, tool, body, body.length, true, keptAlive);
  r.rest();
  return r.answer;
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${t.url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
}

/** The refusal every over-budget request of acme's gets: 503, no id, retry later, the connection closed. */
function assertRefused(r: Answer): void {
  assert.equal(r.status, 503, JSON.stringify(r.body));
  assert.equal(r.body.id, null);
  assert.equal(r.body.error?.code, -32603);
  assert.match(r.body.error?.message ?? '', /holds as much of this tenant's request data as it may/);
  assert.equal(r.headers['retry-after'], '1');
  assert.equal(r.headers.connection, 'close');
}

async function acmeCallRecords(): Promise<number> {
  const rows = await t.gw.store.audit.read({ tenant: 'acme', limit: 1000 });
  return rows.filter((r) => String(r.event.kind).startsWith('call.')).length;
}

test("bodies trickling in fill acme's half: its next request is refused before the upstream, globex is served, acme again once they end", async () => {
  const before = up.calls.length;
  // Three bodies of 80 KiB, all but their last byte sent: almost 240 KiB of acme's 256.
  const trickling = [0, 1, 2].map(() => open('acme', 'ok', callBody('ok', 80 * KIB), 80 * KIB - 1));
  const filled = 3 * (80 * KIB - 1);
  await eventually(() => t.gw.requestBytes.heldBy('acme') === filled);
  assert.equal(await metric('gatehouse_request_buffered_bytes'), filled);

  // A declared 20 KiB does not fit: refused before a byte of it is read.
  const logged = logs.length;
  assertRefused(await call('acme', 'ok', 20 * KIB));
  // No length declared: refused at the chunk that goes over (16 KiB were left).
  const chunked = open('acme', 'ok', callBody('ok', 40 * KIB), 10 * KIB, false);
  chunked.rest();
  assertRefused(await chunked.answer);
  assert.equal(up.calls.length, before, 'nothing reached the upstream');
  assert.equal(await acmeCallRecords(), 0, 'nothing was recorded as a call');
  assert.equal(await metric('gatehouse_requests_over_budget_total{reason="tenant"}'), 2);
  const lines = logs.slice(logged).filter((l) => l.tenant === 'acme');
  assert.equal(lines.length, 1, `logged once a minute per tenant: ${JSON.stringify(logs.slice(logged))}`);
  assert.match(lines[0].msg ?? '', /this tenant holds its half of gateway\.maxBufferedRequestBytes/);
  assert.equal(lines[0].shareBytes, HALF);

  // globex has its own half.
  const g = await call('globex', 'ok', 80 * KIB);
  assert.equal(g.status, 200);
  assert.equal(g.body.result?.content[0].text, 'fine: ok');
  assert.equal(up.calls.length, before + 1);

  // acme's bodies end: two answered, one cut off. Everything comes back.
  trickling[0].rest();
  trickling[1].rest();
  assert.equal((await trickling[0].answer).status, 200);
  assert.equal((await trickling[1].answer).status, 200);
  trickling[2].req.destroy();
  await trickling[2].answer.catch(() => {});
  await eventually(() => t.gw.requestBytes.held === 0);
  assert.equal(await metric('gatehouse_request_buffered_bytes'), 0);
  const again = await call('acme', 'ok', 80 * KIB);
  assert.equal(again.status, 200, JSON.stringify(again.body));
  assert.equal(again.body.result?.content[0].text, 'fine: ok');
  assert.equal(t.gw.requestBytes.held, 0);
});

test('calls held at a slow upstream keep their bytes until answered; a reload of the limit applies to the next request', async () => {
  const held = [call('acme', 'slow', 100 * KIB), call('acme', 'slow', 100 * KIB)];
  await eventually(() => up.waiting.length === 2);
  // Read, parsed and sent upstream long ago: still held, since the call lives until it is answered.
  assert.equal(t.gw.requestBytes.heldBy('acme'), 200 * KIB);
  const before = up.calls.length;
  assertRefused(await call('acme', 'ok', 60 * KIB));
  assert.equal(up.calls.length, before, 'nothing reached the upstream');
  assert.equal((await call('globex', 'ok', 60 * KIB)).status, 200, 'globex is served meanwhile');

  // A larger budget by reload: the next request fits, and what was held is still counted.
  const file = readFileSync(t.file, 'utf8');
  writeFileSync(t.file, file.replace(`maxBufferedRequestBytes: ${BUDGET}`, `maxBufferedRequestBytes: ${4 * BUDGET}`));
  await t.gw.reload(await loadConfig(t.file));
  assert.equal((await call('acme', 'ok', 60 * KIB)).status, 200);
  assert.equal(t.gw.requestBytes.heldBy('acme'), 200 * KIB);
  writeFileSync(t.file, file);
  await t.gw.reload(await loadConfig(t.file));
  assertRefused(await call('acme', 'ok', 60 * KIB));

  for (const answer of up.waiting.splice(0)) answer();
  for (const r of await Promise.all(held)) assert.equal(r.status, 200);
  await eventually(() => t.gw.requestBytes.held === 0);
  assert.equal((await call('acme', 'ok', 60 * KIB)).status, 200, 'acme is served again');
  assert.equal(await metric('gatehouse_request_buffered_bytes'), 0);
});

/** A whole call of `tenant`'s on a connection of its own (held ones would fill the kept-alive agent's sockets). */
function alone(tenant: string, tool: string, bytes: number): Promise<Answer> {
  const body = callBody(tool, bytes);
  const r = open(tenant, tool, body, body.length);
  r.rest();
  return r.answer;
}

/** A refusal over the whole (not the tenant's half): 503, no id, the gateway's data, not the tenant's. */
function assertOverTotal(r: Answer): void {
  assert.equal(r.status, 503, JSON.stringify(r.body));
  assert.equal(r.body.id, null);
  assert.match(r.body.error?.message ?? '', /the gateway holds as much request data as it may/);
}

test('acme and globex holding the whole budget starve no one: initech has one largest body from the reserve, until the reserve is used up', async () => {
  await eventually(() => t.gw.requestBytes.held === 0);
  const LARGEST = 128 * KIB;
  // acme: two calls of the largest size held at the slow upstream (its half, exactly); globex: two
  // largest bodies trickling in, all but their last byte sent. The whole but 2 bytes is held.
  const acme = [alone('acme', 'slow', LARGEST), alone('acme', 'slow', LARGEST)];
  const globex = [0, 1].map(() => open('globex', 'ok', callBody('ok', LARGEST), LARGEST - 1));
  await eventually(() => up.waiting.length === 2 && t.gw.requestBytes.held === BUDGET - 2);
  const totals = (await metric('gatehouse_requests_over_budget_total{reason="total"}')) || 0; // none yet: no line

  // initech holds nothing: its body of the largest size is served, through to the upstream.
  const before = up.calls.length;
  const served = await call('initech', 'ok', LARGEST);
  assert.equal(served.status, 200, JSON.stringify(served.body));
  assert.equal(served.body.result?.content[0].text, 'fine: ok');
  assert.equal(up.calls.length, before + 1);
  assert.ok((up.calls.at(-1)?.bytes ?? 0) > LARGEST - KIB, 'its argument reached the upstream whole');
  await eventually(() => t.gw.requestBytes.reserved === 0);

  // Held at the slow upstream, a call of initech's takes the 2 bytes left and the rest from the reserve.
  const held = [alone('initech', 'slow', 100 * KIB)];
  await eventually(() => up.waiting.length === 3);
  assert.equal(t.gw.requestBytes.heldBy('initech'), 100 * KIB);
  assert.equal(t.gw.requestBytes.reserved, 100 * KIB - 2);
  // Its second large one would take it past its floor: refused, as over the whole, before the upstream.
  const logged = logs.length;
  assertOverTotal(await call('initech', 'ok', 100 * KIB));
  const line = logs.slice(logged).find((l) => l.tenant === 'initech');
  assert.equal(line?.reason, 'total', JSON.stringify(logs.slice(logged)));
  assert.equal(line?.reserveHeldBytes, 100 * KIB - 2);
  assert.equal(line?.reserveBytes, 2 * LARGEST);

  // umbrella, under its floor too, takes the reserve but 28 KiB: hooli, holding nothing, is refused 64 KiB.
  held.push(alone('umbrella', 'slow', LARGEST));
  await eventually(() => up.waiting.length === 4);
  assert.equal(t.gw.requestBytes.reserved, 228 * KIB - 2);
  assertOverTotal(await call('hooli', 'ok', 64 * KIB));
  assert.equal(up.calls.length, before + 3, 'nothing refused reached the upstream');
  assert.equal((await call('hooli', 'ok', 20 * KIB)).status, 200, 'what is left of the reserve is still there');
  assert.equal(await metric('gatehouse_requests_over_budget_total{reason="total"}'), totals + 2);
  assert.equal(t.gw.requestBytes.held, BUDGET + 228 * KIB - 2, 'the whole, and the reserve but 28 KiB');

  // Everything ends (the held calls first: globex's last bytes need the room): every byte goes back where it came from.
  for (const answer of up.waiting.splice(0)) answer();
  for (const r of await Promise.all([...acme, ...held])) assert.equal(r.status, 200);
  await eventually(() => t.gw.requestBytes.reserved === 0);
  for (const r of globex) r.rest();
  for (const r of await Promise.all(globex.map((g) => g.answer))) assert.equal(r.status, 200);
  await eventually(() => t.gw.requestBytes.held === 0);
  assert.equal(t.gw.requestBytes.reserved, 0);
  assert.equal(await metric('gatehouse_request_buffered_bytes'), 0);
});

test("while the store is away, bodies read for their request's id take from a share of their own, not a tenant's", async () => {
  // A key whose lookup fails as when the store is away: its requests' bodies are read before anyone is known.
  const away = `ghk_${'0'.repeat(16)}_${'a'.repeat(43)}`;
  const apiKeys = t.gw.store.apiKeys;
  const get = apiKeys.get.bind(apiKeys);
  apiKeys.get = (id) => (id === '0'.repeat(16) ? Promise.reject(new Error('the store is away')) : get(id));
  try {
    const trickling = [0, 1, 2].map(() => open(away, 'ok', callBody('ok', 80 * KIB), 80 * KIB - 1));
    const filled = 3 * (80 * KIB - 1);
    await eventually(() => t.gw.requestBytes.heldBy(null) === filled);
    const before = up.calls.length;
    const refused = await call(away, 'ok', 20 * KIB);
    assert.equal(refused.status, 503);
    assert.equal(refused.body.id, null);
    assert.match(refused.body.error?.message ?? '', /the gateway holds as much request data as it may/);
    assert.equal(await metric('gatehouse_requests_over_budget_total{reason="unauthenticated"}'), 1);
    // A tenant's share is its own: acme and globex are served while unauthenticated reads hold theirs.
    for (const tenant of ['acme', 'globex']) assert.equal((await call(tenant, 'ok', 80 * KIB)).status, 200);
    assert.equal(up.calls.length, before + 2, "only the tenants' calls reached the upstream");
    // Their bodies end: each is answered "store unavailable", naming its request, and gives its bytes back.
    for (const r of trickling) r.rest();
    for (const r of trickling) {
      const a = await r.answer;
      assert.equal(a.status, 503);
      assert.notEqual(a.body.id, null);
      assert.match(a.body.error?.message ?? '', /store is unavailable/);
    }
    await eventually(() => t.gw.requestBytes.held === 0);
  } finally {
    apiKeys.get = get;
  }
});

test('while the store is away, a body over gateway.maxBodyBytes is refused as too large and its connection closed, not read on', async () => {
  const away = `ghk_${'0'.repeat(16)}_${'b'.repeat(43)}`;
  const apiKeys = t.gw.store.apiKeys;
  const get = apiKeys.get.bind(apiKeys);
  apiKeys.get = (id) => (id === '0'.repeat(16) ? Promise.reject(new Error('the store is away')) : get(id));
  try {
    // Declared over the bound (4 MiB by default); a first kilobyte sent, the rest never.
    const big = open(away, 'ok', callBody('ok', 5 * 1024 * KIB), KIB);
    const a = await big.answer;
    big.req.destroy();
    assert.equal(a.status, 413, JSON.stringify(a.body));
    assert.equal(a.headers.connection, 'close');
    assert.equal(a.body.id, null);
    await eventually(() => t.gw.requestBytes.held === 0);
  } finally {
    apiKeys.get = get;
  }
});

/** A 2026-07-28 tools/call of `a__ask` by a caller that can be asked sampling, its body `bytes` long (or a retry, small). */
async function ask(
  tenant: string,
  bytes: number,
  retry?: { requestState: string; inputResponses: Record<string, unknown> },
): Promise<Answer & { body: { result?: { resultType?: string; requestState?: string } } }> {
  const body = (q: string) =>
    JSON.stringify({
      jsonrpc: '2.0',
      id: nextId,
      method: 'tools/call',
      params: { name: 'a__ask', arguments: { q }, ...retry, _meta: modernMeta({ sampling: {} }) },
    });
  const text = retry ? body('x') : body('x'.repeat(bytes - body('').length));
  nextId++;
  if (!retry) assert.equal(Buffer.byteLength(text), bytes);
  const res = await fetch(`${t.url}/mcp`, {
    method: 'POST',
    headers: { ...modernHeaders('tools/call', 'a__ask'), authorization: `Bearer ${keys[tenant]}` },
    body: text,
  });
  const got = await res.text();
  const json = got.startsWith('{') ? got : got.slice(got.indexOf('data: ') + 6).split('\n')[0];
  return { status: res.status, headers: Object.fromEntries(res.headers), body: JSON.parse(json) };
}

const SAMPLED = { model: 'm', role: 'assistant', content: { type: 'text', text: 'from the caller' } };

test("calls held for the caller's answer to a legacy upstream's question keep their bytes in acme's half until answered", async () => {
  await eventually(() => t.gw.requestBytes.held === 0);
  // Two calls of 100 KiB: each answered input_required at once, its upstream call held with its params.
  const first = [await ask('acme', 100 * KIB), await ask('acme', 100 * KIB)];
  for (const r of first) {
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.result?.resultType, 'input_required');
  }
  assert.deepEqual(asker.calls.length, 2);
  // Their answers are over: their bytes stay counted while the calls are held (the metric too).
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(t.gw.requestBytes.heldBy('acme'), 200 * KIB, 'the held calls keep their bytes');
  assert.equal(await metric('gatehouse_request_buffered_bytes'), 200 * KIB);

  // acme's half is full: its next call (one more to hold, or any other) is refused before the upstream.
  const upBefore = up.calls.length;
  assertRefused(await ask('acme', 60 * KIB));
  assertRefused(await call('acme', 'ok', 60 * KIB));
  assert.equal(asker.calls.length, 2, 'nothing new reached the asking upstream');
  assert.equal(up.calls.length, upBefore, 'nothing reached the other upstream');
  // globex has its own half: its call is held too, and answered.
  const g = await ask('globex', 60 * KIB);
  assert.equal(g.body.result?.resultType, 'input_required', JSON.stringify(g.body));
  assert.equal(t.gw.requestBytes.heldBy('globex'), 60 * KIB);
  const gDone = await ask('globex', 0, {
    requestState: String(g.body.result?.requestState),
    inputResponses: { q1: SAMPLED },
  });
  assert.equal(gDone.status, 200, JSON.stringify(gDone.body));

  // acme answers its questions: the calls complete, the holds go, and their bytes come back.
  for (const r of first) {
    const done = await ask('acme', 0, {
      requestState: String(r.body.result?.requestState),
      inputResponses: { q1: SAMPLED },
    });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.match(JSON.stringify(done.body.result), /sampled: .*from the caller/);
  }
  await eventually(() => t.gw.requestBytes.held === 0);
  assert.equal(await metric('gatehouse_request_buffered_bytes'), 0);
  assert.equal((await call('acme', 'ok', 60 * KIB)).status, 200, 'acme is served again');

  // A call left held keeps its bytes until the hold goes some other way: here the gateway's holds closing.
  const left = await ask('acme', 100 * KIB);
  assert.equal(left.body.result?.resultType, 'input_required');
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(t.gw.requestBytes.heldBy('acme'), 100 * KIB);
  t.gw.holds.close();
  assert.equal(t.gw.requestBytes.held, 0);
});
