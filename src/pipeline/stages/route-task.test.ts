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

/** A handle as the gateway signed them before they were encrypted (`gh2.`: readable, under the MAC). */
function signedHandle(key: Buffer, parts: string[]) {
  const body = Buffer.from(JSON.stringify(parts)).toString('base64url');
  return `gh2.${body}.${createHmac('sha256', key).update(`gh2.${body}`).digest('base64url')}`;
}
const whoOf = (p: typeof alice, scope: string) =>
  createHash('sha256')
    .update(JSON.stringify([p.key, p.tenant, p.subject, scope]))
    .digest('base64url')
    .slice(0, 22);

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
  const { tasks, key, d } = await setup();
  const handle = tasks.seal({ server: 'mt', tool: 'mt__slow', taskId: 'upstream-42' }, alice, '');
  const [v, iv, tag, ct] = handle.split('.');
  const flip = (x: string) => (x[0] === 'A' ? 'B' : 'A') + x.slice(1);
  const old = signedHandle(key, ['mt', 'mt__slow', 'upstream-42', whoOf(alice, ''), HERE]);
  const [, oldBody, oldMac] = old.split('.');
  const forgedBody = Buffer.from(
    JSON.stringify(['twin', 'twin__slow', 'upstream-42', whoOf(alice, ''), HERE]),
  ).toString('base64url');
  const cases: Array<[string, string, Parameters<typeof get>[1]]> = [
    ["bob presenting alice's handle", handle, { who: bob }],
    ['alice in another tenant', handle, { who: principal({ tenant: 'globex' }) }],
    ["alice's key with another tenant", handle, { who: { ...alice, tenant: 'globex' } }],
    ["alice's key with another subject", handle, { who: { ...alice, subject: 'bob' } }],
    ['alice through another issuer', handle, { who: principal({ issuer: 'https://other.example' }) }],
    ['the per-server endpoint', handle, { scope: 'mt' }],
    ['an altered nonce', `${v}.${flip(iv)}.${tag}.${ct}`, {}],
    ['an altered tag', `${v}.${iv}.${flip(tag)}.${ct}`, {}],
    ['an altered ciphertext', `${v}.${iv}.${tag}.${flip(ct)}`, {}],
    ['a shortened ciphertext', `${v}.${iv}.${tag}.${ct.slice(0, -4)}`, {}],
    ['parts missing', `${v}.${iv}.${tag}`, {}],
    ['a part more', `${handle}.${ct}`, {}],
    ['another version', `gh2.${iv}.${tag}.${ct}`, {}],
    ['another version still', `gh4.${iv}.${tag}.${ct}`, {}],
    ['a signed handle with an altered mac', `gh2.${oldBody}.${flip(oldMac)}`, {}],
    ['a signed handle with an altered body', `gh2.${forgedBody}.${oldMac}`, {}],
    ['a signed handle as another version', `gh1.${oldBody}.${oldMac}`, {}],
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
  // The replica in the handle cannot be changed: it is under the encryption's tag, and not readable.
  const [v, iv, tag, ct] = there.requested.split('.');
  const bytes = Buffer.from(ct, 'base64url');
  bytes[bytes.length - 3] ^= 1;
  const moved = `${v}.${iv}.${tag}.${bytes.toString('base64url')}`;
  assert.equal((await thrown(() => routeTask(get(moved), d))).code, 'E_UNKNOWN_TASK');
});

test('a handle is opaque: nothing of the server, tool, upstream id, principal or replica can be read from it', async () => {
  const { tasks } = await setup();
  const t = {
    server: 'everything',
    tool: 'everything__simulate-research-query',
    taskId: 'a690b4dd3a6fe44d53e00b58d240cd9c',
  };
  const handle = tasks.seal(t, alice, '');
  assert.match(handle, /^gh3\.[\w-]{16}\.[\w-]{22}\.[\w-]+$/);
  const said = [handle, ...handle.split('.')].flatMap((p) => [p, Buffer.from(p, 'base64url').toString('latin1')]);
  for (const secret of [t.server, 'simulate', t.taskId, t.taskId.slice(0, 8), alice.subject, alice.tenant, HERE])
    assert.ok(!said.some((x) => x.includes(secret)), `${secret} shows in ${handle}`);
  // The same task for the same caller: the same handle (a tasks/get answer names it as the call did).
  assert.equal(tasks.seal(t, alice, ''), handle);
  assert.notEqual(tasks.seal(t, bob, ''), handle);
  // Its length says little: the ciphertext is padded to whole blocks of 64 bytes.
  for (const taskId of ['1', t.taskId, 'x'.repeat(100)]) {
    const ct = tasks.seal({ ...t, taskId }, alice, '').split('.')[3];
    assert.equal(Buffer.from(ct, 'base64url').length % 64, 0, taskId);
  }
});

test('a signed handle from before handles were encrypted (gh2) still opens, for its caller and endpoint only', async () => {
  const { key, d } = await setup();
  const old = signedHandle(key, ['mt', 'mt__slow', 'u-9', whoOf(alice, ''), THERE]);
  const s = get(old);
  await routeTask(s, d);
  assert.deepEqual([s.route!.holder, s.upstream!.taskId], [THERE, 'u-9']);
  assert.equal((await thrown(() => routeTask(get(old, { who: bob }), d))).code, 'E_UNKNOWN_TASK');
  assert.equal((await thrown(() => routeTask(get(old, { scope: 'mt' }), d))).code, 'E_UNKNOWN_TASK');
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
