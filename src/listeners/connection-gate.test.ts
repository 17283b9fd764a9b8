import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { ConnectionGate, connectionCaps, defaultMaxConnections, openFileLimit } from './connection-gate.ts';
import { createLogger } from '../observability/logger.ts';
import { Metrics } from '../observability/metrics.ts';

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

/** A connection as the gate sees it: its peer, what it is sent, whether it was closed. */
class FakeSocket extends EventEmitter {
  sent = '';
  destroyed = false;
  readonly remoteAddress: string;
  constructor(remoteAddress: string) {
    super();
    this.remoteAddress = remoteAddress;
  }
  write(s: string): boolean {
    this.sent += s;
    return true;
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

test('an IPv6 client is counted by its /64: new addresses from its block do not pass the cap per address', () => {
  const gate = new ConnectionGate(
    // The trusted proxy as an operator may write it: the peer is reported as 2001:db8:0:9::1.
    () => ({ max: 100, perAddress: 2, exempt: ['2001:0DB8:0:9:0:0:0:0001'] }),
    () => ({ log: createLogger({ level: 'silent' }), metrics: new Metrics() }),
  );
  const admit = (peer: string) => {
    const s = new FakeSocket(peer);
    gate.admit(s as unknown as Socket);
    return s;
  };
  const [a, b] = [admit('2001:db8:0:1::1'), admit('2001:db8:0:1::2')];
  assert.ok(!a.destroyed && !b.destroyed);
  const third = admit('2001:db8:0:1:ffff:ffff:ffff:ffff');
  assert.ok(third.destroyed && /^HTTP\/1\.1 503 /.test(third.sent), 'the third from the same /64 is refused');
  assert.ok(!admit('2001:db8:0:2::1').destroyed, 'another /64 is another source');
  // A trusted proxy is exempt by its own address; its /64 neighbours are not.
  for (let i = 0; i < 3; i++) assert.ok(!admit('2001:db8:0:9::1').destroyed);
  admit('2001:db8:0:9::2');
  admit('2001:db8:0:9::3');
  assert.ok(admit('2001:db8:0:9::4').destroyed);
  // One closes: its /64 may connect again.
  a.destroy();
  assert.ok(!admit('2001:db8:0:1::3').destroyed);
});
