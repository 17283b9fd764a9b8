/**
 * The table of what an upstream may say (upstream-methods.ts), as the peer applies it on a channel
 * fed by hand: every row reaches the hearer it names, during a call and outside any; a method not in
 * the table reaches nobody — a request is answered -32601, a notification dropped — and is reported
 * refused; and what the gateway logs of refusals stays bounded however many a server makes up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../observability/logger.ts';
import type { JsonRpcMessage, JsonRpcNotification, RequestId } from './jsonrpc.ts';
import { Peer } from '../upstream/peer.ts';
import type { Channel } from '../upstream/types.ts';
import { RefusedMethods } from '../gateway/refused-methods.ts';
import {
  FROM_UPSTREAM_STAGES,
  type FromUpstreamStage,
  hearerOf,
  UPSTREAM_NOTIFICATIONS,
  UPSTREAM_REQUESTS,
  upstreamNotification,
  upstreamRequest,
} from './upstream-methods.ts';

class HandChannel implements Channel {
  readonly description = 'by hand';
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
  async answerTo(id: RequestId): Promise<Record<string, unknown>> {
    for (let i = 0; i < 200; i++) {
      const a = this.sent.find((m) => (m as { id?: RequestId }).id === id && !('method' in m));
      if (a) return a as unknown as Record<string, unknown>;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`no answer to ${String(id)}`);
  }
}

/** A peer with one call in flight (id 1, progress token `tok`), and what reached whom. */
function peerWithCall() {
  const ch = new HandChannel();
  const peer = new Peer(ch, silentLogger());
  const heard = { call: [] as string[], connection: [] as string[], asked: [] as string[], refused: [] as string[] };
  peer.onEvent((n) => void heard.connection.push(n.method));
  peer.onRefused((kind, method) => void heard.refused.push(`${kind} ${method}`));
  const call = peer.request(
    'tools/call',
    { name: 't', _meta: { progressToken: 'tok' } },
    {
      timeoutMs: 5000,
      maxTotalMs: 5000,
      askable: true,
      onNotification: (n) => void heard.call.push(n.method),
      onServerRequest: async (r) => {
        heard.asked.push(r.method);
        return { result: { asked: r.method } };
      },
    },
  );
  call.catch(() => {});
  return { ch, peer, heard };
}

const note = (method: string): JsonRpcNotification => ({
  jsonrpc: '2.0',
  method,
  params: { progressToken: 'tok', taskId: 'task-1', status: 'working', level: 'info', uri: 'x://y' },
});

test('every row is well-formed: its stages are named stages, a question names its capability, a notice said during a call is its connection’s unless its caller’s', () => {
  const stages = new Set(Object.keys(FROM_UPSTREAM_STAGES));
  for (const [method, row] of [...Object.entries(UPSTREAM_REQUESTS), ...Object.entries(UPSTREAM_NOTIFICATIONS)]) {
    for (const s of row.stages) assert.ok(stages.has(s), `${method}: unknown stage ${s}`);
    assert.ok(row.why.length > 10, `${method} says why`);
    assert.ok(row.inCall || row.outside, `${method} is accepted somewhere`);
  }
  for (const [method, row] of Object.entries(UPSTREAM_REQUESTS)) {
    assert.equal(
      row.inCall === 'caller',
      row.capability !== undefined,
      `${method}: a caller is asked only what it declared`,
    );
    if (row.inCall === 'caller')
      assert.ok(row.stages.includes('answer' as FromUpstreamStage), `${method}: answers are checked`);
  }
  for (const [method, row] of Object.entries(UPSTREAM_NOTIFICATIONS))
    if (row.inCall !== 'caller' && row.inCall !== 'gateway')
      assert.equal(row.inCall, row.outside, `${method}: said during a call, it is the connection's, as outside any`);
  for (const method of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    assert.equal(upstreamRequest(method), undefined, method);
    assert.equal(upstreamNotification(method), undefined, method);
  }
});

test('every notification row, said during a call and outside any, reaches the hearer the table names and no other', async () => {
  for (const [method, row] of Object.entries(UPSTREAM_NOTIFICATIONS)) {
    for (const inCall of [true, false]) {
      const { ch, peer, heard } = peerWithCall();
      const n = note(method);
      // During the call: on its stream (HTTP's link; progress names it by its token too). Outside:
      // on no call's stream, progress naming a token no call gave.
      if (inCall) ch.deliver(n, 1);
      else ch.deliver(method === 'notifications/progress' ? { ...n, params: { progressToken: 'other' } } : n, 99);
      const hearer = hearerOf(row, inCall);
      const where = `${method} ${inCall ? 'during a call' : 'outside any'}`;
      assert.deepEqual(heard.call, hearer === 'caller' ? [method] : [], `${where}: the call`);
      assert.deepEqual(heard.connection, hearer && hearer !== 'caller' ? [method] : [], `${where}: the connection`);
      assert.deepEqual(heard.refused, [], `${where}: not refused`);
      await peer.close();
    }
  }
});

