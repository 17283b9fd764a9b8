import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TaskHandles } from '../../gateway/tasks.ts';
import { SecretScrubber } from '../../credentials/scrub.ts';
import type { JsonObject, JsonRpcNotification } from '../../protocol/jsonrpc.ts';
import type { RequestContext } from '../../gateway/context.ts';
import type { Upstream } from '../../upstream/upstream.ts';
import { UpstreamRpcError } from '../../protocol/errors.ts';
import { executeRequest } from './execute-request.ts';
import { deps, fakeUpstream, principal, state, thrown } from './fakes.test-util.ts';

const SECRET = 'tenant-token-7f3a9c1e5b';

function setup() {
  const tasks = new TaskHandles(randomBytes(32));
  const configOf = (name: string) => ({ name, transport: 'stdio', command: 'x' });
  return {
    tasks,
    d: deps({ tasks, holds: {} as never, credentials: { scrubber: new SecretScrubber(), configOf } as never }),
  };
}

function toolCall(up: Upstream, c: Partial<RequestContext> = {}) {
  const s = state({
    requested: 'mt__fetch',
    params: { name: 'mt__fetch', arguments: { url: 'https://DOCS.example/a/../b' } },
    ctx: c,
  });
  s.route = { server: 'mt', tool: 'fetch', def: { name: 'fetch' }, qualified: 'mt__fetch', item: 'fetch' };
  s.upstream = { name: 'fetch', arguments: { url: 'https://docs.example/b' } };
  s.decision = { effect: 'allow', rule: 'r', reasons: [] };
  s.up = up;
  s.injected = [SECRET];
  return s;
}

test('shadow executes nothing: the upstream is never sent the call, and the caller is told so', async () => {
  const up = fakeUpstream();
  const s = toolCall(up);
  s.decision = { effect: 'shadow', rule: 'mode:shadow', reasons: [] };
  await executeRequest(s, setup().d);
  assert.deepEqual(up.sent, []);
  assert.equal(s.result!.isError, false);
  assert.deepEqual(s.result!._meta, { 'io.gatehouse/shadow': true });
  assert.match(JSON.stringify(s.result!.content), /did NOT run it \(policy rule `mode:shadow`\)/);
  // A tool with an output schema: no structured content exists, so the result is an error result
  // (MCP clients refuse a success without content of the declared shape).
  const typed = toolCall(up);
  typed.route!.def = { name: 'fetch', outputSchema: { type: 'object' } };
  typed.decision = { effect: 'shadow', rule: 'mode:shadow', reasons: [] };
  await executeRequest(typed, setup().d);
  assert.equal(typed.result!.isError, true);
  assert.match(JSON.stringify(typed.result!.content), /did NOT run it/);
});

test("exactly what validate made canonical goes out, under the upstream's own name, on the caller's connection", async () => {
  const up = fakeUpstream();
  const s = toolCall(up);
  await executeRequest(s, setup().d);
  assert.deepEqual(up.sent, [
    { method: 'tools/call', params: { name: 'fetch', arguments: { url: 'https://docs.example/b' } } },
  ]);
  assert.deepEqual(s.result, { content: [{ type: 'text', text: 'ran tools/call' }] });
});

test("a task id comes back sealed for this caller and endpoint; the upstream's raw id never reaches the caller", async () => {
  const { tasks, d } = setup();
  const up = fakeUpstream();
  up.request = (async () => ({ task: { taskId: 'upstream-task-9', status: 'working' } })) as never;
  const s = toolCall(up);
  await executeRequest(s, d);
  const handle = (s.result!.task as JsonObject).taskId as string;
  assert.ok(!handle.includes('upstream-task-9'));
  assert.deepEqual(tasks.open(handle, s.ctx.principal, ''), {
    server: 'mt',
    tool: 'mt__fetch',
    taskId: 'upstream-task-9',
    replica: tasks.replica,
  });
  assert.equal(tasks.open(handle, principal({ subject: 'bob' }), ''), undefined);
  assert.equal(tasks.open(handle, s.ctx.principal, 'mt'), undefined);
});

