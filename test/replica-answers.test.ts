/**
 * An upstream's question asked on one replica and answered on another (a load balancer without
 * session affinity): the answer reaches the replica that asked, over Redis, and the call completes.
 * Two real gateways share one PostgreSQL schema and one Redis key prefix; a real 2025-11-25 upstream
 * asks its caller (elicitation) mid-call. Hostile: another tenant's caller answering the question
 * with its own session, a caller presenting another's session, and messages forged straight onto the
 * asking replica's channel (another principal, another tenant) reach nothing: the upstream gets only
 * the genuine answer. Without Redis, as before: an answer on the other replica is dropped.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, ElicitResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { createKey, startGateway, type TestGateway } from './support/gateway.ts';
import {
  createPgSchema,
  dropPgSchema,
  dropRedisKeys,
  freshPgSchema,
  pgUrlWithSchema,
  redisAvailable,
} from './support/services.ts';
import { postgresAvailable } from './support/services.ts';
import { initializeRequest, postLegacy, postModernCall, replyOf } from './support/rpc.ts';
import { Client as V2Client, StreamableHTTPClientTransport as V2Transport } from '@modelcontextprotocol/client';
import { listenOnLoopback } from './support/http.ts';
import { tcpProxy } from './support/tcp-proxy.ts';
import { eventually } from './support/eventually.ts';
import { sdkSessions } from './support/sdk-sessions.ts';
import { sessionDigest } from '../src/sessions/session-digest.ts';

const schema = freshPgSchema();
const prefix = `gh-test-answers-${randomBytes(4).toString('hex')}:`;
const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-replica-answers-'));
const CAPS = { elicitation: { form: {} } };
/** What the upstream was answered, every time (the witness: a forged answer must never be here). */
const answered: string[] = [];
let upstream: { url: string; close(): Promise<void> };
/** Two replicas sharing Redis, and two without it (the same store). */
let a: TestGateway, b: TestGateway, c: TestGateway, d: TestGateway;
const keys: Record<string, string> = {};
let ready = false;

/** A 2025-11-25 upstream whose `ask` elicits a name from its caller and returns it. */
function asking(): McpServer {
  const server = new McpServer({ name: 'asking', version: '1.0.0' });
  server.registerTool('ask', { description: 'asks its caller a name' }, async (extra) => {
    const r = await extra.sendRequest(
      {
        method: 'elicitation/create',
        params: {
          message: 'Your name?',
          requestedSchema: { type: 'object', properties: { name: { type: 'string' } } },
        },
      },
      ElicitResultSchema,
    );
    const name = String((r.content as { name?: unknown } | undefined)?.name ?? `(${r.action})`);
    answered.push(name);
    return { content: [{ type: 'text', text: `got:${name}` }] };
  });
  return server;
}

/** A replica of the deployment; `redis`: whether it uses Redis, and on which port (a proxy's, to cut it). */
async function replica(redis: boolean | number): Promise<TestGateway> {
  const policy = join(tmp, 'policy.yaml');
  const port = redis === true ? 6379 : redis;
  const limits = redis ? `limits:\n  redis: { url: "redis://127.0.0.1:${port}", keyPrefix: "${prefix}" }\n` : '';
  return startGateway(
    `  - name: up\n    transport: http\n    url: ${JSON.stringify(upstream.url)}\n    tools: { ask: { class: READ } }\n`,
    {
      storage: `storage:\n  driver: postgres\n  postgresUrl: ${JSON.stringify(pgUrlWithSchema(schema))}\n`,
      top: `identity: { apiKeys: true }\npolicy: { files: [${JSON.stringify(policy)}] }\ninventory: { newTools: accept }\n${limits}`,
    },
  );
}

