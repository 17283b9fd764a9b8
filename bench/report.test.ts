/**
 * The benchmark's pure parts: finding a JSON-RPC response in JSON and SSE bodies, and the report's
 * ratios and tables. No timing here: the benchmark's numbers are never asserted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findResponse, resultText, sseData } from './wire.ts';
import { compare, medians, render, type Result, type Row } from './report.ts';

const echo = (id: number, text: string) => ({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text }] } });

test('a response is found in a JSON body, single or batched', () => {
  assert.equal(resultText(findResponse('application/json', JSON.stringify(echo(3, 'hi')), 3)), 'hi');
  assert.equal(
    resultText(findResponse('application/json; charset=utf-8', JSON.stringify([echo(1, 'a'), echo(2, 'b')]), 2)),
    'b',
  );
  assert.equal(findResponse('application/json', JSON.stringify(echo(3, 'hi')), 4), undefined);
});

test('a response is found among SSE events, after notifications, with CRLF and multi-line data', () => {
  const note = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: {} });
  const body = `: comment\r\nevent: message\r\ndata: ${note}\r\n\r\nid: 7\r\ndata: {"jsonrpc":"2.0","id":5,\r\ndata: "result":{"content":[{"type":"text","text":"ok"}]}}\r\n\r\n`;
  assert.deepEqual(sseData('data:x\n\ndata: y\ndata: z\n'), ['x', 'y\nz']);
  assert.equal(resultText(findResponse('text/event-stream', body, 5)), 'ok');
  assert.equal(findResponse('text/event-stream', `data: ${note}\n\n`, 5), undefined);
});

test('an unexpected content type or a tool error is not an echo', () => {
  assert.throws(() => findResponse('text/html', '<p>', 1), /unexpected content type `text\/html`/);
  assert.equal(
    resultText(findResponse('application/json', '{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"no"}}', 1)),
    undefined,
  );
});

test('ratios compare calls/s and p50 with the direct row of the same N', () => {
  const direct = { calls: 100, errors: 0, callsPerSec: 4000, p50ms: 1, p99ms: 5 };
  assert.deepEqual(compare({ ...direct, callsPerSec: 3000, p50ms: 1.5 }, direct), { ratio: 0.75, addedP50ms: 0.5 });
  assert.equal(compare({ ...direct, calls: 0 }, direct), undefined);
  assert.equal(compare(direct, undefined), undefined);
});

test('the report has a table per path and says when the gateway could not be started', () => {
  const base = {
    date: '2026-01-02',
    id: 'abc123',
    node: 'v24.0.0',
    cores: 2,
    cpuModel: 'cpu',
    warmupMs: 500,
    measureMs: 2000,
  };
  const rows: Result['rows'] = [
    { path: 'direct', n: 16, calls: 8000, errors: 0, callsPerSec: 4000, p50ms: 3, p99ms: 9 },
    {
      path: 'gatehouse-http',
      n: 16,
      calls: 6000,
      errors: 2,
      callsPerSec: 3000,
      p50ms: 4,
      p99ms: 12,
      cpuUsPerCall: 210,
      rssPeakMb: 120.5,
      firstError: 'HTTP 500 boom',
    },
    {
      path: 'gatehouse-stdio',
      n: 16,
      calls: 0,
      errors: 0,
      callsPerSec: 0,
      p50ms: 0,
      p99ms: 0,
      failure: 'load exited (1)',
    },
  ];
  const md = render({ facts: { ...base, gateway: { started: true, coldStartMs: 700, idleRssMb: 90 } }, rows });
  assert.match(
    md,
    /### direct: .*\n\n\| N \| calls\/s \| p50 ms \| p99 ms \| errors \|\n\|---:\|---:\|---:\|---:\|---:\|\n\| 16 \| 4,000 \| 3\.00 \| 9\.00 \| 0 \|/,
  );
  assert.match(md, /\| 16 \| 3,000 \| 4\.00 \| 12\.00 \| 0\.75x \| - \| 1\.00 \| 210 \| 120\.5 \| 2 \|/);
  assert.match(md, /First error: `HTTP 500 boom`/);
  assert.doesNotMatch(md, /warm-up round/);
  assert.match(md, /\| 16 \| not measured: load exited \(1\) \|/);
  const down = render({
    facts: { ...base, gateway: { started: false, error: '`gatehouse start` exited with 1' } },
    rows: rows.slice(0, 1),
  });
  assert.match(
    down,
    /\*\*Gateway as shipped: could not be started, so its rows were not measured\.\*\* Reason: `gatehouse start` exited with 1/,
  );
  assert.doesNotMatch(down, /Gatehouse as shipped ->/);
});

/** One measured point of a path (p50 follows calls/s). */
const point = (path: Row['path'], n: number, callsPerSec: number, cpu?: number): Row => ({
  path,
  n,
  calls: callsPerSec * 2,
  errors: 0,
  callsPerSec,
  p50ms: 1000 / callsPerSec,
  p99ms: 2,
  cpuUsPerCall: cpu,
});

