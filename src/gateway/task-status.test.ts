import { test } from 'node:test';
import assert from 'node:assert/strict';
import { taskKey } from '../limits/task-lease.ts';
import type { JsonRpcMessage } from '../protocol/jsonrpc.ts';
import type { LiveSession } from '../sessions/sessions.ts';
import { progressKey, TaskOwners } from './task-owners.ts';
import { relayTaskStatus, statusArrived } from './task-status.ts';
import { TaskHandles } from './tasks.ts';

/** A session with a stream that keeps what it is sent. */
function session(id: string, principal: string | null, heard: JsonRpcMessage[] = []) {
  const stream = { send: (m: JsonRpcMessage) => void heard.push(m), closed: false, close: () => {} };
  const streamOwner = { key: principal, tenant: 'acme', subject: String(principal).slice(2) };
  return { s: { id, record: { principal }, stream, streamOwner } as unknown as LiveSession, heard };
}
/** The task's server and tool, as a TaskOwner names them. */
const CI = { server: 'ci', tool: 'ci__deploy' };
const status = (taskId: string, s = 'working') => ({
  jsonrpc: '2.0' as const,
  method: 'notifications/tasks/status',
  params: { taskId, status: s, statusMessage: `task ${taskId} at stage 2` },
});

test("a task's status reaches the session that started it only, under its handle; its end forgets the task", () => {
  const owners = new TaskOwners();
  const alice = session('s-alice', 'k:alice');
  const aliceOther = session('s-alice-2', 'k:alice');
  const bob = session('s-bob', 'k:bob');
  const impostor = session('s-alice', 'k:bob'); // another principal's session under the same id
  const sessions = [alice.s, aliceOther.s, bob.s, impostor.s];
  const id = 'upstream-task-00000001';
  owners.remember(
    taskKey('ci', 'acme', id),
    { session: 's-alice', principal: 'k:alice', tenant: 'acme', scope: '', handle: 'gh3.H', ...CI },
    60_000,
  );
  relayTaskStatus(sessions, owners, 'ci', 'acme', status(id));
  assert.deepEqual(alice.heard, [
    {
      jsonrpc: '2.0',
      method: 'notifications/tasks/status',
      params: { taskId: 'gh3.H', status: 'working', statusMessage: 'task gh3.H at stage 2' },
    },
  ]);
  assert.deepEqual([aliceOther.heard, bob.heard, impostor.heard], [[], [], []]);
  // The same upstream id on another tenant's connection, or another server: nobody's here.
  relayTaskStatus(sessions, owners, 'ci', 'globex', status(id));
  relayTaskStatus(sessions, owners, 'other', 'acme', status(id));
  assert.equal(alice.heard.length, 1);
  relayTaskStatus(sessions, owners, 'ci', 'acme', status(id, 'completed'));
  assert.equal(alice.heard.length, 2);
  assert.equal(owners.size, 0, 'ended: forgotten');
  relayTaskStatus(sessions, owners, 'ci', 'acme', status(id, 'completed'));
  assert.equal(alice.heard.length, 2);
});

test('the owners are bounded in number and in time', () => {
  const owners = new TaskOwners(3);
  const o = { session: 's', principal: 'p', tenant: 't', scope: '', handle: 'h', ...CI };
  for (const k of ['a', 'b', 'c', 'd']) owners.remember(k, o, 1_000, 0);
  assert.equal(owners.size, 3);
  assert.equal(owners.find('a', 10), undefined, 'the oldest went first');
  assert.deepEqual(owners.find('d', 10), { ...o, until: 1_000 });
  assert.equal(owners.find('d', 1_000), undefined, 'past its time');
});

test("a status said before its task is known is kept a moment for that task's CreateTaskResult, for no other", () => {
  const owners = new TaskOwners();
  const early = status('u-1');
  const o = { session: 's', principal: 'p', tenant: 't', scope: '', handle: 'h', ...CI };
  owners.park('ci\0acme\0u-1', 'acme', early, 0);
  owners.park('ci\0acme\0u-2', 'acme', status('u-2'), 0);
  assert.deepEqual(owners.remember('ci\0globex\0u-1', o, 60_000, 10), [], "another tenant's task of that id");
  assert.deepEqual(owners.remember('ci\0acme\0u-1', o, 60_000, 10), [early]);
  assert.deepEqual(owners.remember('ci\0acme\0u-1', o, 60_000, 10), [], 'told once');
  assert.deepEqual(owners.remember('ci\0acme\0u-2', o, 60_000, 6_000), [], 'kept a moment only');
});