before(async () => {
  if (!(await postgresAvailable()) || !(await redisAvailable())) return;
  await createPgSchema(schema);
  writeFileSync(
    join(tmp, 'policy.yaml'),
    "rules:\n  - { id: both, subjects: { tenants: [acme, globex] }, tools: ['up__*'], effect: allow }\n",
  );
  const handle = sdkSessions(asking);
  upstream = await listenOnLoopback(
    createServer((req, res) => void handle(req, res)),
    '/mcp',
  );
  a = await replica(true);
  b = await replica(true);
  c = await replica(false);
  d = await replica(false);
  for (const tenant of ['acme', 'globex']) keys[tenant] = await createKey(a.file, { name: tenant, tenant });
  ready = true;
});

after(async () => {
  await Promise.all([a, b, c, d].filter(Boolean).map((g) => g.close()));
  await upstream?.close();
  await dropPgSchema(schema).catch(() => {});
  await dropRedisKeys(prefix).catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
});

type Msg = { id?: string | number | null; method?: string; params?: Record<string, unknown>; result?: unknown };

/** The JSON-RPC messages of an SSE response, as they come. */
async function* messages(r: Response): AsyncGenerator<Msg> {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
      const event = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = event
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trimStart())
        .join('\n');
      if (data) yield JSON.parse(data) as Msg;
    }
  }
}

/** A legacy session of `tenant` on `g`, able to be asked (elicitation). */
async function session(g: TestGateway, tenant: string): Promise<string> {
  const r = await postLegacy(g.url, initializeRequest(tenant, { capabilities: CAPS }), { token: keys[tenant] });
  assert.equal(r.status, 200, await r.text());
  const sid = r.headers.get('mcp-session-id')!;
  await (
    await postLegacy(g.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { sid, token: keys[tenant] })
  ).text();
  return sid;
}

/** `up__ask` called in session `sid` on `g`: the question it asks, and the rest of the stream. */
async function callAsking(g: TestGateway, sid: string, tenant: string) {
  const r = await postLegacy(
    g.url,
    { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'up__ask', arguments: {} } },
    { sid, token: keys[tenant] },
  );
  assert.equal(r.status, 200);
  const stream = messages(r);
  const first = await stream.next();
  assert.equal(first.value?.method, 'elicitation/create', JSON.stringify(first.value));
  return { question: first.value as Msg, stream: reader(stream) };
}

const answer = (id: unknown, name: string) => ({
  jsonrpc: '2.0',
  id,
  result: { action: 'accept', content: { name } },
});

/** The stream's messages one by one: `within(ms)` is the next, or 'pending' when none came in `ms` (still awaited next time). */
function reader(stream: AsyncGenerator<Msg>): { within(ms: number): Promise<Msg | 'pending'> } {
  let next: Promise<Msg> | undefined;
  return {
    async within(ms) {
      next ??= stream.next().then((n) => n.value as Msg);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'pending'>((r) => {
        timer = setTimeout(() => r('pending'), ms);
      });
      try {
        const got = await Promise.race([next, late]);
        if (got !== 'pending') next = undefined;
        return got;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

test('legacy: a real SDK client whose answers a load balancer sends to the other replica completes its call', async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  const sentToB: string[] = [];
  // The "load balancer": the client's answers (JSON-RPC responses) go to replica B, the rest to A.
  const balanced: typeof fetch = async (input, init) => {
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as Msg) : undefined;
    if (body && body.method === undefined && body.id !== undefined) {
      sentToB.push(String(body.id));
      return fetch(String(input).replace(a.url, b.url), init);
    }
    return fetch(input, init);
  };
  const client = new Client({ name: 'balanced', version: '1' }, { capabilities: CAPS });
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { name: 'Grace' } }));
  const transport = new StreamableHTTPClientTransport(new URL(`${a.url}/mcp`), {
    fetch: balanced,
    requestInit: { headers: { authorization: `Bearer ${keys.acme}` } },
  });
  // What B sends A over Redis, as anyone subscribed to A's channel reads it.
  const onA: string[] = [];
  const watcher = new Redis('redis://127.0.0.1:6379');
  await watcher.subscribe(`${prefix}replica:${a.gw.replica}`);
  watcher.on('message', (_c: string, text: string) => void onA.push(text));
  await client.connect(transport);
  try {
    const r = await client.callTool({ name: 'up__ask', arguments: {} }, undefined, { timeout: 8000 });
    assert.deepEqual(r.content, [{ type: 'text', text: 'got:Grace' }]);
    assert.equal(sentToB.length, 1, 'the answer went to replica B');
    assert.match(sentToB[0], new RegExp(`^gh\\.${a.gw.replica}\\.`), "the question's id names replica A");
    const sid = transport.sessionId!;
    const answers = onA.map((text) => JSON.parse(text).msg).filter((m) => m.kind === 'answer');
    assert.deepEqual(
      answers.map((m) => m.session),
      [sessionDigest(sid)],
      'the relayed answer names the session by its digest',
    );
    assert.ok(!onA.some((text) => text.includes(sid)), "the session's id never crossed Redis");
  } finally {
    watcher.disconnect();
    await client.close();
  }
});

