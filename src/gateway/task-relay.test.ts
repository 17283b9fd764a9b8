import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonObject, JsonRpcNotification } from '../protocol/jsonrpc.ts';
import { GatehouseError, UpstreamRpcError } from '../protocol/errors.ts';
import type { RelayMessage } from '../sessions/replica-relay.ts';
import type { Upstream } from '../upstream/upstream.ts';
import { Holds } from './holds.ts';
import { type ElsewhereTask, TaskHandles } from './tasks.ts';
import { TaskRelay } from './task-relay.ts';

const A = 'a'.repeat(16);
const B = 'b'.repeat(16);
const alice = { key: '["api-key","gatehouse","apikey:alice","acme"]', tenant: 'acme', subject: 'apikey:alice' };

/** What A's connection was asked, and how it answers. */
interface FakeUp {
  asked: Array<{ method: string; params: JsonObject; signal: AbortSignal }>;
  answer: (method: string, signal: AbortSignal) => Promise<JsonObject>;
  /** What it says on the way (a progress message's token is the one it was asked with). */
  say: JsonRpcNotification[];
}

/**
 * Replicas A (holding tasks in its connection `up`) and B, sharing a key, relaying in memory.
 * `heard`: whether A listens; `live`: whether B's relay is up.
 */
function pair(opts: { maxBytes?: number; connection?: boolean } = {}) {
  const key = Buffer.alloc(32, 7);
  const handles = { [A]: new TaskHandles(key, A), [B]: new TaskHandles(key, B) };
  const up: FakeUp = { asked: [], answer: async () => ({ taskId: 'u-1', status: 'working' }), say: [] };
  const fakeUp = {
    name: 'mt',
    request: (
      method: string,
      params: JsonObject,
      o: { signal: AbortSignal; onNotification?: (n: JsonRpcNotification) => void },
    ) => {
      up.asked.push({ method, params, signal: o.signal });
      const token = (params._meta as JsonObject | undefined)?.progressToken;
      for (const n of up.say)
        o.onNotification?.(
          n.method === 'notifications/progress' ? { ...n, params: { ...n.params, progressToken: token } } : n,
        );
      return up.answer(method, o.signal);
    },
  } as unknown as Upstream;
  const relays: Record<string, TaskRelay> = {};
  const state = { heard: true, live: true };
  const holds = new Holds(60_000);
  for (const id of [A, B]) {
    const send = async (to: string, m: RelayMessage) => {
      const r = relays[to];
      setImmediate(() => {
        if (m.kind === 'task') void r.serve(m);
        else if (m.kind === 'tasked') r.answered(m);
        else if (m.kind === 'cancel') r.cancel(m);
        else if (m.kind === 'note') r.note(m);
      });
      return true;
    };
    const relay = {
      id,
      get live() {
        return state.live;
      },
      send,
      sendHeard: async (to: string, m: RelayMessage) => (to === A && !state.heard ? false : send(to, m)),
    };
    const holder = {
      handles: () => handles[id],
      connection: (server: string, tenant: string) =>
        id === A && server === 'mt' && tenant === 'acme' && opts.connection !== false ? fakeUp : undefined,
      holds,
    };
    relays[id] = new TaskRelay(relay, holder, () => opts.maxBytes ?? 1_000_000);
  }
  const handle = handles[A].seal({ server: 'mt', tool: 'mt__deploy', taskId: 'u-1' }, alice, '');
  const request = (over: Partial<ElsewhereTask> = {}): ElsewhereTask => ({
    handle,
    method: 'tasks/get',
    params: {},
    principal: alice.key,
    tenant: alice.tenant,
    subject: alice.subject,
    scope: '',
    era: 'legacy',
    waitMs: 5_000,
    ...over,
  });
  return { relays, up, state, request, close: () => holds.close() };
}

const fromB = (p: ReturnType<typeof pair>, r: ElsewhereTask, signal = new AbortController().signal) =>
  p.relays[B].send(A, r, signal);

async function rejection(p: Promise<unknown>): Promise<GatehouseError> {
  try {
    await p;
  } catch (err) {
    return err as GatehouseError;
  }
  assert.fail('expected a rejection');
}

test("B's request is asked of A's connection with the handle's upstream id, whatever the params say", async () => {
  const p = pair();
  const got = await fromB(p, p.request({ params: { taskId: 'someone-elses', _meta: { trace: 'x' } } }));
  assert.deepEqual(got, { taskId: 'u-1', status: 'working' });
  assert.equal(p.up.asked.length, 1);
  assert.equal(p.up.asked[0].method, 'tasks/get');
  assert.deepEqual(p.up.asked[0].params, { taskId: 'u-1', _meta: { trace: 'x' } });
  p.close();
});