test('a session whose stream is not here is told through `away` (scrubbed text, the handle); a session of another principal under that id is not', () => {
  const owners = new TaskOwners();
  const sent: unknown[] = [];
  owners.away = (who, params) => void sent.push([who.session, params]);
  const o = { session: 's-alice', principal: 'k:alice', tenant: 'acme', scope: '', handle: 'gh3.H', ...CI };
  owners.remember(taskKey('ci', 'acme', 'upstream-task-00000002'), o, 60_000);
  const noStream = { id: 's-alice', record: { principal: 'k:alice' }, stream: undefined } as unknown as LiveSession;
  relayTaskStatus([], owners, 'ci', 'acme', status('upstream-task-00000002'));
  relayTaskStatus([noStream], owners, 'ci', 'acme', status('upstream-task-00000002'));
  relayTaskStatus([session('s-alice', 'k:bob').s], owners, 'ci', 'acme', status('upstream-task-00000002'));
  const params = { taskId: 'gh3.H', status: 'working', statusMessage: 'task gh3.H at stage 2' };
  assert.deepEqual(sent, [
    ['s-alice', params],
    ['s-alice', params],
  ]);
});

test('a relayed status reaches the stream of the session it names only when the handle opens for its caller and names the sender', () => {
  const key = Buffer.alloc(32, 7);
  const holder = new TaskHandles(key, 'aaaaaaaaaaaaaaaa');
  const here = new TaskHandles(key, 'bbbbbbbbbbbbbbbb');
  const alice = { key: 'k:alice', tenant: 'acme', subject: 'alice' };
  const handle = holder.seal({ server: 'ci', tool: 'ci__deploy', taskId: 'u-1' }, alice, '');
  const heard: JsonRpcMessage[] = [];
  const s = session('s-alice', 'k:alice', heard).s;
  Object.assign(s.record, { tenant: 'acme', scope: '' });
  s.streamOwner = alice as never;
  const params = { taskId: handle, status: 'working' };
  const m = {
    kind: 'status' as const,
    from: 'aaaaaaaaaaaaaaaa',
    session: 's-alice',
    principal: 'k:alice',
    tenant: 'acme',
    scope: '',
    handle,
    params,
  };
  for (const forged of [
    { principal: 'k:bob' },
    { tenant: 'globex' },
    { scope: 'ci' },
    { from: 'cccccccccccccccc' },
    { handle: holder.seal({ server: 'ci', tool: 'ci__deploy', taskId: 'u-1' }, { ...alice, key: 'k:bob' }, '') },
  ])
    statusArrived(s, here, { ...m, ...forged });
  statusArrived(undefined, here, m);
  assert.deepEqual(heard, []);
  statusArrived(s, here, m);
  assert.deepEqual(heard, [{ jsonrpc: '2.0', method: 'notifications/tasks/status', params }]);
});

