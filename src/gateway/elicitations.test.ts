import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonRpcMessage, JsonRpcNotification } from '../protocol/jsonrpc.ts';
import { LiveSession, type MessageSink } from '../sessions/sessions.ts';
import { type AskingCall, ElicitationRoutes } from './elicitations.ts';

function sink(): MessageSink & { got: JsonRpcMessage[] } {
  const got: JsonRpcMessage[] = [];
  return { got, closed: false, send: (m) => void got.push(m), close() {} };
}

function session(withStream = true): LiveSession & { got: JsonRpcMessage[] } {
  const s = new LiveSession({
    id: `s${Math.random()}`,
    scope: '',
    protocolVersion: '2025-11-25',
    clientCapabilities: {},
    clientInfo: {},
    principal: 'p',
    tenant: 'acme',
    createdAt: 0,
    lastSeenAt: 0,
  });
  const out = sink();
  if (withStream) s.stream = out;
  return Object.assign(s, { got: out.got });
}

const done = (elicitationId: unknown): JsonRpcNotification => ({
  jsonrpc: '2.0',
  method: 'notifications/elicitation/complete',
  params: { elicitationId, extra: 'from the upstream' },
});
const call = (): AskingCall & { got: JsonRpcNotification[] } => {
  const got: JsonRpcNotification[] = [];
  return { got, notify: (n) => void got.push(n) };
};
const ids = (got: JsonRpcMessage[]) => got.map((m) => (m as JsonRpcNotification).params?.elicitationId);

test('a completion reaches the session asked, under the id it was shown, once; nothing else of the notification', () => {
  const r = new ElicitationRoutes();
  const [a, b] = [session(), session()];
  r.asked('up-1', a, 'shown-1', call());
  r.asked('up-2', b, 'up-2', call());
  r.complete(done('up-1'));
  r.complete(done('up-1'));
  assert.deepEqual(a.got, [
    { jsonrpc: '2.0', method: 'notifications/elicitation/complete', params: { elicitationId: 'shown-1' } },
  ]);
  assert.deepEqual(b.got, []);
  for (const unknown of ['up-3', 7, undefined]) r.complete(done(unknown));
  r.complete({ jsonrpc: '2.0', method: 'notifications/message', params: { elicitationId: 'up-2' } });
  assert.deepEqual([a.got.length, b.got.length], [1, 0]);
});

test('an id asked of two sessions reaches neither; asked again of the same session, the latest call', () => {
  const r = new ElicitationRoutes();
  const [a, b] = [session(), session()];
  r.asked('dup', a, 'dup', call());
  r.asked('dup', b, 'dup', call());
  r.complete(done('dup'));
  assert.deepEqual([a.got, b.got], [[], []]);
  r.asked('again', a, 'again', call());
  r.asked('again', a, 'again', call());
  r.complete(done('again'));
  assert.deepEqual(ids(a.got), ['again']);
});

test("without a session stream, the call's own stream while it is open; after it, nobody", () => {
  const r = new ElicitationRoutes();
  const s = session(false);
  const c = call();
  r.asked('one', s, 'one', c);
  r.asked('two', s, 'two', c);
  r.complete(done('one'));
  assert.deepEqual(ids(c.got), ['one']);
  c.notify = undefined; // the call was answered
  r.complete(done('two'));
  assert.deepEqual(ids(c.got), ['one']);
});

test('a bounded number per connection: the oldest are forgotten first', () => {
  const r = new ElicitationRoutes();
  const s = session();
  for (let i = 0; i < 300; i++) r.asked(`id-${i}`, s, `id-${i}`, call());
  r.complete(done('id-0'));
  r.complete(done('id-299'));
  assert.deepEqual(ids(s.got), ['id-299']);
});
