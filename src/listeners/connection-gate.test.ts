import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectionCaps, defaultMaxConnections, openFileLimit } from './connection-gate.ts';

const limits = (soft: string) =>
  `Limit                     Soft Limit           Hard Limit           Units     \nMax processes             63459                63459                processes \nMax open files            ${soft}                 524288               files     \n`;

test('the open-file limit is read from /proc/self/limits (the soft one)', () => {
  assert.equal(openFileLimit(limits('1024')), 1024);
  assert.equal(openFileLimit(limits('unlimited')), Number.POSITIVE_INFINITY);
  assert.equal(openFileLimit('nothing here'), undefined);
});

test('the default total leaves half of the descriptors (and 256 more) to everything else, within 64..16384', () => {
  assert.equal(defaultMaxConnections(1024), 384);
  assert.equal(defaultMaxConnections(24_576), 12_160);
  assert.equal(defaultMaxConnections(1_048_576), 16_384);
  assert.equal(defaultMaxConnections(Number.POSITIVE_INFINITY), 16_384);
  assert.equal(defaultMaxConnections(200), 64);
  assert.equal(defaultMaxConnections(undefined), 1024);
});

test('caps: configured values win; trusted proxies are exempt from the cap per address', () => {
  assert.deepEqual(connectionCaps({ maxConnections: 10, maxConnectionsPerAddress: 2, trustedProxies: ['10.0.0.1'] }), {
    max: 10,
    perAddress: 2,
    exempt: ['10.0.0.1'],
  });
  const d = connectionCaps({});
  assert.equal(d.perAddress, 256);
  assert.ok(d.max >= 64 && d.max <= 16_384);
});