test("one principal starting task after task pushes out only its own oldest, never another tenant's or principal's (walk V F4)", () => {
  const owners = new TaskOwners();
  const gina = { session: 's-gina', principal: 'k:gina', tenant: 'globex', scope: '', handle: 'gh3.G', ...CI };
  const bob = { session: 's-bob', principal: 'k:bob', tenant: 'acme', scope: '', handle: 'gh3.B', ...CI };
  owners.remember(taskKey('ci', 'globex', 'gina-1'), gina, 300_000, 0);
  owners.remember(taskKey('ci', 'acme', 'bob-1'), bob, 300_000, 0);
  const alice = { session: 's-alice', principal: 'k:alice', tenant: 'acme', scope: '', handle: 'gh3.A', ...CI };
  for (let i = 0; i < 10_050; i++) owners.remember(taskKey('ci', 'acme', `alice-${i}`), alice, 1, 0);
  assert.equal(owners.find(taskKey('ci', 'globex', 'gina-1'), 10)?.handle, 'gh3.G', "gina's task is still hers");
  assert.equal(owners.find(taskKey('ci', 'acme', 'bob-1'), 10)?.handle, 'gh3.B', 'and so is bob of the same tenant');
  assert.ok(owners.size <= 10_000, `bounded in all: ${owners.size}`);
  // Many principals of one tenant, each under its own share, still push out only the largest holders'.
  for (let k = 0; k < 12; k++)
    for (let i = 0; i < 1_000; i++)
      owners.remember(taskKey('ci', 'acme', `k${k}-${i}`), { ...alice, principal: `k:${k}` }, 300_000, 0);
  assert.ok(owners.size <= 10_000, `bounded in all: ${owners.size}`);
  assert.equal(owners.find(taskKey('ci', 'globex', 'gina-1'), 10)?.handle, 'gh3.G');
  assert.equal(owners.find(taskKey('ci', 'acme', 'bob-1'), 10)?.handle, 'gh3.B');
});

test("statuses said early on one connection never push out another connection's", () => {
  const owners = new TaskOwners();
  owners.park(taskKey('ci', 'globex', 'g-1'), 'globex', status('g-1'), 0);
  for (let i = 0; i < 2_000; i++) owners.park(taskKey('ci', 'acme', `a-${i}`), 'acme', status(`a-${i}`), 0);
  const o = { session: 's', principal: 'k:gina', tenant: 'globex', scope: '', handle: 'h', ...CI };
  assert.equal(owners.remember(taskKey('ci', 'globex', 'g-1'), o, 60_000, 10).length, 1);
});

test('a status reaches its starter only while it may still use the task tool here (a reload, a mode, a revocation since)', () => {
  const owners = new TaskOwners();
  let allowed = false;
  const asked: unknown[] = [];
  owners.hears = (who, server, tool) => {
    asked.push([who.key, server, tool]);
    return allowed;
  };
  const alice = session('s-alice', 'k:alice');
  const o = { session: 's-alice', principal: 'k:alice', tenant: 'acme', scope: '', handle: 'gh3.H', ...CI };
  owners.remember(taskKey('ci', 'acme', 'u-9'), o, 60_000);
  relayTaskStatus([alice.s], owners, 'ci', 'acme', status('u-9'));
  assert.deepEqual(alice.heard, [], 'not told while the tool is out of its reach');
  assert.deepEqual(asked, [['k:alice', 'ci', 'ci__deploy']]);
  allowed = true;
  relayTaskStatus([alice.s], owners, 'ci', 'acme', status('u-9'));
  assert.equal(alice.heard.length, 1);
  // Relayed from another replica: asked of the stream's caller here.
  const key = Buffer.alloc(32, 7);
  const holder = new TaskHandles(key, 'aaaaaaaaaaaaaaaa');
  const here = new TaskHandles(key, 'bbbbbbbbbbbbbbbb');
  const who = { key: 'k:alice', tenant: 'acme', subject: 'alice' };
  const handle = holder.seal({ server: 'ci', tool: 'ci__deploy', taskId: 'u-1' }, who, '');
  const heard: JsonRpcMessage[] = [];
  const s = session('s-alice', 'k:alice', heard).s;
  Object.assign(s.record, { tenant: 'acme', scope: '' });
  s.streamOwner = who as never;
  here.owners.hears = () => false;
  const m = { kind: 'status' as const, from: 'aaaaaaaaaaaaaaaa', session: 's-alice', principal: 'k:alice' };
  statusArrived(s, here, { ...m, tenant: 'acme', scope: '', handle, params: { taskId: handle, status: 'working' } });
  assert.deepEqual(heard, []);
});

const progress = (token: string, n: number, taskId = 'upstream-task-00000001') => ({
  jsonrpc: '2.0' as const,
  method: 'notifications/progress',
  params: { progressToken: token, progress: n, message: `task ${taskId} step ${n}` },
});

