import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { TaskHandles } from '../../gateway/tasks.ts';
import { routeTask } from './route-task.ts';
import { authorizeTarget } from './authorize-target.ts';
import { catalogOf, deps, principal, state, thrown } from './fakes.test-util.ts';

const servers = { mt: { tools: [{ name: 'slow' }] }, twin: { tools: [{ name: 'slow' }] } };
const alice = principal();
const bob = principal({ subject: 'bob' });
const get = (taskId: string, over: { scope?: string; who?: typeof alice } = {}) =>
  state({
    method: 'tasks/get',
    kind: 'tool',
    requested: taskId,
    params: { taskId },
    ctx: { scope: over.scope ?? '', principal: over.who ?? alice },
  });

async function setup() {
  const { catalog, upstreams } = await catalogOf(servers);
  const key = randomBytes(32);
  const tasks = new TaskHandles(key, HERE);
  return { catalog, upstreams, tasks, key, d: deps({ catalog, upstreams, tasks }) };
}

const HERE = 'a'.repeat(16);
const THERE = 'b'.repeat(16);

/** A handle as the gateway sealed them before they named the replica (`gh1.`). */
function oldHandle(key: Buffer, server: string, tool: string, taskId: string, principalKey: string, scope: string) {
  const who = createHash('sha256')
    .update(JSON.stringify([principalKey, scope]))
    .digest('base64url')
    .slice(0, 22);
  const body = Buffer.from(JSON.stringify([server, tool, taskId, who])).toString('base64url');
  return `gh1.${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
}

test('a handle sealed for this caller routes to its server and tool; the upstream gets its own task id', async () => {
  const { tasks, d } = await setup();
  const handle = tasks.seal({ server: 'mt', tool: 'mt__slow', taskId: 'upstream-42' }, alice, '');
  const s = get(handle);
  await routeTask(s, d);
  assert.deepEqual(s.route, { server: 'mt', tool: 'slow', def: { name: 'slow' }, qualified: 'mt__slow', item: 'slow' });
  assert.deepEqual(s.upstream, { taskId: 'upstream-42' });
  // On a per-server endpoint, with a handle sealed there.
  const scoped = get(tasks.seal({ server: 'mt', tool: 'mt__slow', taskId: 't' }, alice, 'mt'), { scope: 'mt' });
  await routeTask(scoped, d);
  assert.deepEqual([scoped.route!.server, scoped.route!.tool, scoped.upstream!.taskId], ['mt', 'slow', 't']);
});

test("another principal's handle, another endpoint's, an altered one, a raw upstream id or another key's handle is an unknown task", async () => {
  const { tasks, d } = await setup();
  const handle = tasks.seal({ server: 'mt', tool: 'mt__slow', taskId: 'upstream-42' }, alice, '');
  const [v, body, mac] = handle.split('.');
  const forgedBody = Buffer.from(
    JSON.stringify(['twin', 'twin__slow', 'upstream-42', JSON.parse(Buffer.from(body, 'base64url').toString())[3]]),
  ).toString('base64url');
  const flip = (x: string) => x.slice(0, -1) + (x.endsWith('A') ? 'B' : 'A');
  const cases: Array<[string, string, Parameters<typeof get>[1]]> = [
    ["bob presenting alice's handle", handle, { who: bob }],
    ['alice in another tenant', handle, { who: principal({ tenant: 'globex' }) }],
    ["alice's key with another tenant", handle, { who: { ...alice, tenant: 'globex' } }],
    ["alice's key with another subject", handle, { who: { ...alice, subject: 'bob' } }],
    ['alice through another issuer', handle, { who: principal({ issuer: 'https://other.example' }) }],
    ['the per-server endpoint', handle, { scope: 'mt' }],
    ['an altered mac', `${v}.${body}.${flip(mac)}`, {}],
    ['an altered body', `${v}.${forgedBody}.${mac}`, {}],
    ['another version', `gh1.${body}.${mac}`, {}],
    ['another version still', `gh3.${body}.${mac}`, {}],
    ['a raw upstream id', 'upstream-42', {}],
    ['a namespaced raw id', 'mt__upstream-42', {}],
    [
      'a handle sealed with another key',
      new TaskHandles(randomBytes(32)).seal({ server: 'mt', tool: 'mt__slow', taskId: 'upstream-42' }, alice, ''),
      {},
    ],
    ['a very long handle', `${handle}${'A'.repeat(3000)}`, {}],
  ];
  for (const [label, taskId, over] of cases) {
    const s = get(taskId, over);
    const err = await thrown(() => routeTask(s, d));
    assert.equal(err.code, 'E_UNKNOWN_TASK', label);
    assert.match(err.message, /^unknown task `/, label);
    assert.ok(err.message.length < 120, `${label}: the message is bounded`);
    assert.equal(s.route, undefined, label);
    assert.equal(s.upstream, undefined, label);
  }
});

