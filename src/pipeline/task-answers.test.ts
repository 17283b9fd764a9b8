import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asksForTask, pendingApprovalError, shadowError } from './task-answers.ts';
import type { CallState } from './types.ts';

const state = (method: string, params: Record<string, unknown>, era = 'legacy') =>
  ({ method, params, ctx: { era } }) as unknown as CallState;

test('asksForTask: a 2025-11-25 tools/call with a task object, nothing else', () => {
  assert.equal(asksForTask(state('tools/call', { name: 'a', task: { ttl: 1 } })), true);
  assert.equal(asksForTask(state('tools/call', { name: 'a', task: {} })), true);
  assert.equal(asksForTask(state('tools/call', { name: 'a' })), false);
  assert.equal(asksForTask(state('tools/call', { name: 'a', task: 'yes' })), false);
  assert.equal(asksForTask(state('tools/call', { name: 'a', task: null })), false);
  assert.equal(asksForTask(state('prompts/get', { name: 'a', task: {} })), false);
  assert.equal(asksForTask(state('tools/call', { name: 'a', task: {} }, 'modern')), false);
});

const pending = {
  id: 'apr_1',
  url: 'https://gw.example/approvals/apr_1',
  summary: 'deploy',
  expiresAt: Date.UTC(2030, 0, 1),
  retry: 'Retry with the approval.',
};

test('pendingApprovalError: -32042 carrying the page for a URL-eliciting caller, else -32001 naming it', () => {
  const url = pendingApprovalError(pending, true);
  assert.equal(url.rpc, -32042);
  assert.equal(url.code, 'E_URL_ELICITATION_REQUIRED');
  const data = url.data as { elicitations: Array<Record<string, string>>; approval: Record<string, string> };
  assert.deepEqual(data.elicitations, [
    { mode: 'url', url: pending.url, elicitationId: 'apr_1', message: 'A person must approve this call: deploy' },
  ]);
  assert.equal(data.approval.expiresAt, '2030-01-01T00:00:00.000Z');
  const plain = pendingApprovalError(pending, false);
  assert.equal(plain.rpc, -32001);
  assert.equal((plain.data as { elicitations?: unknown }).elicitations, undefined);
  for (const e of [url, plain]) {
    assert.match(e.message, /approval apr_1 is pending at https:\/\/gw\.example\/approvals\/apr_1\. Retry with/);
    assert.match(e.message, /no task was created/);
  }
});

test('shadowError: the gateway refusal with the shadow words', () => {
  const e = shadowError('Shadow mode: did NOT run it.', 'r1');
  assert.equal(e.rpc, -32001);
  assert.match(e.message, /^Shadow mode: did NOT run it\. No task was created\.$/);
  assert.deepEqual(e.data, { shadow: true, rule: 'r1' });
});