test("a task's progress reaches its starter only, under the caller's own token and the handle, until the task ends", () => {
  const owners = new TaskOwners();
  const alice = session('s-alice', 'k:alice');
  const bob = session('s-bob', 'k:bob');
  const sessions = [alice.s, bob.s];
  const id = 'upstream-task-00000001';
  const key = taskKey('ci', 'acme', id);
  const progressOf = { key: progressKey('ci', 'acme', 'gh-x-1'), caller: 'mine', taskId: id };
  const o = { session: 's-alice', principal: 'k:alice', tenant: 'acme', scope: '', handle: 'gh3.H', ...CI };
  // Said before the CreateTaskResult passed: kept a moment for it.
  relayTaskStatus(sessions, owners, 'ci', 'acme', progress('gh-x-1', 1));
  const early = owners.remember(key, { ...o, progress: progressOf }, 60_000);
  assert.equal(early.length, 1);
  relayTaskStatus(sessions, owners, 'ci', 'acme', progress('gh-x-1', 2));
  // The same token on another tenant's connection or another server, or a token no task was given: nobody's.
  relayTaskStatus(sessions, owners, 'ci', 'globex', progress('gh-x-1', 3));
  relayTaskStatus(sessions, owners, 'other', 'acme', progress('gh-x-1', 3));
  relayTaskStatus(sessions, owners, 'ci', 'acme', progress('gh-x-2', 3));
  assert.deepEqual(alice.heard, [
    {
      jsonrpc: '2.0',
      method: 'notifications/progress',
      params: { progressToken: 'mine', progress: 2, message: 'task gh3.H step 2' },
    },
  ]);
  assert.deepEqual(bob.heard, []);
  relayTaskStatus(sessions, owners, 'ci', 'acme', status(id, 'completed'));
  relayTaskStatus(sessions, owners, 'ci', 'acme', progress('gh-x-1', 4));
  assert.deepEqual(
    alice.heard.map((m) => ('method' in m ? m.method : '')),
    ['notifications/progress', 'notifications/tasks/status'],
    'ended: its token is nobody’s',
  );
  // A task remembered without a progress token: a progress naming nothing reaches nobody.
  owners.remember(taskKey('ci', 'acme', 'u-2'), o, 60_000);
  relayTaskStatus(sessions, owners, 'ci', 'acme', progress('gh-x-1', 5, 'u-2'));
  assert.equal(alice.heard.length, 2);
});

test("a task's progress for a session whose stream is elsewhere goes through `away`, named a progress", () => {
  const owners = new TaskOwners();
  const away: unknown[] = [];
  owners.away = (who, params, method) => void away.push([who.session, method, params]);
  const id = 'upstream-task-00000001';
  const progressOf = { key: progressKey('ci', 'acme', 'gh-x-9'), caller: 7, taskId: id };
  const o = { session: 's-far', principal: 'k:alice', tenant: 'acme', scope: '', handle: 'gh3.H', ...CI };
  owners.remember(taskKey('ci', 'acme', id), { ...o, progress: progressOf }, 60_000);
  relayTaskStatus([], owners, 'ci', 'acme', progress('gh-x-9', 1));
  assert.deepEqual(away, [
    ['s-far', 'notifications/progress', { progressToken: 7, progress: 1, message: 'task gh3.H step 1' }],
  ]);
});

test('an answer showing the task ended ends its progress; its statuses still reach its starter', () => {
  const owners = new TaskOwners();
  const alice = session('s-alice', 'k:alice');
  const id = 'upstream-task-00000001';
  const key = taskKey('ci', 'acme', id);
  const o = { session: 's-alice', principal: 'k:alice', tenant: 'acme', scope: '', handle: 'gh3.H', ...CI };
  owners.remember(
    key,
    { ...o, progress: { key: progressKey('ci', 'acme', 'gh-x-3'), caller: 'c', taskId: id } },
    60_000,
  );
  owners.endProgress(key);
  relayTaskStatus([alice.s], owners, 'ci', 'acme', progress('gh-x-3', 1));
  relayTaskStatus([alice.s], owners, 'ci', 'acme', status(id, 'cancelled'));
  assert.deepEqual(
    alice.heard.map((m) => ('method' in m ? m.method : '')),
    ['notifications/tasks/status'],
  );
});