test('what the upstream says on the way (log messages) is scrubbed of the secrets its connection holds', async () => {
  const heard: JsonRpcNotification[] = [];
  const up = fakeUpstream();
  up.request = (async (_m: string, _p: unknown, opts: { onNotification: (n: JsonRpcNotification) => void }) => {
    opts.onNotification({
      jsonrpc: '2.0',
      method: 'notifications/message',
      params: { level: 'info', data: `connected with ${SECRET}` },
    });
    return { content: [{ type: 'text', text: 'ok' }] };
  }) as never;
  const s = toolCall(up, { outlet: { notify: (n) => void heard.push(n) } });
  await executeRequest(s, setup().d);
  assert.equal(heard.length, 1);
  assert.doesNotMatch(JSON.stringify(heard), new RegExp(SECRET));
  assert.match(String(heard[0].params!.data), /\[REDACTED:credential\]/);
});

function subscription(
  method: 'resources/subscribe' | 'resources/unsubscribe',
  up: Upstream,
  session: { subscriptions: Set<string> } | undefined,
) {
  const s = state({
    method,
    kind: 'resource',
    requested: 'gatehouse:mt/secret://token',
    params: { uri: 'gatehouse:mt/secret://token' },
    ctx: { session: session as never },
  });
  s.route = {
    server: 'mt',
    tool: 'secret://token',
    def: {},
    qualified: 'gatehouse:mt/secret://token',
    item: 'resource:secret://token',
  };
  s.upstream = { uri: 'secret://token' };
  s.decision = { effect: 'allow', rule: 'r', reasons: [] };
  s.up = up;
  return s;
}

test("a subscription is kept on the caller's session, keyed by server and the server's own URI", async () => {
  const session = { subscriptions: new Set<string>() };
  const legacy = fakeUpstream({}, 'legacy');
  await executeRequest(subscription('resources/subscribe', legacy, session), setup().d);
  assert.deepEqual([...session.subscriptions], ['mt\u0000secret://token']);
  assert.deepEqual(
    legacy.sent,
    [{ method: 'resources/subscribe', params: { uri: 'secret://token' } }],
    'a legacy upstream is asked too',
  );
  await executeRequest(subscription('resources/unsubscribe', legacy, session), setup().d);
  assert.deepEqual([...session.subscriptions], []);
});

test('a 2026-07-28 upstream has no resources/subscribe: the gateway keeps the subscription and sends nothing', async () => {
  const session = { subscriptions: new Set<string>() };
  const modern = fakeUpstream({}, 'modern');
  const s = subscription('resources/subscribe', modern, session);
  await executeRequest(s, setup().d);
  assert.deepEqual([s.result, modern.sent, [...session.subscriptions]], [{}, [], ['mt\u0000secret://token']]);
});

test('a subscription without a session is refused, with nothing sent', async () => {
  const up = fakeUpstream();
  const err = await thrown(() => executeRequest(subscription('resources/subscribe', up, undefined), setup().d));
  assert.equal(err.code, 'E_METHOD_NOT_FOUND');
  assert.deepEqual(up.sent, []);
});

test('x-mcp-header parameters are mirrored by the gateway from the checked, canonical arguments', async () => {
  const seen: unknown[] = [];
  const up = fakeUpstream();
  up.request = (async (_m: string, _p: unknown, opts: { headers?: Record<string, string> }) => {
    seen.push(opts.headers);
    return { content: [] };
  }) as never;
  const s = toolCall(up);
  s.route!.def = {
    name: 'fetch',
    inputSchema: {
      type: 'object',
      properties: { url: { type: 'string', 'x-mcp-header': 'Url' }, n: { type: 'integer', 'x-mcp-header': 'N' } },
    },
  };
  await executeRequest(s, setup().d);
  assert.deepEqual(
    seen,
    [{ 'mcp-param-Url': 'https://docs.example/b' }],
    'the canonical URL; an absent argument sends no header',
  );
  const plain = toolCall(up);
  await executeRequest(plain, setup().d);
  assert.deepEqual(seen[1], undefined, 'no annotation, no headers');
});

