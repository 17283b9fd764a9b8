/**
 * The legacy HTTP+SSE channel (2024-11-05) against a real SDK v1 SSE server on loopback, driven
 * through the real Peer and handshake; plus small servers that misbehave at connection time.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { silentLogger } from '../observability/logger.ts';
import { type GatehouseError, UpstreamRpcError } from '../protocol/errors.ts';
import type { JsonObject, JsonRpcRequest } from '../protocol/jsonrpc.ts';
import { handshake } from './handshake.ts';
import { Peer } from './peer.ts';
import { LegacySseChannel } from './sse.ts';
import { legacySse, type TestServer } from '../../test/fixtures/upstreams/sdk-http-servers.ts';

const log = silentLogger();
/** Every test is bounded: a missed event fails it instead of hanging the file. */
const LIMIT = { timeout: 15_000 };
let sdk: TestServer;
let odd: Server;
let oddUrl: string;
const peers: Peer[] = [];

/** Misbehaving SSE servers, by path: an endpoint on another origin, no endpoint at all, 404, POSTs answered 500. */
function oddServer(): Server {
  return createServer((req, res) => {
    const sse = () => res.writeHead(200, { 'content-type': 'text/event-stream' });
    if (req.url === '/evil') return void sse().write('event: endpoint\ndata: http://127.0.0.2:9/steal\n\n');
    if (req.url === '/silent') return void sse().write(': nothing to say\n\n');
    if (req.url === '/broken') return void sse().write('event: endpoint\ndata: post500\n\n');
    if (req.url === '/loud') {
      // A notification and a request of the server's over 1 KiB, a small notification, and a large answer.
      const big = 'x'.repeat(2000);
      const ev = (m: unknown) => `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', ...(m as object) })}\n\n`;
      return void sse().write(
        'event: endpoint\ndata: post500\n\n' +
          ev({ method: 'notifications/message', params: { level: 'info', data: big } }) +
          ev({ id: 'q', method: 'sampling/createMessage', params: { note: big } }) +
          ev({ method: 'notifications/message', params: { level: 'info', data: 'small' } }) +
          ev({ id: 7, result: { text: big } }),
      );
    }
    if (req.url === '/post500') return void req.resume().on('end', () => res.writeHead(500).end('boom'));
    res.writeHead(404).end();
  });
}

before(async () => {
  sdk = await legacySse();
  odd = oddServer();
  await new Promise<void>((resolve) => odd.listen(0, '127.0.0.1', resolve));
  oddUrl = `http://127.0.0.1:${(odd.address() as { port: number }).port}`;
});
after(async () => {
  await Promise.all(peers.map((p) => p.close()));
  odd.closeAllConnections();
  await Promise.all([sdk.close(), new Promise((r) => odd.close(r))]);
});

function open(url: string, connectTimeoutMs?: number) {
  const channel = new LegacySseChannel('t', { url, connectTimeoutMs }, log);
  const peer = new Peer(channel, log);
  peers.push(peer);
  const closed = new Promise<Error | undefined>((resolve) => peer.onClose(resolve));
  return { channel, peer, closed };
}

const call = (peer: Peer, name: string, args: JsonObject, opts: Partial<Parameters<Peer['request']>[2]> = {}) =>
  peer.request(
    'tools/call',
    { name, arguments: args, ...(opts.onNotification ? { _meta: { progressToken: 'p' } } : {}) },
    { timeoutMs: 5000, maxTotalMs: 10_000, ...opts },
  );
const text = (r: JsonObject) => (r.content as Array<{ text: string }>)[0].text;

test('handshake and calls over the stream; messages are POSTed to the endpoint the stream named', LIMIT, async () => {
  const { channel, peer } = open(sdk.url);
  await channel.ready();
  const identity = await handshake(peer, { timeoutMs: 5000 });
  assert.equal(identity.era, 'legacy');
  const [a, b] = await Promise.all([call(peer, 'echo', { text: 'a' }), call(peer, 'echo', { text: 'b' })]);
  assert.deepEqual([text(a), text(b)], ['a', 'b']);
  const posts = sdk.seen.filter((s) => s.method === 'POST');
  assert.ok(posts.length >= 4);
  for (const p of posts) assert.match(p.path, /^\/messages\?sessionId=[0-9a-f-]{36}$/);
});

