import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLoopback } from './address.ts';

test('loopback addresses', () => {
  assert.ok(isLoopback('127.0.0.1') && isLoopback('::1') && isLoopback('::ffff:127.0.0.1'));
  assert.ok(!isLoopback('10.0.0.1') && !isLoopback('::ffff:192.168.1.1') && !isLoopback(undefined));
});