test('every request row is answered as the table says: the gateway itself, the calling caller, or refused outside a call', async () => {
  for (const [method, row] of Object.entries(UPSTREAM_REQUESTS)) {
    for (const inCall of [true, false]) {
      const { ch, peer, heard } = peerWithCall();
      const id = `${method}-${inCall}`;
      // Outside any call: the call in flight is not one that can be asked (a listing's, say).
      if (!inCall) await peer.close();
      const p = inCall ? peer : new Peer(ch, silentLogger());
      p.onRefused((kind, m) => void heard.refused.push(`${kind} ${m}`));
      ch.deliver({ jsonrpc: '2.0', id, method, params: {} }, inCall ? 1 : undefined);
      const answer = await ch.answerTo(id);
      const where = `${method} ${inCall ? 'during a call' : 'outside any'}`;
      const hearer = inCall ? row.inCall : row.outside;
      if (hearer === 'gateway') assert.deepEqual(answer.result, {}, where);
      else if (hearer === 'caller') assert.deepEqual(answer.result, { asked: method }, where);
      else assert.equal((answer.error as { code: number }).code, -32603, `${where}: no caller can be blamed`);
      assert.deepEqual(heard.asked, hearer === 'caller' ? [method] : [], `${where}: asked`);
      assert.deepEqual(heard.refused, [], `${where}: not refused`);
      await p.close();
    }
  }
});

test('a method not in the table reaches nobody: a request is answered -32601, a notification dropped, each reported', async () => {
  const { ch, peer, heard } = peerWithCall();
  const made = ['evil/steal', 'notifications/roots/list_changed', 'tools/call', 'constructor', 'tasks/get'];
  for (const [i, method] of made.entries()) {
    ch.deliver({ jsonrpc: '2.0', method, params: { progressToken: 'tok' } }, 1);
    ch.deliver({ jsonrpc: '2.0', method, params: { progressToken: 'tok' } });
    ch.deliver({ jsonrpc: '2.0', id: `in-${i}`, method, params: { _meta: { progressToken: 'tok' } } }, 1);
    ch.deliver({ jsonrpc: '2.0', id: `out-${i}`, method, params: {} });
    for (const id of [`in-${i}`, `out-${i}`]) {
      const error = (await ch.answerTo(id)).error as { code: number; message: string };
      assert.equal(error.code, -32601, `${method} (${id})`);
      assert.match(error.message, /^method not found: the gateway takes no `.+` request from a server/);
    }
  }
  // A request method said as a notification is no notification of the table either.
  ch.deliver({ jsonrpc: '2.0', method: 'sampling/createMessage', params: {} }, 1);
  assert.deepEqual(heard.call, []);
  assert.deepEqual(heard.connection, []);
  assert.deepEqual(heard.asked, [], 'no caller was asked');
  assert.equal(heard.refused.filter((r) => r.startsWith('request ')).length, made.length * 2);
  assert.equal(heard.refused.filter((r) => r.startsWith('notification ')).length, made.length * 2 + 1);
  await peer.close();
});

test('refusals are logged once per server and method, within a budget per server, whatever a server makes up', () => {
  const r = new RefusedMethods({ remembered: 8, perServer: 3, windowMs: 1000 });
  const logged: string[] = [];
  const say = (server: string, method: string, now: number) =>
    r.refused(server, 'notification', method, now, (n) => void logged.push(`${server} ${method}${n ? ` +${n}` : ''}`));
  say('a', 'x/1', 0);
  say('a', 'x/1', 1);
  say('b', 'x/1', 2);
  assert.deepEqual(logged, ['a x/1', 'b x/1'], 'once per server and method');
  for (let i = 2; i < 100; i++) say('a', `x/${i}`, 3);
  assert.deepEqual(logged, ['a x/1', 'b x/1', 'a x/2', 'a x/3'], 'at most three lines a window per server');
  say('b', 'x/2', 4);
  assert.equal(logged.at(-1), 'b x/2', "one server's flood spends only its own budget");
  say('a', 'x/50', 1500);
  assert.equal(logged.at(-1), 'a x/50 +96', 'the next window says how many were left out');
  r.forget('a');
  say('a', 'x/1', 1600);
  assert.equal(logged.at(-1), 'a x/1', 'a removed server is told afresh');
});
