/**
 * The Streamable HTTP channel against real servers on loopback: an SDK v1 server (2025-11-25, with
 * sessions, a GET stream and resumable streams), an SDK v2 server that serves only 2026-07-28 and
 * refuses requests without the Mcp-* headers, and a hostile upstream that answers badly on purpose.
 * Everything is driven through the real Peer and handshake, as the gateway does. The edges of one
 * exchange (answers in tiny chunks, aborts before and during it, exceptions while an answer is read)
 * are tested on the channel alone, against a bare node:http upstream.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { silentLogger } from '../observability/logger.ts';
import { GatehouseError, UpstreamRpcError } from '../protocol/errors.ts';
import { MODERN_VERSION, modernMeta } from '../protocol/era.ts';
import type { JsonObject, JsonRpcNotification, JsonRpcRequest } from '../protocol/jsonrpc.ts';
import { StreamableHttpChannel } from './http.ts';
import { answerFor, encodeHeaderValue, protocolHeaders } from './http-wire.ts';
import { handshake } from './handshake.ts';
import { Peer } from './peer.ts';
import type { CallOptions } from './types.ts';
import { legacyHttp, modernHttp, type TestServer } from '../../test/fixtures/upstreams/sdk-http-servers.ts';
import { hostileHttp, type Hostile } from '../../test/fixtures/upstreams/hostile-http.ts';

const log = silentLogger();
/** Every test is bounded: a missed event fails it instead of hanging the file. */
const LIMIT = { timeout: 15_000 };
let legacy: TestServer;
let modern: TestServer;
let hostile: Hostile;
const peers: Peer[] = [];

before(async () => {
  [legacy, modern, hostile] = await Promise.all([legacyHttp(), modernHttp(), hostileHttp()]);
});
after(async () => {
  await Promise.all(peers.map((p) => p.close()));
  await Promise.all([legacy.close(), modern.close(), hostile.close()]);
});

async function connect(url: string) {
  const channel = new StreamableHttpChannel('t', { url }, log);
  const peer = new Peer(channel, log);
  peers.push(peer);
  const identity = await handshake(peer, { timeoutMs: 5000 });
  return { channel, peer, identity };
}

function call(peer: Peer, name: string, args: JsonObject, opts: Partial<CallOptions> & { meta?: JsonObject } = {}) {
  const { meta, ...rest } = opts;
  const params: JsonObject = { name, arguments: args, ...(meta ? { _meta: meta } : {}) };
  return peer.request('tools/call', params, { timeoutMs: 5000, maxTotalMs: 10_000, ...rest });
}

const text = (r: JsonObject) => (r.content as Array<{ text: string }>)[0].text;
const until = async (cond: () => boolean, ms = 3000) => {
  for (const end = Date.now() + ms; !cond(); await new Promise((r) => setTimeout(r, 10)))
    if (Date.now() > end) throw new Error('condition not met in time');
};

test('header values: plain visible ASCII as is, anything else in the base64 sentinel form', () => {
  assert.equal(encodeHeaderValue('get_weather'), 'get_weather');
  assert.equal(encodeHeaderValue('a b'), 'a b');
  assert.equal(encodeHeaderValue('Hello, 世界'), '=?base64?SGVsbG8sIOS4lueVjA==?=');
  assert.equal(encodeHeaderValue(' padded '), '=?base64?IHBhZGRlZCA=?=');
  assert.equal(encodeHeaderValue('line1\nline2'), '=?base64?bGluZTEKbGluZTI=?=');
  assert.equal(encodeHeaderValue('=?base64?literal?='), '=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=');
});

test('headers are inferred from the message: modern metadata, or the legacy session', () => {
  const meta = { _meta: modernMeta() };
  assert.deepEqual(
    protocolHeaders(
      { jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: 'file:///a b', ...meta } },
      { sessionId: 's' },
      { 'Mcp-Param-Region': 'eu' },
    ),
    {
      'mcp-protocol-version': MODERN_VERSION,
      'mcp-method': 'resources/read',
      'mcp-name': 'file:///a b',
      'mcp-param-region': 'eu',
    },
  );
  assert.deepEqual(protocolHeaders({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: meta }, {}), {
    'mcp-protocol-version': MODERN_VERSION,
    'mcp-method': 'tools/list',
  });
  assert.deepEqual(
    protocolHeaders({ jsonrpc: '2.0', method: 'notifications/initialized' }, { sessionId: 's', version: '2025-11-25' }),
    { 'mcp-session-id': 's', 'mcp-protocol-version': '2025-11-25' },
  );
  assert.deepEqual(protocolHeaders({ jsonrpc: '2.0', id: 'x', result: {} }, {}), {});
});

