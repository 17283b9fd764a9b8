import { test } from 'node:test';
import assert from 'node:assert/strict';
import { supportsNotification, undeclaredFor } from './endpoint-capabilities.ts';

test('a method of a capability the endpoint did not declare is named; others pass', () => {
  const caps = { tools: { listChanged: true }, resources: {} };
  assert.equal(undeclaredFor('tools/call', caps), undefined);
  assert.equal(undeclaredFor('resources/read', caps), undefined);
  assert.equal(undeclaredFor('prompts/list', caps), 'prompts');
  assert.equal(undeclaredFor('completion/complete', caps), 'completions');
  assert.equal(undeclaredFor('logging/setLevel', caps), 'logging');
  assert.equal(undeclaredFor('resources/subscribe', caps), 'resources.subscribe');
  assert.equal(undeclaredFor('resources/subscribe', { resources: { subscribe: true } }), undefined);
  for (const m of ['ping', 'server/discover', 'tasks/get', 'constructor'])
    assert.equal(undeclaredFor(m, {}), undefined, m);
});

test("a listen type is supported where its capability declares listChanged; the aggregate's all are", () => {
  const caps = { tools: { listChanged: true }, prompts: {}, resources: { listChanged: false } };
  assert.equal(supportsNotification('toolsListChanged', caps), true);
  assert.equal(supportsNotification('promptsListChanged', caps), false);
  assert.equal(supportsNotification('resourcesListChanged', caps), false);
  assert.equal(supportsNotification('resourceSubscriptions', caps), false);
  assert.equal(supportsNotification('promptsListChanged', undefined), true);
});
