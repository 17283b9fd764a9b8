import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { RELATED_TASK, replaceTaskId, taskIdsIn } from './task-ids.ts';
import { TaskHandles } from './tasks.ts';

const ID = 'a690b4dd3a6fe44d53e00b58d240cd9c';
const alice = { key: 'k:alice', tenant: 'acme', subject: 'alice' };

test("the upstream's task id becomes the handle wherever it is said: as a value, and mentioned in text", () => {
  const err = { message: `Task ${ID} has no result stored`, data: { taskId: ID, list: [ID, 'other'], n: 1 } };
  assert.deepEqual(replaceTaskId(err, ID, 'gh3.H'), {
    message: 'Task gh3.H has no result stored',
    data: { taskId: 'gh3.H', list: ['gh3.H', 'other'], n: 1 },
  });
  // A short id is replaced where a string is the id, never inside a longer text (a word, a number).
  assert.deepEqual(replaceTaskId({ taskId: '7', text: 'deployed 7 of 17' }, '7', 'gh3.H'), {
    taskId: 'gh3.H',
    text: 'deployed 7 of 17',
  });
});

test('the ids an answer names: its task, its own taskId, its related task', () => {
  assert.deepEqual(taskIdsIn({ task: { taskId: 'a' } }), ['a']);
  assert.deepEqual(taskIdsIn({ taskId: 'b', _meta: { [RELATED_TASK]: { taskId: 'b' } } }), ['b']);
  assert.deepEqual(taskIdsIn({ content: [], _meta: { [RELATED_TASK]: { taskId: 'c' } } }), ['c']);
  assert.deepEqual(taskIdsIn({ content: [], task: 'x', _meta: 'y' }), []);
});

test("wrap: a result's task ids become this caller's handles; a tasks/* answer gives back the caller's own handle", () => {
  const tasks = new TaskHandles(randomBytes(32));
  const at = { server: 'everything', tool: 'everything__simulate-research-query' };
  const created = tasks.wrap({ task: { taskId: ID, status: 'working' } }, at, alice, '');
  const handle = (created.task as { taskId: string }).taskId;
  assert.equal(tasks.open(handle, alice, '')?.taskId, ID);
  assert.ok(!JSON.stringify(created).includes(ID));
  const result = {
    content: [{ type: 'text', text: `report of task ${ID}` }],
    _meta: { [RELATED_TASK]: { taskId: ID } },
  };
  const known = { taskId: ID, handle: 'gh2.as-the-caller-sent-it' };
  assert.deepEqual(tasks.wrap(result, at, alice, '', known), {
    content: [{ type: 'text', text: 'report of task gh2.as-the-caller-sent-it' }],
    _meta: { [RELATED_TASK]: { taskId: 'gh2.as-the-caller-sent-it' } },
  });
  // The related task of a tools/call result (no task created) is sealed as a task would be.
  const related = tasks.wrap({ content: [], _meta: { [RELATED_TASK]: { taskId: ID } } }, at, alice, '');
  assert.equal((related._meta as Record<string, { taskId: string }>)[RELATED_TASK].taskId, handle);
});