test('progress, a server->client request and cancellation', LIMIT, async () => {
  const { peer } = open(sdk.url);
  await handshake(peer, { timeoutMs: 5000 });
  const progress: unknown[] = [];
  assert.equal(
    text(await call(peer, 'slow', { steps: 3 }, { onNotification: (n) => progress.push(n.params?.progress) })),
    'done 3',
  );
  assert.deepEqual(progress, [1, 2, 3]);

  const asked: JsonRpcRequest[] = [];
  const r = await call(
    peer,
    'ask',
    {},
    {
      onServerRequest: async (req) => {
        asked.push(req);
        return { result: { action: 'decline' } };
      },
    },
  );
  assert.deepEqual(JSON.parse(text(r)), { action: 'decline' });
  assert.equal(asked[0]?.method, 'elicitation/create');

  const ac = new AbortController();
  await assert.rejects(
    call(peer, 'slow', { steps: 500 }, { signal: ac.signal, onNotification: () => ac.abort() }),
    (e: GatehouseError) => e.code === 'E_CANCELLED',
  );
  for (const end = Date.now() + 3000; !sdk.aborted.includes('slow'); await new Promise((res) => setTimeout(res, 10)))
    assert.ok(Date.now() < end, 'the server saw notifications/cancelled');
});

test('the stream dropping closes the channel and fails what was in flight', LIMIT, async () => {
  const { peer, closed } = open(sdk.url);
  await handshake(peer, { timeoutMs: 5000 });
  const running = call(peer, 'slow', { steps: 500 });
  sdk.drop();
  await assert.rejects(running, (e: GatehouseError) => e.code === 'E_UPSTREAM_FAILED');
  assert.equal((await closed)?.message, 'upstream sse stream ended');
  await assert.rejects(call(peer, 'echo', { text: 'x' }), (e: GatehouseError) => e.code === 'E_UPSTREAM_UNAVAILABLE');
});

test('an endpoint on another origin is refused', LIMIT, async () => {
  const { channel, closed } = open(`${oddUrl}/evil`);
  await assert.rejects(channel.ready(), /upstream sse endpoint `http:\/\/127\.0\.0\.2:9` is on another origin/);
  assert.match((await closed)!.message, /another origin/);
});

test('no endpoint in time, or no stream at all, fails the connection', LIMIT, async () => {
  const silent = open(`${oddUrl}/silent`, 200);
  await assert.rejects(silent.channel.ready(), /named no endpoint within 200 ms/);
  const missing = open(`${oddUrl}/nothing-here`);
  await assert.rejects(
    missing.peer.request('tools/list', undefined, { timeoutMs: 2000, maxTotalMs: 2000 }),
    (e: GatehouseError) => e.code === 'E_UPSTREAM_FAILED',
  );
  assert.equal((await missing.closed)?.message, 'upstream sse stream answered http 404');
});

test('a request POST answered with an error status fails that request with its status', LIMIT, async () => {
  const { peer } = open(`${oddUrl}/broken`);
  const err = await peer
    .request('tools/list', undefined, { timeoutMs: 2000, maxTotalMs: 2000 })
    .catch((e: unknown) => e);
  assert.ok(err instanceof UpstreamRpcError);
  assert.equal(err.message, 'upstream http 500');
  assert.deepEqual(err.data, { httpStatus: 500 });
  await assert.rejects(peer.notify('notifications/initialized'), /upstream answered http 500/);
});

test(
  "a notification over maxNotificationBytes is dropped; a request of the server's (it may belong to a call) and an answer are bounded by maxMessageBytes only",
  LIMIT,
  async () => {
    const channel = new LegacySseChannel('t', { url: `${oddUrl}/loud`, maxNotificationBytes: 1024 }, log);
    const got: unknown[] = [];
    channel.setReceiver({ message: (m) => got.push(m), closed: () => {} });
    await channel.ready();
    for (const end = Date.now() + 3000; got.length < 3; await new Promise((res) => setTimeout(res, 10)))
      assert.ok(Date.now() < end, `got ${JSON.stringify(got)}`);
    await channel.close();
    assert.deepEqual(
      got.map((m) => (m as { method?: string; id?: number }).method ?? (m as { id?: number }).id),
      ['sampling/createMessage', 'notifications/message', 7],
    );
    assert.equal((got[1] as { params: { data: string } }).params.data, 'small');
  },
);

test('close() ends the stream; the channel then refuses to send', LIMIT, async () => {
  const { channel, peer } = open(sdk.url);
  await handshake(peer, { timeoutMs: 5000 });
  await channel.close();
  await assert.rejects(channel.send({ jsonrpc: '2.0', method: 'notifications/initialized' }), /channel closed/);
});
