import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
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
  const tasks = new TaskHandles(randomBytes(32));
  return { catalog, upstreams, tasks, d: deps({ catalog, upstreams, tasks }) };
}

test('a handle sealed for this caller routes to its server and tool; the upstream gets its own task id', async () => {
  const { tasks, d } = await setup();
  const handle = tasks.seal({ server: 'mt', tool: 'mt__slow', taskId: 'upstream-42' }, alice.key, '');
  const s = get(handle);
  await routeTask(s, d);
  assert.deepEqual(s.route, { server: 'mt', tool: 'slow', def: { name: 'slow' }, qualified: 'mt__slow', item: 'slow' });
  assert.deepEqual(s.upstream, { taskId: 'upstream-42' });
  // On a per-server endpoint, with a handle sealed there.
  const scoped = get(tasks.seal({ server: 'mt', tool: 'mt__slow', taskId: 't' }, alice.key, 'mt'), { scope: 'mt' });
  await routeTask(scoped, d);
  assert.deepEqual([scoped.route!.server, scoped.route!.tool, scoped.upstream!.taskId], ['mt', 'slow', 't']);
});

test("another principal's handle, another endpoint's, an altered one, a raw upstream id or another key's handle is an unknown task", async () => {
  const { tasks, d } = await setup();
  const handle = tasks.seal({ server: 'mt', tool: 'mt__slow', taskId: 'upstream-42' }, alice.key, '');
  const [v, body, mac] = handle.split('.');
  const forgedBody = Buffer.from(
    JSON.stringify(['twin', 'twin__slow', 'upstream-42', JSON.parse(Buffer.from(body, 'base64url').toString())[3]]),
  ).toString('base64url');
  const flip = (x: string) => x.slice(0, -1) + (x.endsWith('A') ? 'B' : 'A');
  const cases: Array<[string, string, Parameters<typeof get>[1]]> = [
    ["bob presenting alice's handle", handle, { who: bob }],
    ['alice in another tenant', handle, { who: principal({ tenant: 'globex' }) }],
    ['alice through another issuer', handle, { who: principal({ issuer: 'https://other.example' }) }],
    ['the per-server endpoint', handle, { scope: 'mt' }],
    ['an altered mac', `${v}.${body}.${flip(mac)}`, {}],
    ['an altered body', `${v}.${forgedBody}.${mac}`, {}],
    ['another version', `gh2.${body}.${mac}`, {}],
    ['a raw upstream id', 'upstream-42', {}],
    ['a namespaced raw id', 'mt__upstream-42', {}],
    [
      'a handle sealed with another key',
      new TaskHandles(randomBytes(32)).seal({ server: 'mt', tool: 'mt__slow', taskId: 'upstream-42' }, alice.key, ''),
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
    const err = await thrown(() => routeTask(get(tasks.seal({ ...t, taskId: 'x' }, alice.key, '')), d));
    assert.equal(err.code, 'E_UNKNOWN_TASK', JSON.stringify(t));
  }
  const noConnection = deps({ catalog, upstreams: new Map([...upstreams].filter(([n]) => n !== 'mt')), tasks });
  const err = await thrown(() =>
    routeTask(get(tasks.seal({ server: 'mt', tool: 'mt__slow', taskId: 'x' }, alice.key, '')), noConnection),
  );
  assert.equal(err.code, 'E_UNKNOWN_TASK');
});

test('a genuine handle for a tool the caller may no longer use is an unknown task too, like a forged one', async () => {
  const { tasks, d } = await setup();
  const handle = tasks.seal({ server: 'mt', tool: 'mt__slow', taskId: 'upstream-42' }, alice.key, '');
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