test("answers that are not this request's response become errors for this request", () => {
  const ok = { jsonrpc: '2.0', id: 3, result: { a: 1 } };
  assert.deepEqual(answerFor(3, 200, true, ok), ok);
  assert.equal(
    (answerFor(3, 200, false, ok) as { error: { message: string } }).error.message,
    'upstream sent an invalid response',
  );
  assert.equal(
    (answerFor(3, 200, true, { ...ok, id: 4 }) as { error: { message: string } }).error.message,
    'upstream sent an invalid response',
  );
  assert.deepEqual(
    answerFor(3, 400, true, { jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Bad Request' } }),
    {
      jsonrpc: '2.0',
      id: 3,
      error: { code: -32000, message: 'Bad Request', data: { httpStatus: 400 } },
    },
  );
  assert.deepEqual(answerFor(3, 404, false, undefined), {
    jsonrpc: '2.0',
    id: 3,
    error: { code: -32603, message: 'upstream http 404', data: { httpStatus: 404 } },
  });
  assert.deepEqual(answerFor(3, 500, true, { jsonrpc: '2.0', id: 9, error: { code: 1, message: 'other' } }).id, 3);
});

test('legacy: handshake, session and version headers, GET stream, calls', LIMIT, async () => {
  const { peer, identity } = await connect(legacy.url);
  assert.equal(identity.era, 'legacy');
  assert.equal(identity.protocolVersion, '2025-11-25');
  const tools = (await peer.request('tools/list', undefined, { timeoutMs: 5000, maxTotalMs: 5000 })).tools as Array<{
    name: string;
  }>;
  assert.ok(tools.some((t) => t.name === 'echo'));
  assert.equal(text(await call(peer, 'echo', { text: 'hi' })), 'hi');
  const posts = legacy.seen.filter((s) => s.method === 'POST');
  const init = posts.find((s) => !s.headers['mcp-method'] && !s.headers['mcp-session-id'])!;
  assert.equal(init.headers.accept, 'application/json, text/event-stream');
  const later = posts.at(-1)!.headers;
  assert.match(String(later['mcp-session-id']), /^[0-9a-f-]{36}$/);
  assert.equal(later['mcp-protocol-version'], '2025-11-25');
  await until(() =>
    legacy.seen.some((s) => s.method === 'GET' && s.headers['mcp-session-id'] === later['mcp-session-id']),
  );
});

test(
  'legacy: progress reaches the caller, and a server->client request reaches only the caller that caused it',
  LIMIT,
  async () => {
    const { peer } = await connect(legacy.url);
    const progress: JsonRpcNotification[] = [];
    const r = await call(
      peer,
      'slow',
      { steps: 4 },
      { meta: { progressToken: 'p1' }, onNotification: (n) => progress.push(n) },
    );
    assert.equal(text(r), 'done 4');
    assert.deepEqual(
      progress.map((n) => n.params?.progress),
      [1, 2, 3, 4],
    );

    const asked: JsonRpcRequest[] = [];
    const bystander: JsonRpcRequest[] = [];
    const answer = async (r: JsonRpcRequest) => {
      asked.push(r);
      return r.method === 'sampling/createMessage'
        ? { result: { role: 'assistant', content: { type: 'text', text: 'yes' }, model: 'm' } }
        : { result: { action: 'accept', content: { ok: true } } };
    };
    const [ask, sample, other] = await Promise.all([
      call(peer, 'ask', {}, { onServerRequest: answer }),
      call(peer, 'sample', {}, { onServerRequest: answer }),
      call(
        peer,
        'slow',
        { steps: 3 },
        {
          onServerRequest: async (r) => {
            bystander.push(r);
            return { result: {} };
          },
        },
      ),
    ]);
    assert.deepEqual(JSON.parse(text(ask)), { action: 'accept', content: { ok: true } });
    assert.equal(text(sample), 'model said yes');
    assert.equal(text(other), 'done 3');
    assert.deepEqual(asked.map((r) => r.method).sort(), ['elicitation/create', 'sampling/createMessage']);
    assert.equal(bystander.length, 0);
  },
);

test('legacy: a stream closed mid-call is resumed with GET and Last-Event-ID', LIMIT, async () => {
  const { peer } = await connect(legacy.url);
  assert.equal(text(await call(peer, 'hiccup', {})), 'answered after a hiccup');
  assert.ok(legacy.seen.some((s) => s.method === 'GET' && s.headers['last-event-id']));
});

test(
  'legacy: server-initiated messages arrive on the GET stream, which is reopened when the server closes it',
  LIMIT,
  async () => {
    const { peer } = await connect(legacy.url);
    const sid = legacy.seen.at(-1)!.headers['mcp-session-id'];
    const gets = () => legacy.seen.filter((s) => s.method === 'GET' && s.headers['mcp-session-id'] === sid).length;
    const events: string[] = [];
    peer.onEvent((n) => events.push(n.method));
    await until(() => gets() === 1);
    await new Promise((r) => setTimeout(r, 50));
    await call(peer, 'announce', {});
    await until(() => events.length === 1);
    assert.deepEqual(events, ['notifications/tools/list_changed']);

    await call(peer, 'hangup', {});
    await until(() => gets() === 2);
    await new Promise((r) => setTimeout(r, 50));
    await call(peer, 'announce', {});
    await until(() => events.length === 2);
  },
);

test('legacy: cancellation and timeouts reach the server, and the channel stays usable', LIMIT, async () => {
  const { peer } = await connect(legacy.url);
  const ac = new AbortController();
  const running = call(
    peer,
    'slow',
    { steps: 500 },
    { signal: ac.signal, meta: { progressToken: 'c1' }, onNotification: () => ac.abort() },
  );
  await assert.rejects(running, (e: GatehouseError) => e.code === 'E_CANCELLED');
  await assert.rejects(
    call(peer, 'slow', { steps: 500 }, { maxTotalMs: 150 }),
    (e: GatehouseError) => e.code === 'E_UPSTREAM_TIMEOUT',
  );
  await until(() => legacy.aborted.length >= 2);
  assert.equal(text(await call(peer, 'echo', { text: 'still here' })), 'still here');
});

test('legacy: an expired session (404) closes the channel; close() ends the session with DELETE', LIMIT, async () => {
  const a = await connect(legacy.url);
  const closed = new Promise<Error | undefined>((resolve) => a.peer.onClose(resolve));
  const sid0 = legacy.seen.at(-1)!.headers['mcp-session-id'];
  await until(() => legacy.seen.some((s) => s.method === 'GET' && s.headers['mcp-session-id'] === sid0)); // so the POST meets the 404 first
  legacy.drop();
  await assert.rejects(call(a.peer, 'echo', { text: 'x' }), GatehouseError);
  assert.equal((await closed)?.message, 'upstream session expired');

  const b = await connect(legacy.url);
  await call(b.peer, 'echo', { text: 'y' });
  const sid = legacy.seen.at(-1)!.headers['mcp-session-id'];
  await b.peer.close();
  assert.ok(legacy.seen.some((s) => s.method === 'DELETE' && s.headers['mcp-session-id'] === sid));
});

test('modern: the probe finds 2026-07-28 and every request carries Mcp-Method and Mcp-Name', LIMIT, async () => {
  const bare = await request(modern.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: modernMeta() } }),
  });
  await bare.body.dump();
  assert.equal(bare.statusCode, 400, 'the server refuses a request without the headers');

  const { peer, identity } = await connect(modern.url);
  assert.equal(identity.era, 'modern');
  const r = await call(peer, 'echo', { text: 'now' }, { meta: modernMeta() });
  assert.equal(text(r), 'now');
  const last = modern.seen.at(-1)!.headers;
  assert.equal(last['mcp-method'], 'tools/call');
  assert.equal(last['mcp-name'], 'echo');
  assert.equal(last['mcp-protocol-version'], MODERN_VERSION);
  assert.equal(last['mcp-session-id'], undefined);
  // The server checks Mcp-Name against the body (-32020 on a mismatch). A name outside the safe set
  // travels base64-encoded; the server decodes it, agrees, and only then finds no such tool.
  const wrong = await request(modern.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': MODERN_VERSION,
      'mcp-method': 'tools/call',
      'mcp-name': 'hello world',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'héllo wörld', arguments: {}, _meta: modernMeta() },
    }),
  });
  assert.equal(((await wrong.body.json()) as { error: { code: number } }).error.code, -32020);
  await assert.rejects(
    call(peer, 'héllo wörld', {}, { meta: modernMeta() }),
    (e: unknown) => e instanceof UpstreamRpcError && e.rpcCode === -32602 && /not found/.test(e.message),
  );
  assert.equal(modern.seen.at(-1)!.headers['mcp-name'], encodeHeaderValue('héllo wörld'));
  assert.ok(!modern.seen.some((s) => s.method === 'GET'), 'no GET stream in the modern era');
});