test("legacy: another tenant's answer, another's session, and forged messages reach no question; the genuine answer does", async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  const acme = await session(a, 'acme');
  const globex = await session(b, 'globex');
  const { question, stream } = await callAsking(a, acme, 'acme');
  const before = answered.length;

  // globex answers acme's question in its own session, on B: B relays it naming globex's session.
  const own = await postLegacy(b.url, answer(question.id, 'Mallory'), { sid: globex, token: keys.globex });
  assert.equal(own.status, 202);
  // globex presents acme's session: not its own, so nothing is sent.
  const theirs = await postLegacy(b.url, answer(question.id, 'Mallory'), { sid: acme, token: keys.globex });
  assert.equal(theirs.status, 404);
  // Straight onto A's channel: acme's session and question, but another principal / another tenant.
  const record = await a.gw.store.sessions.get(acme);
  const globexRecord = await a.gw.store.sessions.get(globex);
  const pub = new Redis('redis://127.0.0.1:6379');
  try {
    const forged = (over: Record<string, unknown>) =>
      pub.publish(
        `${prefix}replica:${a.gw.replica}`,
        JSON.stringify({
          origin: b.gw.replica,
          msg: {
            kind: 'answer',
            session: sessionDigest(acme),
            principal: record!.principal,
            tenant: 'acme',
            scope: '',
            id: question.id,
            reply: { result: { action: 'accept', content: { name: 'Mallory' } } },
            ...over,
          },
        }),
      );
    assert.equal(await forged({ principal: globexRecord!.principal }), 1, 'A listens on its channel');
    await forged({ tenant: 'globex' });
    await forged({ scope: 'up' });
    await forged({ id: `gh.${a.gw.replica}.${randomBytes(12).toString('base64url')}` });
  } finally {
    await pub.quit();
  }
  assert.equal(await stream.within(600), 'pending', 'no forged answer reached the upstream');
  assert.equal(answered.length, before);

  // acme's own answer, on B: relayed to A, and the call completes with it.
  const genuine = await postLegacy(b.url, answer(question.id, 'Ada'), { sid: acme, token: keys.acme });
  assert.equal(genuine.status, 202);
  const done = await stream.within(8000);
  assert.notEqual(done, 'pending', 'the answer on B reached the question on A');
  assert.deepEqual((done as Msg).result, { content: [{ type: 'text', text: 'got:Ada' }] });
  assert.deepEqual(answered.slice(before), ['Ada']);
});

test('legacy without Redis: an answer on the other replica is acknowledged and dropped (as before); on the asking one it is taken', async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  const acme = await session(c, 'acme');
  const { question, stream } = await callAsking(c, acme, 'acme');
  const elsewhere = await postLegacy(d.url, answer(question.id, 'Lost'), { sid: acme, token: keys.acme });
  assert.equal(elsewhere.status, 202);
  assert.equal(await stream.within(800), 'pending');
  const here = await postLegacy(c.url, answer(question.id, 'Kept'), { sid: acme, token: keys.acme });
  assert.equal(here.status, 202);
  const done = await stream.within(8000);
  assert.deepEqual((done as Msg).result, { content: [{ type: 'text', text: 'got:Kept' }] });
});

