/**
 * followTask: which answers keep a call's slots for its task, and which end a task's hold. With a
 * real memory limiter under a cap of 1: a held slot refuses the next call, a freed one lets it in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryLimiter } from '../limits/memory.ts';
import type { Lease } from '../limits/limiter.ts';
import { deps, principal, state } from './stages/fakes.test-util.ts';
import { followTask } from './task-leases.ts';
import type { CallState } from './types.ts';

const who = principal({ subject: 'alice', tenant: 'acme' });
const call = { tenant: 'acme', subject: who.key, tool: 'ci__deploy' };

function setup() {
  const limiter = new MemoryLimiter([{ id: 'deploys', scope: 'tenant_tool', tools: ['ci__*'], concurrency: 1 }]);
  const d = deps({
    limiter,
    credentials: { configOf: () => ({ name: 'ci', transport: 'stdio', command: 'x' }) } as never,
  });
  const at = (method: string, upstream: object = {}): CallState => {
    const s = state({ method, requested: 'ci__deploy', ctx: { principal: who } });
    s.route = { server: 'ci', tool: 'deploy', def: {}, qualified: 'ci__deploy', item: 'deploy' };
    s.upstream = upstream as never;
    // The connection's config: a task holds its slots at least its server's maxTotalMs.
    s.up = { cfg: { timeouts: { maxTotalMs: 300_000 } } } as never;
    return s;
  };
  /** A tools/call that took the slot and was answered `result`; then the request ends (its release). */
  const created = async (result: object) => {
    const s = at('tools/call');
    const r = await limiter.acquire(call);
    assert.equal(r.ok, true);
    s.lease = r as Lease;
    await followTask(s, d, result as never);
    await s.lease.release();
  };
  const free = async () => {
    const r = await limiter.acquire(call);
    if (r.ok) await r.release();
    return r.ok;
  };
  return { d, at, created, free };
}

const task = (status: string, ttl: number | null = 60_000) => ({
  task: { taskId: 't-1', status, ttl, createdAt: '2026-01-01T00:00:00Z', lastUpdatedAt: '2026-01-01T00:00:00Z' },
});

test('a CreateTaskResult working keeps the slot; one already ended, or a plain result, gives it back with the request', async () => {
  const { created, free } = setup();
  await created({ content: [] });
  assert.equal(await free(), true);
  await created(task('completed'));
  assert.equal(await free(), true);
  await created(task('failed'));
  assert.equal(await free(), true);
  await created(task('working'));
  assert.equal(await free(), false);
});

test("a caller's tiny ttl does not shorten the hold below the server's maxTotalMs; the task's end still frees it", async () => {
  const { created, free, at, d } = setup();
  await created(task('working', 1));
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(await free(), false, 'a ttl of 1 ms passed long ago: the floor keeps the slot');
  await followTask(at('tasks/get', { taskId: 't-1' }), d, { status: 'completed' });
  assert.equal(await free(), true);
});

test('a task the result names at its top level (as TaskHandles.wrap seals it) keeps the slot too', async () => {
  const { created, free } = setup();
  await created(task('working').task);
  assert.equal(await free(), false);
});

test('tasks/get or tasks/cancel with a terminal status, or any tasks/result answer, ends the hold; a status not terminal does not', async () => {
  for (const [method, answer, ends] of [
    ['tasks/get', { status: 'working' }, false],
    ['tasks/get', { status: 'input_required' }, false],
    ['tasks/get', { status: 'completed' }, true],
    ['tasks/get', { status: 'failed' }, true],
    ['tasks/cancel', { status: 'cancelled' }, true],
    ['tasks/result', { content: [], isError: true }, true],
  ] as const) {
    const { created, free, at, d } = setup();
    await created(task('working'));
    // Another task's end, on the same connection, frees nothing.
    await followTask(at(method, { taskId: 't-2' }), d, { status: 'completed' });
    assert.equal(await free(), false);
    await followTask(at(method, { taskId: 't-1' }), d, answer as never);
    assert.equal(await free(), ends, `${method} ${JSON.stringify(answer)}`);
  }
});
