import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser, SseTooLargeError, type SseEvent } from './sse-reader.ts';
import { ByteBudget } from '../util/byte-budget.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function parseChunks(chunks: Uint8Array[], max?: number): SseEvent[] {
  const p = new SseParser(max);
  return chunks.flatMap((c) => p.push(c));
}

/** Every way of cutting `bytes` in two, plus one byte at a time, must give the same events. */
function everyCut(bytes: Uint8Array): SseEvent[][] {
  const runs: SseEvent[][] = [];
  for (let i = 0; i <= bytes.length; i++) runs.push(parseChunks([bytes.subarray(0, i), bytes.subarray(i)]));
  runs.push(parseChunks([...bytes].map((b) => Uint8Array.of(b))));
  return runs;
}

test('fields, multi-line data, comments and the default event type', () => {
  const events = parseChunks([
    enc(
      ': hello\nevent: endpoint\ndata: /messages?s=1\n\nid: 7\ndata: {"a":\ndata:1}\n\ndata\n\nretry: 1500\nfoo: bar\n\n',
    ),
  ]);
  assert.deepEqual(events, [
    { event: 'endpoint', data: '/messages?s=1', id: '' },
    { event: 'message', data: '{"a":\n1}', id: '7' },
    { event: 'message', data: '', id: '7' },
  ]);
});

test('the same events whatever the chunk boundaries: CRLF, CR, LF, BOM and split UTF-8', () => {
  const text =
    '\uFEFFevent: a\r\ndata: Hello, 世界 🎉\r\n\r\nid: é1\rdata: x\r\rdata: line1\ndata: line2\n\n: c\r\ndata: ok\r\n\r\n';
  const bytes = enc(text);
  const expected = [
    { event: 'a', data: 'Hello, 世界 🎉', id: '' },
    { event: 'message', data: 'x', id: 'é1' },
    { event: 'message', data: 'line1\nline2', id: 'é1' },
    { event: 'message', data: 'ok', id: 'é1' },
  ];
  for (const run of everyCut(bytes)) assert.deepEqual(run, expected);
});

test('a CR ending one chunk and an LF starting the next are one line end', () => {
  assert.deepEqual(parseChunks([enc('data: a\r'), enc('\ndata: b\r'), enc('\n\r'), enc('\n')]), [
    { event: 'message', data: 'a\nb', id: '' },
  ]);
});

test('an event without its closing blank line is never delivered', () => {
  const p = new SseParser();
  assert.deepEqual(
    p.push(enc('data: one\n\ndata: two\n')).map((e) => e.data),
    ['one'],
  );
});

test('id, retry and priming events are tracked the way a resuming client needs', () => {
  const p = new SseParser();
  assert.deepEqual(p.push(enc('id: p-1\nretry: 250\ndata:\n\n')), [{ event: 'message', data: '', id: 'p-1' }]);
  assert.equal(p.lastEventId, 'p-1');
  assert.equal(p.retryMs, 250);
  p.push(enc('id: bad\u0000id\nretry: soon\ndata: x\n\n'));
  assert.equal(p.lastEventId, 'p-1', 'an id containing NUL is ignored');
  assert.equal(p.retryMs, 250, 'a non-numeric retry is ignored');
  p.push(enc('id\n\n'));
  assert.equal(p.lastEventId, '', 'an empty id resets the last event id');
});

test('an event over the limit throws, whether one long line or many lines, before it is buffered', () => {
  const p = new SseParser(1024);
  assert.throws(() => {
    for (let i = 0; i < 100; i++) p.push(enc(i === 0 ? 'data: ' : 'x'.repeat(100)));
  }, SseTooLargeError);
  const q = new SseParser(1024);
  assert.throws(() => q.push(enc('data: 0123456789\n'.repeat(100))), /sse event larger than 1024 bytes/);
  const r = new SseParser(1024);
  const fine = r.push(enc(`data: ${'y'.repeat(900)}\n\n`.repeat(20)));
  assert.equal(fine.length, 20, 'the limit is per event, not per stream');
});

test('parsing is linear: an 8 MiB event in 1 KiB chunks is quick', () => {
  const p = new SseParser();
  const piece = enc('z'.repeat(1024));
  const started = performance.now();
  p.push(enc('data: '));
  for (let i = 0; i < 8 * 1024; i++) p.push(piece);
  const [ev] = p.push(enc('\n\n'));
  const ms = performance.now() - started;
  assert.equal(ev.data.length, 8 * 1024 * 1024);
  assert.ok(ms < 3000, `took ${ms} ms`);
});