test("a genuine handle whose tool or server is gone, or whose tool is not its server's, is an unknown task", async () => {
  const { tasks, catalog, upstreams } = await setup();
  const d = deps({ catalog, upstreams, tasks });
  for (const t of [
    { server: 'mt', tool: 'mt__gone' },
    { server: 'gone', tool: 'gone__slow' },
    { server: 'twin', tool: 'mt__slow' },
  ]) {
    const err = await thrown(() => routeTask(get(tasks.seal({ ...t, taskId: 'x' }, alice, '')), d));
    assert.equal(err.code, 'E_UNKNOWN_TASK', JSON.stringify(t));
  }
  const noConnection = deps({ catalog, upstreams: new Map([...upstreams].filter(([n]) => n !== 'mt')), tasks });
  const err = await thrown(() =>
    routeTask(get(tasks.seal({ server: 'mt', tool: 'mt__slow', taskId: 'x' }, alice, '')), noConnection),
  );
  assert.equal(err.code, 'E_UNKNOWN_TASK');
});

test('a genuine handle for a tool the caller may no longer use is an unknown task too, like a forged one', async () => {
  const { tasks, d } = await setup();
  const handle = tasks.seal({ server: 'mt', tool: 'mt__slow', taskId: 'upstream-42' }, alice, '');
  const s = get(handle);
  await routeTask(s, d);
  s.toolClass = 'READ';
  // The tool switched off since the task started: authorize refuses it as the tasks row's "no such thing".
  const off = await thrown(() =>
    authorizeTarget(s, {
      ...d,
      modes: { tenants: {}, servers: {}, tools: { mt__slow: 'disabled' } },
      identity: { classScopes: () => [], recheck: async () => {}, revokedWithoutCredential: () => undefined } as never,
    }),
  );
  const forged = await thrown(() => routeTask(get(`${handle}x`), d));
  assert.deepEqual([off.code, off.message.slice(0, 14)], [forged.code, forged.message.slice(0, 14)]);
  assert.equal(off.code, 'E_UNKNOWN_TASK');
});

test('a handle names the replica whose connection holds the task: another replica routes the request there', async () => {
  const { tasks, key, d } = await setup();
  const here = get(tasks.seal({ server: 'mt', tool: 'mt__slow', taskId: 'u-1' }, alice, ''));
  await routeTask(here, d);
  assert.equal(here.route!.holder, undefined, 'held here: asked here');
  // Sealed by replica B with the shared key: opened here, asked there.
  const b = new TaskHandles(key, THERE);
  const there = get(b.seal({ server: 'mt', tool: 'mt__slow', taskId: 'u-2' }, alice, ''));
  await routeTask(there, d);
  assert.equal(there.route!.holder, THERE);
  assert.deepEqual(there.upstream, { taskId: 'u-2' });
  // Not for bob, whichever replica holds it.
  assert.equal((await thrown(() => routeTask(get(there.requested, { who: bob }), d))).code, 'E_UNKNOWN_TASK');
  // The replica in the handle cannot be changed: it is under the MAC.
  const [v, body, mac] = there.requested.split('.');
  const parts = JSON.parse(Buffer.from(body, 'base64url').toString()) as string[];
  const moved = Buffer.from(JSON.stringify([...parts.slice(0, 4), HERE])).toString('base64url');
  assert.equal((await thrown(() => routeTask(get(`${v}.${moved}.${mac}`), d))).code, 'E_UNKNOWN_TASK');
});

test('a handle from before handles named the replica (gh1) still works where it was made: on this replica, for its caller only', async () => {
  const { key, d } = await setup();
  const old = oldHandle(key, 'mt', 'mt__slow', 'u-3', alice.key, '');
  const s = get(old);
  await routeTask(s, d);
  assert.equal(s.route!.holder, undefined);
  assert.deepEqual(s.upstream, { taskId: 'u-3' });
  assert.equal((await thrown(() => routeTask(get(old, { who: bob }), d))).code, 'E_UNKNOWN_TASK');
  assert.equal((await thrown(() => routeTask(get(old, { scope: 'mt' }), d))).code, 'E_UNKNOWN_TASK');
});
