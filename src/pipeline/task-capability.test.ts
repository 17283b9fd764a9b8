import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tasksOfAll, tasksOffered } from './task-capability.ts';

const call = { requests: { tools: { call: {} } } };

test('tasksOffered: task-augmented tools/call and cancel as the server declares them; never list, never other requests', () => {
  assert.deepEqual(tasksOffered({ tasks: call }), call);
  assert.deepEqual(
    tasksOffered({
      tasks: { list: {}, cancel: {}, requests: { tools: { call: {} }, sampling: { createMessage: {} } } },
    }),
    { cancel: {}, ...call },
  );
  for (const caps of [undefined, {}, { tasks: {} }, { tasks: { cancel: {} } }, { tasks: { requests: { tools: {} } } }])
    assert.equal(tasksOffered(caps), undefined, JSON.stringify(caps));
  assert.equal(tasksOffered({ tasks: { requests: { tools: { call: true } } } } as never), undefined, 'not an object');
});

test('tasksOfAll: offered when one server takes task calls; cancel when one of those cancels', () => {
  assert.equal(tasksOfAll([]), undefined);
  assert.equal(tasksOfAll([{}, { tools: {} }, { tasks: { cancel: {} } }]), undefined);
  // A server not connected yet (capabilities unknown) may take tasks and cancel them when it connects.
  assert.deepEqual(tasksOfAll([{ tools: {} }, undefined]), { cancel: {}, ...call });
  assert.deepEqual(tasksOfAll([{ tools: {} }, { tasks: call }]), call);
  assert.deepEqual(tasksOfAll([{ tasks: { cancel: {}, ...call } }, { tasks: call }]), { cancel: {}, ...call });
});