/** A 2026-07-28 call of `up__ask` on `g` as `tenant`; `extra`: the retry's requestState and inputResponses. */
async function modernAsk(g: TestGateway, tenant: string, extra?: Record<string, unknown>) {
  return replyOf(await postModernCall(g.url, 'up__ask', {}, { token: keys[tenant], capabilities: CAPS, extra }));
}

const accept = (name: string) => ({ q1: { action: 'accept', content: { name } } });

/** What a forger on Redis would need of acme's hold: its principal's key and the binding (forward.ts). */
async function acmeBinding(): Promise<{ principal: string; binding: string }> {
  const sid = await session(a, 'acme');
  const principal = (await a.gw.store.sessions.get(sid))!.principal!;
  const binding = hash('sha256', JSON.stringify([principal, '', 'tools/call', 'up', 'ask']), 'base64url');
  return { principal, binding };
}

test('modern: a retry that reaches the other replica resumes the held call there; the caller gets its result', async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  const first = await modernAsk(a, 'acme');
  assert.equal(first.result.resultType, 'input_required', JSON.stringify(first));
  const state = String(first.result.requestState);
  assert.match(state, new RegExp(`^gh1\\.${a.gw.replica}\\.`), 'the state names replica A');
  const before = answered.length;
  const done = await modernAsk(b, 'acme', { requestState: state, inputResponses: accept('Ada') });
  assert.deepEqual(done.result?.content, [{ type: 'text', text: 'got:Ada' }], JSON.stringify(done));
  assert.deepEqual(answered.slice(before), ['Ada']);
});

test('modern: a real SDK client whose retries a load balancer sends to the other replica completes its call', async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  let retriesOnB = 0;
  const balanced: typeof fetch = async (input, init) => {
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as Msg) : undefined;
    if (body?.params?.requestState !== undefined) {
      retriesOnB++;
      return fetch(String(input).replace(a.url, b.url), init);
    }
    return fetch(input, init);
  };
  const client = new V2Client(
    { name: 'balanced-modern', version: '2' },
    { capabilities: CAPS, versionNegotiation: { mode: 'auto' } },
  );
  client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { name: 'Grace' } }));
  await client.connect(
    new V2Transport(new URL(`${a.url}/mcp`), {
      fetch: balanced,
      requestInit: { headers: { authorization: `Bearer ${keys.acme}` } },
    }),
  );
  try {
    const r = await client.callTool({ name: 'up__ask', arguments: {} });
    assert.deepEqual(r.content, [{ type: 'text', text: 'got:Grace' }]);
    assert.equal(retriesOnB, 1, 'the retry went to replica B');
  } finally {
    await client.close();
  }
});

