import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { hmacSha256, sameBytes } from './hmac.ts';

test('hmacSha256 is HMAC-SHA-256 of its parts as if concatenated', () => {
  const want = createHmac('sha256', 'k').update('a.b\nc').digest();
  assert.deepEqual(hmacSha256('k', 'a.b\nc'), want);
  assert.deepEqual(hmacSha256('k', 'a.', Buffer.from('b'), '\nc'), want);
  assert.equal(hmacSha256(Buffer.alloc(32), '').length, 32);
});

test('sameBytes: equal bytes only; a different length is false, not a throw', () => {
  assert.equal(sameBytes('abc', Buffer.from('abc')), true);
  assert.equal(sameBytes('abc', 'abd'), false);
  assert.equal(sameBytes('abc', 'abcd'), false);
  assert.equal(sameBytes('', ''), true);
});
