import { test } from 'node:test';
import assert from 'node:assert/strict';
import { callerCancelled, cancelReasonOf } from './cancel-reason.ts';

const told = (reason: unknown) => cancelReasonOf(callerCancelled(reason, (s) => s.replaceAll('s3cret-value', '[X]')));

test('a short plain reason is passed on, scrubbed; anything else is the generic text', () => {
  assert.equal(told('user stop'), 'user stop');
  assert.equal(told('stop, token s3cret-value'), 'stop, token [X]');
  assert.equal(told('a\r\nb\u0007c\u200bd\u202e'), 'a b c d');
  for (const bad of [undefined, 42, { a: 1 }, '', '\u0000\n', 'x'.repeat(201), 'y'.repeat(10_000)])
    assert.equal(told(bad), 'cancelled by the client', String(bad).slice(0, 20));
  assert.equal(told('z'.repeat(200)), 'z'.repeat(200));
});

test('an abort for any other cause (the connection closed, a timeout) tells the generic text', () => {
  assert.equal(cancelReasonOf(new DOMException('aborted', 'AbortError')), 'cancelled by the client');
  assert.equal(cancelReasonOf(undefined), 'cancelled by the client');
  assert.equal(callerCancelled('why', (s) => s).name, 'AbortError');
});