test(
  'modern: progress arrives, and cancelling closes the stream, which the server takes as cancellation',
  LIMIT,
  async () => {
    const { channel, peer } = await connect(modern.url);
    const progress: number[] = [];
    const r = await call(
      peer,
      'slow',
      { steps: 3 },
      {
        meta: { ...modernMeta(), progressToken: 7 },
        onNotification: (n) => progress.push(n.params!.progress as number),
      },
    );
    assert.equal(text(r), 'done 3');
    assert.deepEqual(progress, [1, 2, 3]);

    const posts = () => modern.seen.filter((s) => s.method === 'POST').length;
    const ac = new AbortController();
    const running = call(
      peer,
      'slow',
      { steps: 500 },
      { signal: ac.signal, meta: { ...modernMeta(), progressToken: 8 }, onNotification: () => ac.abort() },
    );
    await assert.rejects(running, (e: GatehouseError) => e.code === 'E_CANCELLED');
    const after = posts();
    await until(() => modern.aborted.includes('slow'));
    assert.equal(posts(), after, 'no notifications/cancelled is sent');
    assert.equal(channel.cancel(12345), false);
  },
);

test(
  'hostile upstream: the probe falls back on an HTML 404, and every broken answer fails only its own request',
  LIMIT,
  async () => {
    const { peer, identity } = await connect(hostile.url);
    assert.equal(identity.era, 'legacy');
    const cases: Array<[string, string | number]> = [
      ['html', 'upstream http 500'],
      ['rpc-500', -32042],
      ['truncated', 'upstream sent an invalid response'],
      ['wrong-type', 'upstream sent an invalid response'],
      ['unknown-id', 'upstream sent an invalid response'],
      ['other-id', 'upstream sent an invalid response'],
      ['empty-202', 'upstream sent an invalid response'],
      ['huge', 'E_UPSTREAM_TOO_LARGE'],
      ['huge-declared', 'E_UPSTREAM_TOO_LARGE'],
      ['sse-other', 'upstream closed the stream without a response'],
      ['sse-garbage', 'upstream sent an invalid response'],
      ['sse-huge', 'E_UPSTREAM_TOO_LARGE'],
    ];
    for (const [name, expected] of cases) {
      const [bad, good] = await Promise.allSettled([call(peer, name, {}), call(peer, 'slow-ok', {})]);
      assert.equal(bad.status, 'rejected', name);
      const err = (bad as PromiseRejectedResult).reason as UpstreamRpcError;
      if (expected === 'E_UPSTREAM_TOO_LARGE') {
        // Refused before it was parsed: the catalogue's error, which names the bound.
        const refused = err as unknown as GatehouseError;
        assert.ok(refused instanceof GatehouseError && refused.code === expected, `${name}: ${err}`);
        assert.match(refused.message, /upstream response larger than 67108864 bytes/);
      } else {
        assert.ok(err instanceof UpstreamRpcError, `${name}: ${err}`);
        assert.equal(typeof expected === 'number' ? err.rpcCode : err.message, expected, name);
      }
      assert.equal(good.status, 'fulfilled', `${name}: the concurrent request still succeeds`);
      assert.equal(text((good as PromiseFulfilledResult<JsonObject>).value), 'fine, slowly');
    }
    assert.deepEqual(await call(peer, 'html', {}).catch((e: UpstreamRpcError) => e.data), { httpStatus: 500 });
    assert.equal(peer.inFlight, 0);
  },
);

