import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { logTo } from '../../test/support/logs.ts';
import { eventually } from '../../test/support/eventually.ts';
import { droppedLineId, StdioChannel } from './stdio.ts';
import { LogBudget } from '../util/log-budget.ts';
import { Peer } from './peer.ts';
import { ByteBudget } from '../util/byte-budget.ts';
import type { GatehouseError } from '../protocol/errors.ts';

test('stderr lines: at most `burst` per window; the first line after says how many were left out', () => {
  const r = new LogBudget(2, 1000);
  const seen: Array<[number, number]> = [];
  for (const [t, n] of [
    [0, 1],
    [10, 2],
    [20, 3],
    [30, 4],
    [1000, 5],
    [1001, 6],
    [1002, 7],
  ])
    r.line(t, (s) => seen.push([n, s]));
  assert.deepEqual(seen, [
    [1, 0],
    [2, 0],
    [5, 2],
    [6, 0],
  ]);
});

test('a server that dies: its last stderr lines, and no log line names it twice', async () => {
  const lines: string[] = [];
  const log = logTo('info', (c) => lines.push(...c.trim().split('\n')), { base: undefined });
  const script = 'for (let i = 1; i <= 12; i++) console.error("line " + i); process.exit(3)';
  const ch = new StdioChannel('dies', { command: process.execPath, args: ['-e', script], env: {} }, log);
  const closed = new Promise<Error | undefined>((res) => ch.setReceiver({ message: () => {}, closed: res }));
  assert.match((await closed)?.message ?? '', /process exited \(3\)/);
  assert.equal(await ch.stderrTail(), 'line 5 | line 6 | line 7 | line 8 | line 9 | line 10 | line 11 | line 12');
  await ch.close();
  assert.ok(lines.some((l) => JSON.parse(l).msg === 'upstream stderr' && JSON.parse(l).level === 30));
  for (const l of lines) assert.ok((l.match(/"upstream":/g) ?? []).length <= 1, l);
});

/** A server that answers `big` with one line of `bytes` (its id written last, as the TypeScript SDK does, or first). */
const BIG_SERVER = `
const rl = require('node:readline').createInterface({ input: process.stdin });
rl.on('line', (l) => {
  const m = JSON.parse(l);
  const big = (n) => 'a'.repeat(n);
  if (m.method === 'big') process.stdout.write('{"result":{"x":"' + big(m.params.bytes) + '"},"jsonrpc":"2.0","id":' + m.id + '}\\n');
  else if (m.method === 'big-first') process.stdout.write('{"jsonrpc":"2.0","id":' + m.id + ',"result":{"x":"' + big(m.params.bytes) + '"}}\\n');
  else process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: { ok: true } }) + '\\n');
});`;

test('a line over maxLineBytes or over the budget fails its own request at once; the budget returns to zero', async () => {
  const budget = new ByteBudget(200_000);
  const ch = new StdioChannel(
    'big',
    { command: process.execPath, args: ['-e', BIG_SERVER], env: {}, maxLineBytes: 100_000, budget },
    pino({ level: 'silent' }),
  );
  const peer = new Peer(ch, pino({ level: 'silent' }));
  const opts = { timeoutMs: 20_000, maxTotalMs: 20_000 };
  try {
    await assert.rejects(peer.request('big', { bytes: 150_000 }, opts), (e: GatehouseError) => {
      assert.equal(e.code, 'E_UPSTREAM_TOO_LARGE');
      assert.match(e.message, /larger than 100000 bytes/);
      return true;
    });
    assert.equal(budget.held, 0);
    assert.deepEqual(await peer.request('small', {}, opts), { ok: true }, 'the next line is read as before');
    // Under the line bound, but the budget is mostly held by others: refused as the gateway's condition.
    assert.ok(budget.take(150_000));
    await assert.rejects(peer.request('big-first', { bytes: 90_000 }, opts), (e: GatehouseError) => {
      assert.equal(e.code, 'E_OVERLOADED');
      return true;
    });
    budget.give(150_000);
    assert.equal(budget.held, 0);
    assert.deepEqual(await peer.request('small', {}, opts), { ok: true });
  } finally {
    await peer.close();
  }
  assert.equal(budget.held, 0);
});

test('the id of a dropped line, where SDKs write it: first (after jsonrpc) or last, never a nested one', () => {
  const b = (s: string) => Buffer.from(s);
  assert.equal(droppedLineId(b('{"jsonrpc":"2.0","id":7,"result":{"x":"aaa'), b('aaa"}}')), 7);
  assert.equal(droppedLineId(b('{"id": 12, "result"'), b('"}}')), 12);
  assert.equal(droppedLineId(b('{"result":{"x":"aaa'), b('aaa"},"jsonrpc":"2.0","id":3}\r')), 3);
  assert.equal(droppedLineId(b('{"result":{"x":"aaa'), b('aaa","id":3}}')), undefined, 'a nested id');
  assert.equal(droppedLineId(b('{"method":"notifications/message","params":'), b('"}}')), undefined);
  assert.equal(droppedLineId(b('{"jsonrpc":"2.0","id":"s1","result"'), b('"}}')), undefined, 'not one of ours');
});

/** A server that, asked `junk` with {n, bad}, writes n lines that are not JSON and `bad` that are not UTF-8, then answers. */
const JUNK_SERVER = `
const rl = require('node:readline').createInterface({ input: process.stdin });
rl.on('line', (l) => {
  const m = JSON.parse(l);
  let out = '';
  for (let i = 0; i < m.params.n; i++) out += 'not json ' + i + '\\n';
  process.stdout.write(out);
  for (let i = 0; i < m.params.bad; i++) process.stdout.write(Buffer.concat([Buffer.from('{"jsonrpc":"2.0","method":"x","params":{"s":"'), Buffer.from([0xff]), Buffer.from('"}}\\n')]));
  process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: { ok: true } }) + '\\n');
});`;

test('a server writing junk lines: a bounded number of warnings, then one with the count left out; its answers still arrive', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 }); // the budget's clock; the child and its pipes run for real
  const lines: Array<{ msg: string; suppressed?: number; upstream?: string }> = [];
  const log = logTo(
    'info',
    (c) =>
      lines.push(
        ...c
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l)),
      ),
    { base: undefined },
  );
  const ch = new StdioChannel('junk', { command: process.execPath, args: ['-e', JUNK_SERVER], env: {} }, log);
  const answers: unknown[] = [];
  ch.setReceiver({ message: (m) => answers.push(m), closed: () => {} });
  const ask = async (id: number, n: number, bad: number) => {
    await ch.send({ jsonrpc: '2.0', id, method: 'junk', params: { n, bad } });
    await eventually(() => answers.length === id);
  };
  const dropped = () =>
    lines.filter((l) => /^(dropped non-json|refused upstream output that is not UTF-8)/.test(l.msg));
  try {
    await ask(1, 2000, 50);
    const burst = new LogBudget().burst;
    assert.equal(dropped().length, burst, `at most ${burst} lines for 2050 dropped`);
    assert.ok(dropped().every((l) => l.upstream === 'stdio:junk' && l.suppressed === undefined));
    t.mock.timers.tick(new LogBudget().windowMs); // a window later, the next dropped line says the rest
    await ask(2, 1, 0);
    assert.equal(dropped().length, burst + 1);
    assert.equal(dropped().at(-1)?.suppressed, 2050 - burst);
    assert.deepEqual(answers.at(-1), { jsonrpc: '2.0', id: 2, result: { ok: true } });
  } finally {
    await ch.close();
  }
});
