import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditEvent } from '../../model/audit-event.ts';
import { HttpSink, parseRetryAfter, type HttpSinkOptions } from './http.ts';
import { Exporter } from './exporter.ts';
import { SinkRejected } from './sink.ts';
import { MemoryCursors, MemorySource } from '../../../test/fixtures/sinks/memory.ts';
import {
  elasticReceiver,
  otlpReceiver,
  splunkReceiver,
  type HttpReceiver,
  type Mode,
} from '../../../test/fixtures/sinks/http-receivers.ts';

const TOKEN = 'f3a1c2d4-5e6f-4a7b-8c9d-SECRET-HEC-TOKEN';
const API_KEY = 'VnVhQ2ZHY0JDZGJrU-SECRET-API-KEY';

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A receiver, a sink pointed at it, and how to read back what arrived as (stream, seq) in order. */
interface Setup {
  receiver: HttpReceiver;
  sink: HttpSink;
  arrived: () => Array<{ stream: string; seq: number }>;
  /** Distinct records the destination holds (after its own dedupe, if it has one). */
  held: () => number;
  /** Duplicate deliveries the destination saw (kept, overwritten or refused as conflicts). */
  duplicates?: () => number;
}

async function splunk(batchSize = 3): Promise<Setup> {
  const receiver = await splunkReceiver(TOKEN);
  const sink = new HttpSink({
    url: receiver.url,
    format: 'splunk-hec',
    headers: { authorization: `Splunk ${TOKEN}` },
    batchSize,
    timeoutMs: 2000,
    splunk: { index: 'audit' },
  });
  const arrived = () => receiver.events.map((e) => ({ stream: e.fields!.stream, seq: Number(e.fields!.seq) }));
  return { receiver, sink, arrived, held: () => new Set(arrived().map((a) => `${a.stream}:${a.seq}`)).size };
}

async function elastic(
  batchSize = 3,
  op: 'index' | 'create' = 'index',
): Promise<Setup & { receiver: Awaited<ReturnType<typeof elasticReceiver>> }> {
  const receiver = await elasticReceiver(API_KEY);
  const sink = new HttpSink({
    url: receiver.url,
    format: 'elastic-bulk',
    headers: { authorization: `ApiKey ${API_KEY}` },
    batchSize,
    timeoutMs: 2000,
    elastic: { index: 'gh-audit', op },
  });
  const arrived = () => receiver.log.map((l) => ({ stream: l.doc.stream as string, seq: l.doc.seq as number }));
  return {
    receiver,
    sink,
    arrived,
    held: () => receiver.docs.size,
    duplicates: () => receiver.conflicts + receiver.log.length - receiver.docs.size,
  };
}

async function otlp(batchSize = 3): Promise<Setup & { receiver: Awaited<ReturnType<typeof otlpReceiver>> }> {
  const receiver = await otlpReceiver();
  const sink = new HttpSink({
    url: receiver.url,
    format: 'otlp',
    batchSize,
    timeoutMs: 2000,
    otlp: { serviceName: 'gatehouse', serviceInstanceId: 'gw-test' },
  });
  const arrived = () =>
    receiver.records.map((r) => {
      const a = Object.fromEntries(r.record.attributes.map((x) => [x.key, x.value]));
      return {
        stream: a['gatehouse.audit.stream'].stringValue as string,
        seq: Number(a['gatehouse.audit.seq'].intValue),
      };
    });
  return { receiver, sink, arrived, held: () => new Set(arrived().map((a) => `${a.stream}:${a.seq}`)).size };
}

test('HttpSink delivers to each receiver in its format', async (t) => {
  const src = new MemorySource();
  const batch: AuditEvent[] = [src.append('gw-1'), src.append('gw-2', { tool: 'ünï\ncode]' }), src.append('gw-1')];
  for (const make of [splunk, elastic, otlp]) {
    const s = await make(2);
    t.after(() => s.receiver.close());
    t.after(() => s.sink.close());
    await s.sink.send(batch);
    assert.deepEqual(
      s.arrived(),
      batch.map((e) => ({ stream: e.stream, seq: e.seq })),
      make.name,
    );
    assert.equal(s.receiver.requests, 2, `${make.name}: batchSize splits the batch`);
  }
  const e = await elastic();
  t.after(() => e.receiver.close());
  t.after(() => e.sink.close());
  await e.sink.send(batch);
  assert.deepEqual(
    e.receiver.docs.get(`gh-audit/gw-2:1`),
    batch[1],
    'the document is the record as is, _id = stream:seq',
  );
});

