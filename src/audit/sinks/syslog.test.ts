import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { frame, SyslogSink } from './syslog.ts';
import { SinkRejected } from './sink.ts';
import { MemorySource } from '../../../test/fixtures/sinks/memory.ts';
import { OctetCountingParser, syslogTcpReceiver } from '../../../test/fixtures/sinks/syslog-receiver.ts';

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

test('octet-counting framing: byte lengths, any chunking, round trip', () => {
  const msgs = ['<14>1 - - - - - - hello', 'ünïcödé 🙂 and a\nnewline', 'x'.repeat(5000)];
  const wire = Buffer.concat(msgs.map(frame));
  assert.equal(frame('é').toString('utf8'), '2 é', 'the length counts bytes, not characters');
  for (const size of [1, 7, 4096, wire.length]) {
    const p = new OctetCountingParser();
    const out: string[] = [];
    for (let i = 0; i < wire.length; i += size) out.push(...p.push(wire.subarray(i, i + size)));
    assert.deepEqual(out, msgs, `chunks of ${size}`);
    assert.equal(p.buffered, 0);
  }
  assert.throws(() => new OctetCountingParser().push(Buffer.from('<14>1 no length')), /bad frame/);
});

test('syslog TCP, RFC 5424: every record arrives in order, parseable, MSG is the record', async (t) => {
  const rx = await syslogTcpReceiver();
  t.after(() => rx.close());
  const sink = new SyslogSink({
    host: rx.host,
    port: rx.port,
    transport: 'tcp',
    format: 'rfc5424',
    hostname: 'gw-host',
    facility: 10,
  });
  t.after(() => sink.close());
  const src = new MemorySource();
  const batch1 = [src.append('a'), src.append('b', { tool: 'evil\n<13>1 forged] "line"' }), src.append('a')];
  const batch2 = [src.append('b', { outcome: 'error' })];
  await sink.send(batch1);
  await sink.send(batch2);
  await until('4 messages', () => rx.messages.length === 4);
  assert.deepEqual(rx.errors, []);
  const events = src.rows.map((r) => r.event);
  rx.messages.forEach((m, i) => {
    assert.match(m, /^<\d+>1 \S+ gw-host gatehouse - \S+ \[gatehouse@32473 /);
    assert.ok(!/[\r\n]/.test(m));
    assert.deepEqual(JSON.parse(m.slice(m.indexOf('] {') + 2)), events[i]);
  });
  assert.ok(rx.messages[3].startsWith('<84>1 '), 'authpriv.warning for an error outcome');
});

test('syslog TCP, CEF: CEF inside an RFC 5424 header', async (t) => {
  const rx = await syslogTcpReceiver();
  t.after(() => rx.close());
  const sink = new SyslogSink({
    host: rx.host,
    port: rx.port,
    transport: 'tcp',
    format: 'cef',
    hostname: 'h',
    appName: 'gatehouse',
  });
  t.after(() => sink.close());
  const e = new MemorySource().append('gw', { tool: 'a|b=c' });
  await sink.send([e]);
  await until('1 message', () => rx.messages.length === 1);
  assert.match(
    rx.messages[0],
    /^<110>1 \S+ h gatehouse - call\.outcome - CEF:0\|Gatehouse\|Gatehouse\|[^|]+\|call\.outcome\|call\.outcome a\\\|b=c ok\|3\|/,
  );
  assert.ok(rx.messages[0].includes('cs1=a|b\\=c'));
});

test('syslog TCP: receiver down → retryable error; back up → the sink reconnects', async (t) => {
  const rx = await syslogTcpReceiver();
  t.after(() => rx.close());
  const sink = new SyslogSink({ host: rx.host, port: rx.port, transport: 'tcp', format: 'rfc5424', timeoutMs: 1000 });
  t.after(() => sink.close());
  const src = new MemorySource();
  await sink.send([src.append('gw')]);
  await until('first', () => rx.messages.length === 1);
  await rx.down();
  await sleep(20); // let the sink see the close of its connection
  await assert.rejects(
    sink.send([src.append('gw')]),
    (e: Error & { retryable?: boolean }) => e.retryable === true && /ECONNREFUSED/.test(e.message),
  );
  await rx.up();
  await sink.send([src.rows[1].event, src.append('gw')]);
  await until('after reconnect', () => rx.messages.length === 3);
  assert.deepEqual(
    rx.messages.map((m) => JSON.parse(m.slice(m.indexOf('] {') + 2)).seq),
    [1, 2, 3],
  );
});

test('syslog UDP: one message per datagram; an oversized record is refused, not truncated', async (t) => {
  const udp = createSocket('udp4');
  const got: string[] = [];
  udp.on('message', (m) => got.push(m.toString('utf8')));
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => udp.close(() => r())));
  const port = (udp.address() as AddressInfo).port;
  const sink = new SyslogSink({ host: '127.0.0.1', port, transport: 'udp', format: 'rfc5424', maxDatagram: 2048 });
  t.after(() => sink.close());
  const src = new MemorySource();
  await sink.send([src.append('gw'), src.append('gw')]);
  await until('2 datagrams', () => got.length === 2);
  assert.ok(got.every((m) => m.startsWith('<110>1 ')));
  await assert.rejects(sink.send([src.append('gw', { detail: { big: 'x'.repeat(5000) } })]), SinkRejected);
});
