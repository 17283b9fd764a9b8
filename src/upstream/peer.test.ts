/**
 * Which call a server->client request belongs to (peer.ts), on a fake channel: the transport's link,
 * else the progress token in `_meta`, else (only on channels that cannot say) the only call in flight;
 * otherwise nobody is asked and the server is told why (not "method not supported").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../observability/logger.ts';
import type { JsonRpcMessage, JsonRpcRequest, RequestId } from '../protocol/jsonrpc.ts';
import { Peer } from './peer.ts';
import type { CallOptions, Channel } from './types.ts';

class FakeChannel implements Channel {
  readonly description = 'fake';
  readonly sent: JsonRpcMessage[] = [];
  #rx!: { message(msg: unknown, relatedTo?: RequestId): void; closed(err?: Error): void };
  async send(msg: JsonRpcMessage): Promise<void> {
    this.sent.push(msg);
  }
  setReceiver(r: { message(msg: unknown, relatedTo?: RequestId): void; closed(err?: Error): void }): void {
    this.#rx = r;
  }
  async close(): Promise<void> {}
  deliver(msg: unknown, relatedTo?: RequestId): void {
    this.#rx.message(msg, relatedTo);
  }
  /** The answer the peer sent to server request `id`. */
  async answerTo(id: RequestId): Promise<Record<string, unknown>> {
    for (let i = 0; i < 100; i++) {
      const a = this.sent.find((m) => (m as { id?: RequestId }).id === id && !('method' in m));
      if (a) return a as unknown as Record<string, unknown>;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`no answer to ${String(id)}`);
  }
}

const sampling = (id: string, meta?: Record<string, unknown>): JsonRpcRequest => ({
  jsonrpc: '2.0',
  id,
  method: 'sampling/createMessage',
  params: { messages: [], maxTokens: 1, ...(meta ? { _meta: meta } : {}) },
});

function call(peer: Peer, name: string, asked: string[], extra: Partial<CallOptions> = {}, token?: string) {
  const p = peer.request(
    'tools/call',
    { name, ...(token ? { _meta: { progressToken: token } } : {}) },
    {
      timeoutMs: 5000,
      maxTotalMs: 5000,
      askable: true,
      onServerRequest: async () => {
        asked.push(name);
        return { result: { answeredBy: name } };
      },
      ...extra,
    },
  );
  p.catch(() => {});
  return p;
}

test('the transport link wins; then the progress token; two calls and no link: nobody is asked, and the server hears why', async () => {
  const ch = new FakeChannel();
  const peer = new Peer(ch, silentLogger());
  const asked: string[] = [];
  call(peer, 'a', asked, {}, 'tok-a');
  call(peer, 'b', asked, {}, 'tok-b');
  ch.deliver(sampling('s1'), 2);
  assert.deepEqual((await ch.answerTo('s1')).result, { answeredBy: 'b' });
  ch.deliver(sampling('s2', { progressToken: 'tok-a' }));
  assert.deepEqual((await ch.answerTo('s2')).result, { answeredBy: 'a' });
  ch.deliver(sampling('s3'));
  const refused = (await ch.answerTo('s3')).error as { code: number; message: string };
  assert.notEqual(refused.code, -32601);
  assert.match(refused.message, /2 calls are in flight.*did not say which one asks/);
  assert.deepEqual(asked, ['b', 'a'], 'nobody was asked the ambiguous question');
  await peer.close();
});

test('on a channel that cannot say, once the server asks, callers that can be asked take turns: the only call in flight is the one', async () => {
  const ch = new FakeChannel();
  const peer = new Peer(ch, silentLogger());
  const asked: string[] = [];
  const first = call(peer, 'first', asked);
  ch.deliver(sampling('s1'));
  assert.deepEqual((await ch.answerTo('s1')).result, { answeredBy: 'first' });
  const a = call(peer, 'a', asked);
  const b = call(peer, 'b', asked);
  ch.deliver({ jsonrpc: '2.0', id: 1, result: {} });
  await first;
  await new Promise((r) => setTimeout(r, 10));
  const inFlight = () => ch.sent.filter((m) => (m as { method?: string }).method === 'tools/call').length;
  assert.equal(inFlight(), 2, 'a is sent, b waits its turn');
  ch.deliver(sampling('s2'));
  assert.deepEqual((await ch.answerTo('s2')).result, { answeredBy: 'a' });
  ch.deliver({ jsonrpc: '2.0', id: 2, result: {} });
  await a;
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(inFlight(), 3, 'then b');
  ch.deliver(sampling('s3'));
  assert.deepEqual((await ch.answerTo('s3')).result, { answeredBy: 'b' });
  ch.deliver({ jsonrpc: '2.0', id: 3, result: {} });
  await b;
  assert.deepEqual(asked, ['first', 'a', 'b']);
  await peer.close();
});