/** A tasks/* request for the upstream task `id`, as route made it from the caller's `handle`. */
function taskRequest(method: string, up: Upstream, id: string, handle: string, c: Partial<RequestContext> = {}) {
  const s = state({ method, kind: 'tool', requested: handle, params: { taskId: handle }, ctx: c });
  s.route = { server: 'mt', tool: 'fetch', def: { name: 'fetch' }, qualified: 'mt__fetch', item: 'fetch' };
  s.upstream = { taskId: id };
  s.up = up;
  return s;
}
const ID = 'c0ffee00c0ffee00c0ffee00c0ffee00';
const RELATED = 'io.modelcontextprotocol/related-task';

test("a tasks/* answer, error or message on the way names the caller's handle, never the upstream's task id", async () => {
  const { d } = setup();
  const heard: JsonRpcNotification[] = [];
  const up = fakeUpstream();
  up.request = (async (_m: string, _p: unknown, opts: { onNotification: (n: JsonRpcNotification) => void }) => {
    opts.onNotification({
      jsonrpc: '2.0',
      method: 'notifications/message',
      params: { level: 'info', data: `at ${ID}` },
    });
    return { taskId: ID, status: 'working', statusMessage: `task ${ID} is at stage 2` };
  }) as never;
  const got = taskRequest('tasks/get', up, ID, 'gh3.caller-handle', { outlet: { notify: (n) => void heard.push(n) } });
  await executeRequest(got, d);
  // (and no related-task _meta: a tasks/get answer names its task itself)
  assert.deepEqual(got.result, {
    taskId: 'gh3.caller-handle',
    status: 'working',
    statusMessage: 'task gh3.caller-handle is at stage 2',
  });
  assert.equal(heard[0].params!.data, 'at gh3.caller-handle');
  up.request = (async () => {
    throw new UpstreamRpcError(-32603, `Task ${ID} has no result stored`, { taskId: ID });
  }) as never;
  const err = await thrown(() => executeRequest(taskRequest('tasks/result', up, ID, 'gh3.caller-handle'), d));
  assert.deepEqual(
    [err.message, err.data],
    ['Task gh3.caller-handle has no result stored', { taskId: 'gh3.caller-handle' }],
  );
});

test("a legacy caller's tasks/result carries the related-task _meta naming its handle (the upstream's rewritten, or added)", async () => {
  const { d } = setup();
  const up = fakeUpstream();
  for (const meta of [{ [RELATED]: { taskId: ID }, other: 1 }, undefined]) {
    up.request = (async () => ({
      content: [{ type: 'text', text: 'done' }],
      ...(meta ? { _meta: meta } : {}),
    })) as never;
    const s = taskRequest('tasks/result', up, ID, 'gh3.caller-handle');
    await executeRequest(s, d);
    assert.deepEqual(s.result!._meta, { ...(meta ? { other: 1 } : {}), [RELATED]: { taskId: 'gh3.caller-handle' } });
  }
});

test("a tools/call's progress naming its task's related-task _meta names the handle the call's answer gives", async () => {
  const { d } = setup();
  const heard: JsonRpcNotification[] = [];
  const up = fakeUpstream();
  up.request = (async (_m: string, _p: unknown, opts: { onNotification: (n: JsonRpcNotification) => void }) => {
    opts.onNotification({
      jsonrpc: '2.0',
      method: 'notifications/message',
      params: { level: 'info', data: 'started', _meta: { [RELATED]: { taskId: ID } } },
    });
    return { task: { taskId: ID, status: 'working' } };
  }) as never;
  const s = toolCall(up, { outlet: { notify: (n) => void heard.push(n) } });
  await executeRequest(s, d);
  const handle = (s.result!.task as JsonObject).taskId;
  assert.deepEqual((heard[0].params!._meta as JsonObject)[RELATED], { taskId: handle });
  assert.doesNotMatch(JSON.stringify([heard, s.result]), new RegExp(ID));
});
