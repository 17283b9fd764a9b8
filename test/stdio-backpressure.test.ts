/**
 * `gatehouse stdio` and a client that sends more than it reads: no request starts while its answers
 * wait unread on stdout, at most 64 run at once, and past 256 waiting the gateway stops reading stdin,
 * so its memory stays bounded; nothing is lost, every answer arrives once the client reads. A
 * cancellation is read while requests wait: it aborts one in flight and drops one waiting.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { serveStdio } from '../src/listeners/stdio.ts';
import { ROOT, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';

let t: TestGateway;

before(async () => {
  const rec = join(mkdtempSync(join(tmpdir(), 'gatehouse-stdio-bp-')), 'rec.jsonl');
  t = await startGateway(
    stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(rec)} }\n`,
  );
});
after(async () => {
  await t?.close();
});

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
};
const line = (id: number, method: string, params: object = {}) =>
  `${JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta: META } })}\n`;

/** The ids of the answers in `text` (one JSON message per line). */
function answerIds(text: string): number[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { id: number }).id);
}

/** A client on a pair of streams; `outputBuffer`: stdout's buffer in bytes. */
function session(opts: { maxInFlight?: number; outputBuffer?: number } = {}) {
  const input = new PassThrough();
  const output = new PassThrough(opts.outputBuffer ? { highWaterMark: opts.outputBuffer } : {});
  const served = serveStdio(input, output, '', () => t.gw.endpoint, { maxInFlight: opts.maxInFlight });
  return { input, output, served };
}

/** Calls `seen` with the id of every answer written to `output`, as whole lines arrive. */
function onAnswers(output: PassThrough, seen: (id: number) => void): void {
  let buf = '';
  output.on('data', (d: Buffer) => {
    buf += d.toString();
    const cut = buf.lastIndexOf('\n') + 1;
    for (const id of answerIds(buf.slice(0, cut))) seen(id);
    buf = buf.slice(cut);
  });
}

test('answers the client does not read stop requests from starting and, past the waiting bound, stdin from being read; all arrive once it reads', async () => {
  const { input, output, served } = session({ outputBuffer: 1024 });
  const n = 400;
  let text = '';
  for (let i = 1; i <= n; i++) text += line(i, 'tools/list');
  input.write(text);
  // Each answer lists the server's tools (over 1 KB): stdout backs up after the first, and only the
  // requests already in flight (at most 64) add theirs; the rest are read until 256 wait, then stdin
  // is paused. Then nothing moves until the client reads.
  const unread = () => output.writableLength + output.readableLength;
  let last = -1;
  await eventually(async () => {
    const now = unread();
    const still = input.isPaused() && now === last;
    last = now;
    if (!still) await new Promise((r) => setTimeout(r, 200));
    return still;
  });
  const waiting = unread();
  let got = '';
  output.on('data', (d: Buffer) => {
    got += d.toString();
  });
  await eventually(() => answerIds(got).length === n, { timeoutMs: 20_000 });
  assert.deepEqual(
    answerIds(got).sort((a, b) => a - b),
    Array.from({ length: n }, (_, i) => i + 1),
  );
  const perAnswer = Buffer.byteLength(got) / n;
  assert.ok(
    waiting <= (64 + 2) * perAnswer,
    `while unread, at most the answers in flight waited on stdout (${Math.round(waiting / perAnswer)} of ${n})`,
  );
  input.end();
  await served;
});

test('no more than the most requests at once are in flight; the rest wait for a slot', async () => {
  const { input, output, served } = session({ maxInFlight: 4 });
  const answered: number[] = [];
  onAnswers(output, (id) => answered.push(id));
  let text = '';
  for (let i = 1; i <= 10; i++) text += line(i, 'tools/call', { name: 'rec__slow', arguments: { ms: 1500 } });
  input.write(text);
  // The first four run together; the fifth starts only when one of them has answered, 1.5 s later.
  await eventually(() => answered.length > 0, { timeoutMs: 20_000 });
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(
    [...answered].sort((a, b) => a - b),
    [1, 2, 3, 4],
    'the first wave is the first four requests',
  );
  await eventually(() => answered.length === 10, { timeoutMs: 20_000 });
  input.end();
  await served;
});

test('a client that goes away without reading (stdout closed) ends the session, though stdin stays paused', async () => {
  const { input, output, served } = session({ outputBuffer: 1024 });
  let text = '';
  for (let i = 1; i <= 400; i++) text += line(i, 'tools/list');
  input.write(text);
  await eventually(() => input.isPaused());
  output.destroy();
  const ended = await Promise.race([
    served.then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), 10_000)),
  ]);
  assert.ok(ended, 'the session ended');
});

test('a cancellation is read while requests wait for a slot: one in flight is aborted, one waiting dropped unanswered', async () => {
  const { input, output, served } = session({ maxInFlight: 2 });
  const answered = new Map<number, number>();
  onAnswers(output, (id) => answered.set(id, performance.now()));
  const t0 = performance.now();
  const slow = (id: number) => line(id, 'tools/call', { name: 'rec__slow', arguments: { ms: 6000 } });
  const cancel = (id: number) =>
    `${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id } })}\n`;
  // Two slow calls fill both slots; two listings wait for one; then the first call and the second
  // listing are cancelled.
  input.write(slow(1) + slow(2) + line(3, 'tools/list') + line(4, 'tools/list'));
  input.write(cancel(1) + cancel(4));
  await eventually(() => answered.has(3), { timeoutMs: 20_000 });
  const after = (answered.get(3) as number) - t0;
  assert.ok(after < 4000, `the listing was answered ${Math.round(after)} ms in, not after the slow calls (6 s)`);
  await eventually(() => answered.has(2), { timeoutMs: 20_000 });
  assert.ok(!answered.has(4), 'the cancelled listing that waited was never run');
  input.end();
  await served;
});

test('requests waiting for a slot are bounded: past 256 the reading of stdin stops until they start', async () => {
  const { input, output, served } = session({ maxInFlight: 1 });
  const answered = new Set<number>();
  onAnswers(output, (id) => answered.add(id));
  let text = line(1, 'tools/call', { name: 'rec__slow', arguments: { ms: 2000 } });
  for (let i = 2; i <= 400; i++) text += line(i, 'tools/list');
  input.write(text);
  await eventually(() => input.isPaused());
  assert.equal(answered.size, 0, 'nothing answered while the slow call holds the only slot');
  await eventually(() => answered.size === 400, { timeoutMs: 20_000 });
  input.end();
  await served;
});