test("questions on their call's stream make nobody wait; ping is answered", async () => {
  const ch = new FakeChannel();
  const peer = new Peer(ch, silentLogger());
  const asked: string[] = [];
  call(peer, 'a', asked);
  ch.deliver(sampling('s1'), 1);
  assert.deepEqual((await ch.answerTo('s1')).result, { answeredBy: 'a' });
  call(peer, 'b', asked);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(
    ch.sent.filter((m) => (m as { method?: string }).method === 'tools/call').length,
    2,
    'b is sent beside a: the server says which call asks',
  );
  ch.deliver({ jsonrpc: '2.0', id: 'p', method: 'ping' });
  assert.deepEqual((await ch.answerTo('p')).result, {});
  ch.deliver({ jsonrpc: '2.0', id: 'n', method: 'roots/list' });
  assert.match(((await ch.answerTo('n')).error as { message: string }).message, /2 calls are in flight/);
  assert.deepEqual(asked, ['a']);
  await peer.close();
});

test('callers that cannot be asked run together; a question then reaches none of them', async () => {
  const ch = new FakeChannel();
  const peer = new Peer(ch, silentLogger());
  const asked: string[] = [];
  call(peer, 'x', asked, { askable: false });
  call(peer, 'y', asked, { askable: false });
  ch.deliver(sampling('s1'));
  assert.match(
    ((await ch.answerTo('s1')).error as { message: string }).message,
    /none of the callers with calls in flight can answer/,
  );
  assert.deepEqual(asked, []);
  await peer.close();
});

test("a server's dropped messages make the gateway log a bounded number of lines, however many it sends", () => {
  const ch = new FakeChannel();
  const lines: unknown[] = [];
  const log = { ...silentLogger(), warn: (o: unknown) => void lines.push(o), info: (o: unknown) => void lines.push(o) };
  new Peer(ch, log as never);
  for (let i = 0; i < 10_000; i++) ch.deliver({});
  for (let i = 0; i < 10_000; i++) ch.deliver({ jsonrpc: '2.0', id: 9_000_000 + i, result: {} });
  assert.ok(lines.length <= 20, `${lines.length} lines for 20,000 dropped messages`);
});

test('a call that waited for its turn in the ask lane is checked before it goes out: a refusal there sends nothing', async () => {
  const ch = new FakeChannel();
  const peer = new Peer(ch, silentLogger());
  const asked: string[] = [];
  const first = call(peer, 'first', asked);
  ch.deliver(sampling('s1')); // the server asks without naming its call: callers take turns from now on
  await ch.answerTo('s1');
  const a = call(peer, 'a', asked); // holds the lane
  const checks: string[] = [];
  const refused = call(peer, 'refused', asked, {
    beforeSend: async () => {
      checks.push('refused');
      throw new Error('settings changed meanwhile');
    },
  });
  const allowed = call(peer, 'allowed', asked, { beforeSend: async () => void checks.push('allowed') });
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(checks, [], 'nothing is checked before its turn');
  ch.deliver({ jsonrpc: '2.0', id: 1, result: {} });
  ch.deliver({ jsonrpc: '2.0', id: 2, result: {} });
  await Promise.all([first, a]);
  await assert.rejects(refused, /settings changed meanwhile/);
  await new Promise((r) => setTimeout(r, 10));
  const sent = ch.sent.filter((m) => (m as { method?: string }).method === 'tools/call');
  assert.deepEqual(
    sent.map((m) => (m as JsonRpcRequest).params?.name),
    ['first', 'a', 'allowed'],
    'the refused call never went out; the next one did',
  );
  assert.deepEqual(checks, ['refused', 'allowed']);
  ch.deliver({ jsonrpc: '2.0', id: 3, result: {} });
  await allowed;
  await peer.close();
});