test("modern: another tenant's retry and forged retries (another principal, another tenant) resume nothing; the genuine one does", async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  const { principal, binding } = await acmeBinding();
  const first = await modernAsk(a, 'acme');
  const state = String(first.result.requestState);
  const before = answered.length;

  // globex presents acme's state on B: its binding is globex's, so the seal fails there; nothing is sent.
  const theirs = await modernAsk(b, 'globex', { requestState: state, inputResponses: accept('Mallory') });
  assert.match(theirs.error?.message ?? '', /invalid or expired request state/, JSON.stringify(theirs));

  // Straight onto A's channel, with the right binding but another owner: A answers an invalid state.
  const listener = new Redis('redis://127.0.0.1:6379');
  const pub = new Redis('redis://127.0.0.1:6379');
  const me = randomBytes(8).toString('hex');
  const outcomes: unknown[] = [];
  try {
    await listener.subscribe(`${prefix}replica:${me}`);
    listener.on('message', (_c: string, text: string) => outcomes.push(JSON.parse(text).msg));
    const forged = (corr: string, over: Record<string, unknown>) =>
      pub.publish(
        `${prefix}replica:${a.gw.replica}`,
        JSON.stringify({
          origin: me,
          msg: {
            kind: 'retry',
            corr,
            from: me,
            state,
            binding,
            principal,
            tenant: 'acme',
            inputResponses: accept('Mallory'),
            capabilities: CAPS,
            waitMs: 2000,
            ...over,
          },
        }),
      );
    assert.equal(await forged('p', { principal: principal.replace('acme', 'globex') }), 1);
    await forged('t', { tenant: 'globex' });
    await forged('b', { binding: hash('sha256', 'another call', 'base64url') });
    const deadline = Date.now() + 5000;
    while (outcomes.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  } finally {
    listener.disconnect();
    await pub.quit();
  }
  assert.equal(outcomes.length, 3, JSON.stringify(outcomes));
  for (const o of outcomes as Array<{ outcome: { gatehouse?: { code: string } } }>)
    assert.equal(o.outcome.gatehouse?.code, 'E_INPUT_STATE', JSON.stringify(o));
  assert.equal(answered.length, before, 'the upstream was answered nothing');

  const done = await modernAsk(b, 'acme', { requestState: state, inputResponses: accept('Ada') });
  assert.deepEqual(done.result?.content, [{ type: 'text', text: 'got:Ada' }], JSON.stringify(done));
  assert.deepEqual(answered.slice(before), ['Ada']);
});

test('modern without Redis: a retry on the other replica is an invalid state (as before); on the holding one it completes', async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  const first = await modernAsk(c, 'acme');
  const state = String(first.result.requestState);
  const elsewhere = await modernAsk(d, 'acme', { requestState: state, inputResponses: accept('Lost') });
  assert.match(elsewhere.error?.message ?? '', /invalid or expired request state/, JSON.stringify(elsewhere));
  const here = await modernAsk(c, 'acme', { requestState: state, inputResponses: accept('Kept') });
  assert.deepEqual(here.result?.content, [{ type: 'text', text: 'got:Kept' }], JSON.stringify(here));
});

test('while Redis is away for the replica an answer reaches, nothing is passed on (as without Redis); once back, it is', async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  const proxy = await tcpProxy(t, 6379);
  const e = await replica(proxy.port);
  t.after(() => e.close());
  const fanoutUp = async () => /^gatehouse_fanout_up (\S+)$/m.exec(await (await fetch(`${e.url}/metrics`)).text())?.[1];
  await eventually(async () => (await fanoutUp()) === '1');
  const acme = await session(a, 'acme');
  const legacy = await callAsking(a, acme, 'acme');
  const first = await modernAsk(a, 'acme');
  const state = String(first.result.requestState);
  await proxy.down();
  await eventually(async () => (await fanoutUp()) === '0');

  const dropped = await postLegacy(e.url, answer(legacy.question.id, 'Lost'), { sid: acme, token: keys.acme });
  assert.equal(dropped.status, 202);
  assert.equal(await legacy.stream.within(600), 'pending');
  const refused = await modernAsk(e, 'acme', { requestState: state, inputResponses: accept('Lost') });
  assert.match(refused.error?.message ?? '', /invalid or expired request state/, JSON.stringify(refused));

  // Back: the same answers on the same replica reach the questions (still waiting on A).
  await proxy.up();
  const done = await eventually(
    async () => {
      await postLegacy(e.url, answer(legacy.question.id, 'Back'), { sid: acme, token: keys.acme });
      const got = await legacy.stream.within(300);
      return got === 'pending' ? undefined : got;
    },
    { timeoutMs: 10_000, intervalMs: 100 },
  );
  assert.deepEqual(done.result, { content: [{ type: 'text', text: 'got:Back' }] });
  const resumed = await eventually(
    async () => {
      const r = await modernAsk(e, 'acme', { requestState: state, inputResponses: accept('Back') });
      return r.result ? r : undefined;
    },
    { timeoutMs: 10_000, intervalMs: 100 },
  );
  assert.deepEqual(resumed.result.content, [{ type: 'text', text: 'got:Back' }]);
});
