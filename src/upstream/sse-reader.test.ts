import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser, SseTooLargeError, type SseEvent } from './sse-reader.ts';

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