/** A run's facts: the machine and timing fields, then what the test gives. */
const runFacts = (
  rest: Omit<Result['facts'], 'date' | 'id' | 'node' | 'cores' | 'cpuModel' | 'warmupMs' | 'measureMs'>,
) => ({
  date: '2026-01-02',
  id: 'x',
  node: 'v24',
  cores: 2,
  cpuModel: 'cpu',
  warmupMs: 1,
  measureMs: 1,
  ...rest,
});

test('repetitions become medians; gateway rows compare with direct and with the raw relay of the same N', () => {
  const rows = medians([
    point('direct', 16, 4000),
    point('direct', 16, 5000),
    point('direct', 16, 6000),
    point('relay', 16, 2000, 200),
    point('full-http', 16, 1000, 900),
    point('full-http', 16, 3000, 500),
    { ...point('full-http', 16, 0), failure: 'load exited (1)' },
  ]);
  const full = rows.find((r) => r.path === 'full-http');
  assert.equal(rows.find((r) => r.path === 'direct')?.callsPerSec, 5000);
  assert.equal(full?.callsPerSec, 2000);
  assert.equal(full?.cpuUsPerCall, 700);
  assert.equal(full?.reps, 2);
  const md = render({
    facts: runFacts({
      reps: 3,
      roundMs: 10_000,
      gateway: { started: true, coldStartMs: 300, idleRssMb: 60 },
      full: { started: true, coldStartMs: 350, idleRssMb: 65, idlePrivateMb: 22.25 },
      relay: { coldStartMs: 50, idleRssMb: 45 },
      helpMs: 90,
      bare: { coldStartMs: 310, idleRssMb: 80 },
      withStdio: { coldStartMs: 420, idleRssMb: 81.5 },
      withHttp: { coldStartMs: 330, idleRssMb: 95, idlePrivateMb: 30 },
    }),
    rows: [
      point('direct', 16, 5000),
      point('relay', 16, 2000, 200),
      point('full-http', 16, 1000, 900),
      point('full-http', 16, 3000, 500),
    ],
  });
  // Full control plane: 0.40x direct, 1.00x the relay, 700 µs CPU per call.
  assert.match(md, /\| 16 \| 2,000 \| 0\.67 \| 2\.00 \| 0\.40x \| 1\.00x \| 0\.47 \| 700 \| - \| 0 \|/);
  assert.match(
    md,
    /\| Gatehouse whole control plane, HTTP \| 2,000 \(0\.40x\) \| 700 \| - \| 350 ms \| 65\.0 MB \(22\.3 private\) \|/,
  );
  assert.match(md, /\| raw node:http relay \| 2,000 \(0\.40x\) \| 200 \| - \| 50 ms \| 45\.0 MB \|/);
  assert.match(md, /Every path measured 3 times, interleaved with the others; each figure is the median/);
  assert.match(md, /after a warm-up round in which every path ran 10000 ms at the largest N, unrecorded/);
  assert.match(md, /`gatehouse --help` \(dist\/\): 90 ms/);
  assert.match(md, /Gateway alone \(no servers, .*\): cold start to `\/readyz` 200 in 310 ms, idle RSS 80\.0 MB\./);
  assert.match(md, /Gateway with only the stdio echo server \(one tool; .*\): cold start in 420 ms, idle RSS 81\.5 MB/);
  assert.match(
    md,
    /Gateway with only the HTTP echo server \(200 tools, .*\): cold start in 330 ms, idle RSS 95\.0 MB \(30\.0 private\)\./,
  );
});

test('--against: the other build has its rows, and this build over it per repetition, skipping failed points', () => {
  const rows: Row[] = [
    point('direct', 16, 4000, 0),
    point('full-stdio', 16, 3000, 300),
    point('against-stdio', 16, 2500, 400),
    point('full-stdio', 16, 2000, 500),
    point('against-stdio', 16, 2000, 400),
    point('full-stdio', 16, 2600, 300),
    { ...point('against-stdio', 16, 1, 0), failure: 'load exited (1)' },
  ];
  const started = { started: true as const, coldStartMs: 1, idleRssMb: 1 };
  const md = render({
    facts: runFacts({ reps: 3, gateway: started, full: started, against: started, againstCommit: 'abc1234' }),
    rows,
  });
  assert.match(md, /The other build \(`--against`, commit abc1234\), whole control plane: idle RSS/);
  assert.match(md, /\| Other build \(abc1234\), whole control plane, stdio \| 2,250 \(0\.56x\) \| 400 \|/);
  assert.match(md, /### The other build \(`--against`\), whole control plane -> echo upstream over stdio/);
  // 3000/2500 and 2000/2000; the third repetition's other point failed and pairs with nothing.
  assert.match(md, /- stdio, N=16: calls\/s 1\.20, 1\.00 \(median 1\.10\); CPU per call 0\.75, 1\.25 \(median 1\.00\)/);
  assert.doesNotMatch(md, /- HTTP, N=16/, 'no HTTP pairs were measured');
  const without = render({
    facts: runFacts({ gateway: started }),
    rows: rows.filter((r) => !r.path.startsWith('against')),
  });
  assert.doesNotMatch(without, /other build|Other build|per repetition/);
});