// The key property, per format and per way of being down: records keep being produced while the
// destination is unavailable; when it is back, everything arrives, in order per stream, duplicates
// only as exact (stream, seq) repeats, and the cursor ends at the last position.
const downs: Array<[string, () => Promise<Setup>, Mode]> = [
  ['splunk-hec, 503', () => splunk(), '503'],
  ['splunk-hec, connection refused', () => splunk(), 'refuse'],
  ['elastic-bulk, connection refused', () => elastic(), 'refuse'],
  ['elastic-bulk (create), acknowledgements lost', () => elastic(3, 'create'), 'lost-ack'],
  ['otlp, 503', () => otlp(), '503'],
  ['otlp, acknowledgements lost', () => otlp(), 'lost-ack'],
];
for (const [label, make, mode] of downs) {
  test(`at least once, in order, through an outage: ${label}`, async (t) => {
    const s = await make();
    t.after(() => s.receiver.close());
    t.after(() => s.sink.close());
    const src = new MemorySource();
    const cursors = new MemoryCursors();
    const ex = new Exporter({
      name: 'siem',
      sink: s.sink,
      source: src,
      cursors,
      batchSize: 7,
      backoff: { initialMs: 5, maxMs: 40 },
      pollMs: 5,
    });
    const streams = ['gw-a', 'gw-b', 'cli-1'];
    const produce = async (n: number) => {
      for (let i = 0; i < n; i++) {
        src.append(streams[i % 3]);
        ex.notify();
        if (i % 4 === 0) await sleep(1);
      }
    };
    ex.start();
    t.after(() => ex.stop());
    await produce(20);
    await until('first records delivered', () => s.arrived().length > 0);
    await s.receiver.setMode(mode);
    await produce(30);
    await until('failures while down', () => ex.status().failures >= 3);
    assert.ok(ex.status().lastError, 'the outage is visible in status');
    await s.receiver.setMode('up');
    await produce(10);
    const last = src.rows.at(-1)!.position;
    await until('cursor at the last position', () => ex.status().cursor === last);
    await ex.stop();

    const produced = src.rows.map((r) => `${r.event.stream}:${r.event.seq}`);
    const arrived = s.arrived();
    assert.deepEqual(new Set(arrived.map((a) => `${a.stream}:${a.seq}`)), new Set(produced), 'every record arrived');
    assert.equal(s.held(), produced.length, 'after dedupe by (stream, seq): exactly the records produced');
    for (const stream of streams) {
      const firsts: number[] = [];
      for (const a of arrived) if (a.stream === stream && !firsts.includes(a.seq)) firsts.push(a.seq);
      assert.deepEqual(
        firsts,
        firsts.map((_, i) => i + 1),
        `${stream}: in order, no gap`,
      );
    }
    const dupes = s.duplicates?.() ?? arrived.length - produced.length;
    if (mode === 'lost-ack')
      assert.ok(dupes > 0, 'lost acknowledgements did cause duplicates (removed above, or refused as 409)');
    assert.equal(cursors.values.get('siem'), last);
    assert.equal(ex.status().failures, 0);
    assert.equal(ex.status().lastError, undefined);
  });
}

