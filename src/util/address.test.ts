import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressSource, canonicalAddress, isIpAddress, isLoopback } from './address.ts';

test('loopback addresses', () => {
  assert.ok(isLoopback('127.0.0.1') && isLoopback('::1') && isLoopback('::ffff:127.0.0.1'));
  assert.ok(!isLoopback('10.0.0.1') && !isLoopback('::ffff:192.168.1.1') && !isLoopback(undefined));
});

test('a client is counted by its IPv4 address, or by the /64 of its IPv6 address', () => {
  assert.equal(addressSource('10.0.0.1'), '10.0.0.1');
  assert.equal(addressSource('::ffff:10.0.0.1'), '10.0.0.1');
  // Every address of one /64, however written, is one source.
  const one = [
    '2001:db8:1:2::1',
    '2001:0db8:0001:0002:ffff:ffff:ffff:fffe',
    '2001:DB8:1:2:a:b:c:d',
    '2001:db8:1:2::10.0.0.1',
    'fe80::1%eth0'.replace('fe80::1', '2001:db8:1:2::9'),
  ].map(addressSource);
  assert.deepEqual(new Set(one), new Set(['2001:db8:1:2::/64']));
  assert.equal(addressSource('2001:db8:1:3::1'), '2001:db8:1:3::/64');
  assert.equal(addressSource('::1'), '0:0:0:0::/64');
  // A link-local client is counted on its link; a NAT64 address is the IPv4 client inside it.
  assert.equal(addressSource('fe80::1%eth0'), 'fe80:0:0:0::/64%eth0');
  assert.notEqual(addressSource('fe80::1%eth0'), addressSource('fe80::1%eth1'));
  assert.equal(addressSource('64:ff9b::192.0.2.1'), '192.0.2.1');
  assert.equal(addressSource('64:ff9b::c000:202'), '192.0.2.2');
  assert.notEqual(addressSource('64:ff9b::192.0.2.1'), addressSource('64:ff9b::192.0.2.2'));
  // RFC 8215's local-use NAT64 prefix: each address is one IPv4 client's, wherever it is embedded.
  assert.notEqual(addressSource('64:ff9b:1:2::c000:201'), addressSource('64:ff9b:1:2::c000:202'));
  assert.notEqual(addressSource('64:ff9b:1:c000:2:100::'), addressSource('64:ff9b:1:c000:2:200::'));
  assert.equal(addressSource('64:ff9b:1:2::c000:201'), addressSource('64:FF9B:1:2:0:0:C000:201'));
  // Not an address: as it is (a cap still counts it, under that name).
  for (const odd of ['', 'not:an::address::x', '1:2:3:4:5:6:7:8:9', '2001:db8::1::2', '::1.2.3.999'])
    assert.equal(addressSource(odd), odd.toLowerCase());
});

test('a trusted proxy is recognised however its address is written', () => {
  assert.equal(canonicalAddress('2001:DB8::1'), canonicalAddress('2001:0db8:0:0:0:0:0:0001'));
  assert.equal(canonicalAddress('::ffff:10.0.0.1'), '10.0.0.1');
  assert.notEqual(canonicalAddress('2001:db8::1'), canonicalAddress('2001:db8::2'));
});

test('one IP address, as a trusted proxy is written: IPv4 of four decimal bytes, IPv6 with or without a zone', () => {
  for (const a of [
    '10.0.0.10',
    '0.0.0.0',
    '255.255.255.255',
    '::',
    '::1',
    '2001:DB8::10',
    '::ffff:10.0.0.1',
    'fe80::1%eth0',
  ])
    assert.ok(isIpAddress(a), a);
  for (const a of [
    '',
    '10.0.0',
    '10.0.0.256',
    '010.0.0.1',
    '10.0.0.0/8',
    '2001:db8::/32',
    'fe80::1%',
    '1::2::3',
    'gw.example.com',
    'Sup3rSecretPW',
  ])
    assert.ok(!isIpAddress(a), a);
});