test('an event whose data is not valid utf-8 is dropped whole and counted; the next one arrives', () => {
  const p = new SseParser();
  const bad = Uint8Array.from([...enc('data: {"a":"'), 0xc3, 0x28, ...enc('"}\n\n')]);
  const events = [...p.push(bad), ...p.push(enc('data: {"b":1}\n\n'))];
  assert.deepEqual(
    events.map((e) => e.data),
    ['{"b":1}'],
  );
  assert.equal(p.invalidEvents, 1);
});

test('the budget: what an event holds is taken as it grows and given back once it is dispatched', () => {
  const budget = new ByteBudget(1000);
  const p = new SseParser(500, { budget });
  assert.deepEqual(p.push(enc('data: ')), []);
  assert.equal(budget.held, 6, 'a partial line is held');
  assert.deepEqual(p.push(enc('abc\ndata: de')), []);
  assert.ok(budget.held > 0, 'the data of an event not yet ended is held');
  assert.equal(budget.held, p.held);
  assert.deepEqual(
    p.push(enc('f\n\n')).map((e) => e.data),
    ['abc\ndef'],
  );
  assert.equal(budget.held, 0, 'dispatched: given back');
});

test('the budget: an event that does not fit is refused (thrown, over budget) and what it held is given back', () => {
  const budget = new ByteBudget(100);
  assert.ok(budget.take(60)); // another reader's
  const p = new SseParser(1000, { budget });
  p.push(enc(`data: ${'x'.repeat(30)}`));
  assert.equal(budget.held, 96);
  assert.throws(
    () => p.push(enc('x'.repeat(30))),
    (e: unknown) => e instanceof SseTooLargeError && e.overBudget,
  );
  assert.equal(budget.held, 60, "only the other reader's bytes are left");
  // Too large for the parser's own bound: thrown, not over budget, nothing left held.
  const q = new SseParser(10, { budget });
  assert.throws(
    () => q.push(enc('data: 0123456789abc\n')),
    (e: unknown) => e instanceof SseTooLargeError && !e.overBudget,
  );
  assert.equal(budget.held, 60);
});

test('end(): an event the stream did not finish is discarded and its bytes given back; the last id is kept', () => {
  const budget = new ByteBudget(1000);
  const p = new SseParser(500, { budget });
  p.push(enc('id: 4\ndata: one\n\ndata: half'));
  assert.ok(budget.held > 0);
  p.end();
  assert.equal(budget.held, 0);
  assert.equal(p.lastEventId, '4');
  assert.deepEqual(
    p.push(enc('data: two\n\n')).map((e) => e.data),
    ['two'],
    'a resumed stream starts afresh',
  );
});

test('drop: an event over the bound is skipped unread to its blank line, and the stream read on', () => {
  const budget = new ByteBudget(1000);
  const p = new SseParser(16, { budget, drop: true });
  const big = `data: ${'y'.repeat(40)}`;
  const bytes = enc(`data: small\n\n${big}\ndata: more\n\ndata: after\n\n`);
  // Whatever the chunking, including a line cut where the event goes over the bound.
  for (const size of [1, 3, 7, 20, bytes.length]) {
    const q = new SseParser(16, { budget, drop: true });
    const got: string[] = [];
    for (let i = 0; i < bytes.length; i += size) got.push(...q.push(bytes.subarray(i, i + size)).map((e) => e.data));
    assert.deepEqual(got, ['small', 'after'], `chunks of ${size}`);
    assert.equal(q.droppedEvents, 1);
    assert.equal(budget.held, 0);
  }
  // Over the budget rather than the bound: dropped too, and counted as such.
  assert.ok(budget.take(995));
  assert.deepEqual(
    p.push(enc('data: 0123456789\n\ndata: ok\n\n')).map((e) => e.data),
    ['ok'],
  );
  assert.equal(p.droppedOverBudget, 1);
  budget.give(995);
  assert.equal(budget.held, 0);
});

test('an event type or id too long to be of use is not kept', () => {
  const p = new SseParser();
  const events = p.push(enc(`id: ${'i'.repeat(2000)}\nevent: ${'t'.repeat(100)}\ndata: x\n\n`));
  assert.equal(events.length, 1);
  assert.notEqual(events[0].event, 'message');
  assert.ok(events[0].event.length < 10);
  assert.equal(p.lastEventId, '');
});