test('exporter restarted during an outage resumes from the persisted cursor: no loss', async (t) => {
  const s = await splunk();
  t.after(() => s.receiver.close());
  t.after(() => s.sink.close());
  const src = new MemorySource();
  const cursors = new MemoryCursors();
  const opts = {
    name: 'siem',
    sink: s.sink,
    source: src,
    cursors,
    batchSize: 4,
    backoff: { initialMs: 5, maxMs: 20 },
    pollMs: 5,
  };
  for (let i = 0; i < 10; i++) src.append('gw');
  const first = new Exporter(opts);
  await first.runOnce();
  await s.receiver.setMode('503');
  for (let i = 0; i < 10; i++) src.append('gw');
  first.start();
  await until('failing', () => first.status().failures >= 2);
  await first.stop(); // the process goes away with a batch pending in memory
  assert.equal(cursors.values.get('siem'), 10);
  await s.receiver.setMode('up');
  const second = new Exporter(opts);
  assert.equal(await second.runOnce(), 10);
  assert.deepEqual(
    s.arrived().map((a) => a.seq),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  assert.equal(second.status().cursor, 20);
});

test('splunk: a wrong token is SinkRejected; the token never appears in errors or status', async (t) => {
  const receiver = await splunkReceiver(TOKEN);
  t.after(() => receiver.close());
  const wrong = 'Zz9-WRONG-but-still-SECRET-token-Zz9';
  const sink = new HttpSink({ url: receiver.url, format: 'splunk-hec', headers: { Authorization: `Splunk ${wrong}` } });
  t.after(() => sink.close());
  const src = new MemorySource();
  src.append('gw');
  const cursors = new MemoryCursors();
  const ex = new Exporter({ name: 'splunk', sink, source: src, cursors, backoff: { initialMs: 5, maxMs: 50 } });
  await assert.rejects(
    ex.runOnce(),
    (e: Error) => e instanceof SinkRejected && /HTTP 403/.test(e.message) && !e.message.includes(wrong),
  );
  const st = ex.status();
  assert.equal(st.rejected, true);
  assert.equal(st.cursor, 0, 'a rejection does not move the cursor');
  assert.equal(cursors.values.get('splunk'), undefined);
  assert.equal(st.pending, 1, 'the batch is kept for the retry');
  assert.ok(!JSON.stringify(st).includes(wrong));
});

test('errors never carry header values or URL credentials, even when the endpoint echoes them', async (t) => {
  // A hostile endpoint that reflects every request header (and the URL) into a 400 body.
  const echo = createServer((req, res) =>
    res.writeHead(400, { 'content-type': 'text/plain' }).end(`bad request ${req.url} ${JSON.stringify(req.headers)}`),
  );
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => echo.close(() => r())));
  const port = (echo.address() as AddressInfo).port;
  const opts: HttpSinkOptions = {
    url: `http://user:pa55word-SECRET@127.0.0.1:${port}/_bulk?token=QUERY-SECRET-123`,
    format: 'elastic-bulk',
    elastic: { index: 'i' },
    headers: { authorization: `ApiKey ${API_KEY}`, 'x-extra': 'EXTRA-HEADER-SECRET' },
  };
  const leaks = [API_KEY, 'EXTRA-HEADER-SECRET', 'pa55word-SECRET', 'QUERY-SECRET-123'];
  const sink = new HttpSink(opts);
  t.after(() => sink.close());
  const src = new MemorySource();
  const ex = new Exporter({ name: 'es', sink, source: src, cursors: new MemoryCursors() });
  src.append('gw');
  const err = await ex.runOnce().then(
    () => undefined,
    (e: Error) => e,
  );
  assert.ok(err instanceof SinkRejected);
  const texts = [err.message, String(err.stack), JSON.stringify(ex.status())];
  for (const text of texts) for (const leak of leaks) assert.ok(!text.includes(leak), `leaked ${leak} in ${text}`);
  assert.match(err.message, /HTTP 400/);
  // The same for a network error (nothing listening).
  const dead = new HttpSink({ ...opts, url: 'http://user:pa55word-SECRET@127.0.0.1:1/_bulk?token=QUERY-SECRET-123' });
  t.after(() => dead.close());
  const netErr = await dead.send([src.rows[0].event]).then(
    () => undefined,
    (e: Error & { retryable?: boolean }) => e,
  );
  assert.equal(netErr?.retryable, true);
  for (const leak of leaks) assert.ok(!netErr!.message.includes(leak), netErr!.message);
});

test('elastic: 409 items are success; 429 items retryable; mapping errors rejected', async (t) => {
  const s = await elastic(10, 'create');
  t.after(() => s.receiver.close());
  t.after(() => s.sink.close());
  const src = new MemorySource();
  const batch = [src.append('gw'), src.append('gw')];
  await s.sink.send(batch);
  await s.sink.send(batch); // a retry of a delivered batch: every item 409
  assert.equal(s.receiver.docs.size, 2);
  s.receiver.reject = (doc) => (doc.seq === 2 ? 429 : undefined);
  await assert.rejects(
    s.sink.send([src.append('gw'), { ...batch[1] }]),
    (e: Error & { retryable?: boolean }) => e.retryable === true && !(e instanceof SinkRejected),
  );
  s.receiver.reject = (doc) => (doc.seq === 4 ? 400 : undefined);
  await assert.rejects(
    s.sink.send([src.append('gw')]),
    (e: Error) => e instanceof SinkRejected && /document_parsing_exception/.test(e.message),
  );
});

test('otlp: a partial success is a rejection', async (t) => {
  const s = await otlp();
  t.after(() => s.receiver.close());
  t.after(() => s.sink.close());
  s.receiver.partialReject = 1;
  await assert.rejects(s.sink.send([new MemorySource().append('gw')]), SinkRejected);
});

test('a hung endpoint times out (retryable)', async (t) => {
  const hung = createServer(() => {});
  await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
  t.after(
    () =>
      new Promise<void>((r) => {
        hung.closeAllConnections();
        hung.close(() => r());
      }),
  );
  const sink = new HttpSink({
    url: `http://127.0.0.1:${(hung.address() as AddressInfo).port}/v1/logs`,
    format: 'otlp',
    otlp: { serviceName: 's', serviceInstanceId: 'i' },
    timeoutMs: 100,
  });
  t.after(() => sink.close());
  await assert.rejects(
    sink.send([new MemorySource().append('gw')]),
    (e: Error & { retryable?: boolean }) => e.retryable === true && /timed out after 100 ms/.test(e.message),
  );
});

test('Retry-After: seconds or HTTP date, bounded', () => {
  assert.equal(parseRetryAfter('3'), 3000);
  assert.equal(parseRetryAfter(undefined), undefined);
  assert.equal(parseRetryAfter('soon'), undefined);
  assert.equal(parseRetryAfter('999999'), 3_600_000);
  const d = parseRetryAfter(new Date(Date.now() + 5000).toUTCString())!;
  assert.ok(d > 3000 && d <= 5000);
});