test("hostile upstream: progress on one request's stream for another request's token is dropped", LIMIT, async () => {
  const { peer } = await connect(hostile.url);
  const stolen: JsonRpcNotification[] = [];
  const [own, victim] = await Promise.all([
    call(peer, 'sse-steal', {}, { meta: { progressToken: 'mine' } }),
    call(peer, 'slow-ok', {}, { meta: { progressToken: 'victim' }, onNotification: (n) => stolen.push(n) }),
  ]);
  assert.equal(text(own), 'mine');
  assert.equal(text(victim), 'fine, slowly');
  assert.deepEqual(stolen, []);
});

test(
  'hostile upstream: an answer framed two ways fails its request; one smuggled after an answer is never read',
  LIMIT,
  async () => {
    const { peer } = await connect(hostile.url);
    const [bad, good] = await Promise.allSettled([call(peer, 'two-framings', {}), call(peer, 'slow-ok', {})]);
    assert.equal(bad.status, 'rejected');
    assert.match(String((bad as PromiseRejectedResult).reason), /upstream/);
    assert.equal(text((good as PromiseFulfilledResult<JsonObject>).value), 'fine, slowly');
    // The smuggled answer carries the next request's id and arrives with the first: the connection is
    // closed, and the next request gets its own answer from a new one.
    assert.equal(text(await call(peer, 'smuggle', {})), 'first');
    assert.equal(text(await call(peer, 'ok', {})), 'fine');
    assert.equal(peer.inFlight, 0);
  },
);