test('another principal, tenant, subject or endpoint, or a handle naming another replica, opens nothing on A', async () => {
  const p = pair();
  const elsewhere = new TaskHandles(Buffer.alloc(32, 7), B).seal(
    { server: 'mt', tool: 'mt__deploy', taskId: 'u-1' },
    alice,
    '',
  );
  for (const over of [
    { principal: alice.key.replace('alice', 'bob') },
    { tenant: 'globex' },
    { subject: 'apikey:bob' },
    { scope: 'mt' },
    { handle: elsewhere },
    { handle: `${p.request().handle}x` },
  ]) {
    const err = await rejection(fromB(p, p.request(over)));
    assert.equal(err.code, 'E_UNKNOWN_TASK', JSON.stringify(over));
  }
  assert.equal(p.up.asked.length, 0, 'the connection was asked nothing');
  p.close();
});

test("the upstream's JSON-RPC error comes back as the upstream's; a connection that ended is an unknown task", async () => {
  const p = pair();
  p.up.answer = async () => {
    throw new UpstreamRpcError(-32602, 'Failed to retrieve task: Task not found');
  };
  const err = (await rejection(fromB(p, p.request()))) as unknown as UpstreamRpcError;
  assert.ok(err instanceof UpstreamRpcError);
  assert.equal(err.rpcCode, -32602);
  p.close();
  const gone = pair({ connection: false });
  const e = await rejection(fromB(gone, gone.request()));
  assert.equal(e.code, 'E_UNKNOWN_TASK');
  assert.match(e.message, /connection that held it .* has ended/);
  gone.close();
});

test('an answer larger than gateway.maxBodyBytes does not cross', async () => {
  const p = pair({ maxBytes: 200 });
  p.up.answer = async () => ({ content: [{ type: 'text', text: 'x'.repeat(500) }] });
  const err = await rejection(fromB(p, p.request({ method: 'tasks/result' })));
  assert.equal(err.code, 'E_UPSTREAM_TOO_LARGE');
  p.close();
});

test('a caller that leaves aborts the request on the holder (a tasks/result waiting for its task)', async () => {
  const p = pair();
  let aborted: (() => void) | undefined;
  const onHolder = new Promise<void>((r) => {
    aborted = r;
  });
  p.up.answer = (_m, signal) =>
    new Promise((_resolve, reject) => {
      signal.addEventListener('abort', () => {
        aborted?.();
        reject(new GatehouseError('E_CANCELLED'));
      });
    });
  const caller = new AbortController();
  const waiting = fromB(p, p.request({ method: 'tasks/result' }), caller.signal);
  while (p.up.asked.length === 0) await new Promise((r) => setImmediate(r));
  caller.abort();
  assert.equal((await rejection(waiting)).code, 'E_CANCELLED');
  await onHolder; // the holder's request was aborted too
  p.close();
});

test('no relay (Redis away), or a holder that no longer listens: said at once, as a task held elsewhere', async () => {
  const p = pair();
  p.state.heard = false;
  const started = Date.now();
  const stopped = await rejection(fromB(p, p.request()));
  assert.equal(stopped.code, 'E_TASK_ELSEWHERE');
  assert.match(stopped.message, /does not answer \(stopped or restarted\)/);
  p.state.live = false;
  const away = await rejection(fromB(p, p.request()));
  assert.equal(away.code, 'E_TASK_ELSEWHERE');
  assert.match(away.message, /^this task is held by another gateway replica; /);
  assert.ok(Date.now() - started < 1_000);
  assert.equal(p.up.asked.length, 0);
  p.close();
});

test('without a replica relay at all, the handles say the task is held elsewhere', async () => {
  const p = pair();
  const err = await rejection(new TaskHandles(Buffer.alloc(32)).elsewhere(B, p.request(), AbortSignal.timeout(1000)));
  assert.equal(err.code, 'E_TASK_ELSEWHERE');
  p.close();
});

test("the holder's progress and log messages come back to the caller's replica, before the answer: the first 100, none too large", async () => {
  const p = pair();
  const log = (data: string): JsonRpcNotification => ({
    jsonrpc: '2.0',
    method: 'notifications/message',
    params: { level: 'info', data },
  });
  p.up.say = [
    log('x'.repeat(40_000)), // over 32 KiB: not sent
    { jsonrpc: '2.0', method: 'notifications/progress', params: { progress: 1 } },
    ...Array.from({ length: 150 }, (_, i) => log(`line ${i}`)),
  ];
  const heard: JsonRpcNotification[] = [];
  const got = await p.relays[B].send(A, p.request({ progress: true }), new AbortController().signal, (n) =>
    heard.push(n),
  );
  assert.deepEqual(got, { taskId: 'u-1', status: 'working' });
  assert.equal(heard.length, 100);
  assert.equal(heard[0].method, 'notifications/progress');
  assert.equal(typeof heard[0].params?.progressToken, 'string', "the holder's token: B puts its caller's in");
  assert.deepEqual(heard[99].params, { level: 'info', data: 'line 98' });
  // Without progress asked, none; a note for no one waiting is ignored.
  heard.length = 0;
  await p.relays[B].send(A, p.request(), new AbortController().signal, (n) => heard.push(n));
  assert.ok(heard.every((n) => n.method === 'notifications/message'));
  p.relays[B].note({ kind: 'note', corr: 'nobody', note: log('forged') });
  p.close();
});