test('a network failure rejects the request', LIMIT, async () => {
  const channel = new StreamableHttpChannel('t', { url: 'http://127.0.0.1:1/mcp' }, log);
  const peer = new Peer(channel, log);
  peers.push(peer);
  await assert.rejects(
    peer.request('tools/list', undefined, { timeoutMs: 3000, maxTotalMs: 3000 }),
    (e: GatehouseError) => e.code === 'E_UPSTREAM_FAILED',
  );
});

/**
 * A bare upstream for the exchange's edges (plain node:http answering as `answer` says, Nagle off so
 * that each write leaves as its own segment). It records each POST's message and whether the client cut
 * its connection before the answer was complete.
 */
async function edgeServer(
  answer: (msg: JsonRpcRequest, res: ServerResponse) => void | Promise<void>,
): Promise<{ url: string; posts: Array<{ msg: JsonRpcRequest; cut: boolean }>; close(): Promise<void> }> {
  const posts: Array<{ msg: JsonRpcRequest; cut: boolean }> = [];
  const server = createServer({ noDelay: true }, async (req, res) => {
    res.on('error', () => {});
    if (req.method !== 'POST') return void res.writeHead(405).end();
    let body = '';
    for await (const c of req) body += c;
    const post = { msg: JSON.parse(body) as JsonRpcRequest, cut: false };
    posts.push(post);
    res.on('close', () => {
      post.cut = !res.writableFinished;
    });
    await answer(post.msg, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    posts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A channel driven directly (no Peer): what it delivers, with the relatedTo and the caller's async context. */
function bareChannel(url: string, receive?: (msg: unknown) => void) {
  const channel = new StreamableHttpChannel('edge', { url }, log);
  const got: Array<{ msg: JsonObject; relatedTo: unknown; store: unknown }> = [];
  channel.setReceiver({
    message: (msg, relatedTo) => {
      got.push({ msg: msg as JsonObject, relatedTo, store: als.getStore() });
      receive?.(msg);
    },
    closed: () => {},
  });
  return { channel, got };
}

const als = new AsyncLocalStorage<string>();
const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));
const toolCall = (id: number, name: string, meta?: JsonObject): JsonRpcRequest => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: {}, ...(meta ? { _meta: meta } : {}) },
});
const result = (id: number, text: string) => ({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text }] } });

test(
  'answers trickled in tiny chunks are read whole: SSE (a UTF-8 character cut across chunks) and JSON',
  LIMIT,
  async () => {
    const words = 'héllo 世界 🎉';
    const trickle = async (res: ServerResponse, text: string, step: number) => {
      const bytes = Buffer.from(text);
      for (let i = 0; i < bytes.length && !res.destroyed; i += step) {
        res.write(bytes.subarray(i, i + step));
        await sleepMs(1);
      }
      res.end();
    };
    const up = await edgeServer(async (msg, res) => {
      const name = msg.params?.name;
      const progress = {
        jsonrpc: '2.0',
        method: 'notifications/progress',
        params: { progressToken: 't', progress: 1 },
      };
      if (name === 'sse') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const events = `: priming\r\nid: 1\r\ndata: ${JSON.stringify(progress)}\r\n\r\nid: 2\nevent: message\ndata: ${JSON.stringify(result(msg.id as number, words))}\n\n`;
        await trickle(res, events, 1);
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        await trickle(res, JSON.stringify(result(msg.id as number, words)), 2);
      }
    });
    try {
      const { channel, got } = bareChannel(up.url);
      await channel.send(toolCall(1, 'sse', { progressToken: 't' }));
      assert.deepEqual(
        got.map((g) => [g.msg, g.relatedTo]),
        [
          [{ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 't', progress: 1 } }, 1],
          [result(1, words), 1],
        ],
      );
      await channel.send(toolCall(2, 'json'));
      assert.deepEqual(got.at(-1)?.msg, result(2, words));
      await channel.close();
    } finally {
      await up.close();
    }
  },
);

test('events on a stream are handled in the async context of the call that opened it', LIMIT, async () => {
  const up = await edgeServer(async (msg, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(
      `data: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'x' } })}\n\n`,
    );
    await sleepMs(5);
    res.end(`data: ${JSON.stringify(result(msg.id as number, 'ok'))}\n\n`);
  });
  try {
    const { channel, got } = bareChannel(up.url);
    // The first call opens the keep-alive connection; the second one, once it is free, reuses it
    // from another context (undici's socket callbacks run in the context that opened the socket).
    await als.run('first', () => channel.send(toolCall(1, 'a')));
    await sleepMs(20);
    await als.run('second', () => channel.send(toolCall(2, 'a')));
    assert.deepEqual(
      got.map((g) => g.store),
      ['first', 'first', 'second', 'second'],
    );
    await channel.close();
  } finally {
    await up.close();
  }
});

test('a request aborted while its headers are pending, or before it went out, ends at once', LIMIT, async () => {
  const up = await edgeServer(() => {}); // never answers
  try {
    const { channel, got } = bareChannel(up.url);
    const ac = new AbortController();
    const pending = channel.send(toolCall(1, 'hang'), ac.signal);
    await until(() => up.posts.length === 1);
    ac.abort();
    await pending; // the peer has settled an aborted request: the channel delivers nothing for it
    await until(() => up.posts[0].cut);
    assert.equal(channel.cancel(1), false, 'the exchange is gone');

    // Modern: cancel(id) is the cancellation, headers pending or not.
    const modernCall = channel.send(toolCall(2, 'hang', modernMeta()));
    await until(() => up.posts.length === 2);
    assert.equal(channel.cancel(2), true);
    await modernCall;
    await until(() => up.posts[1].cut);

    // Aborted before it could go out (the pool still connecting): nothing reaches the server.
    const fresh = bareChannel(up.url);
    const early = new AbortController();
    const queued = fresh.channel.send(toolCall(3, 'hang'), early.signal);
    early.abort();
    await queued;
    await sleepMs(100);
    assert.equal(up.posts.length, 2);
    assert.deepEqual([...got, ...fresh.got], []);
    await Promise.all([channel.close(), fresh.channel.close()]);
  } finally {
    await up.close();
  }
});

test('an exception thrown while an answer is read aborts that exchange and fails only its request', LIMIT, async () => {
  const up = await edgeServer(async (msg, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(
      `data: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'x' } })}\n\n`,
    );
    if (msg.params?.name === 'stuck') return; // the answer never comes: only the abort ends this stream
    await sleepMs(5);
    res.end(`data: ${JSON.stringify(result(msg.id as number, 'ok'))}\n\n`);
  });
  try {
    let throwing = true;
    const { channel, got } = bareChannel(up.url, () => {
      if (throwing) throw new Error('receiver exploded');
    });
    await assert.rejects(channel.send(toolCall(1, 'stuck')), /receiver exploded/);
    await until(() => up.posts[0].cut);
    assert.equal(channel.cancel(1), false, 'the exchange is gone');
    throwing = false;
    await channel.send(toolCall(2, 'fine'));
    assert.deepEqual(got.at(-1)?.msg, result(2, 'ok'));
    await channel.close();
  } finally {
    await up.close();
  }
});

test('the body of an answer to a notification is dropped: at most 128 KiB is read', LIMIT, async () => {
  const up = await edgeServer(async (_msg, res) => {
    res.writeHead(202, { 'content-type': 'text/plain' });
    for (let i = 0; i < 4096 && !res.destroyed; i++) {
      res.write(Buffer.alloc(1024, 'z'));
      await sleepMs(0);
    }
    res.end();
  });
  try {
    const { channel } = bareChannel(up.url);
    await channel.send({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' });
    assert.equal(up.posts.length, 1);
    await until(() => up.posts[0].cut);
    await channel.close();
  } finally {
    await up.close();
  }
});
