/**
 * Text bodies against the budget of bytes held from upstreams: taken chunk by chunk, given back when
 * the body ends, is refused, or its exchange fails (abort, connection closed) before it ended.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { ByteBudget } from '../byte-budget.ts';
import { exchange, NOT_UTF8, OVER_BUDGET, TOO_LARGE, textReader } from './exchange.ts';
import { OriginPool } from './pool.ts';
import { eventually } from '../../../test/support/eventually.ts';

const LIMIT = { timeout: 10_000 };
const b = (s: string) => Buffer.from(s);

test('a body is held against the budget while it arrives and given back when it ends', () => {
  const budget = new ByteBudget(100);
  const seen: unknown[] = [];
  const r = textReader(undefined, (t) => seen.push(t), 50, budget);
  r.data(b('{"a":'));
  r.data(b('1}'));
  assert.equal(budget.held, 7);
  assert.equal(r.full, false);
  r.end();
  assert.deepEqual(seen, ['{"a":1}']);
  assert.equal(budget.held, 0);
});

test('a chunk that does not fit refuses the body (OVER_BUDGET) and gives back what it held', () => {
  const budget = new ByteBudget(10);
  assert.ok(budget.take(4));
  const seen: unknown[] = [];
  const r = textReader(undefined, (t) => seen.push(t), 50, budget);
  r.data(b('abcd'));
  assert.equal(budget.held, 8);
  r.data(b('efg'));
  assert.equal(r.full, true, 'nothing more is read');
  assert.equal(budget.held, 4, "only the other reader's bytes");
  r.end();
  assert.deepEqual(seen, [OVER_BUDGET]);
  assert.equal(budget.held, 4);
});

test('a declared length that does not fit is refused before a byte is read; one over the bound is TOO_LARGE', () => {
  const budget = new ByteBudget(10);
  const seen: unknown[] = [];
  const over = textReader('11', (t) => seen.push(t), 50, budget);
  assert.equal(over.full, true);
  over.end();
  const large = textReader('51', (t) => seen.push(t), 50, budget);
  assert.equal(large.full, true);
  large.end();
  const small = textReader(undefined, (t) => seen.push(t), 3, budget);
  small.data(b('abcd'));
  assert.equal(small.full, true);
  small.end();
  const bad = textReader(undefined, (t) => seen.push(t), 50, budget);
  bad.data(Buffer.from([0xff]));
  bad.end();
  assert.deepEqual(seen, [OVER_BUDGET, TOO_LARGE, TOO_LARGE, NOT_UTF8]);
  assert.equal(budget.held, 0);
});

test('an exchange aborted or cut off while its body arrives gives back what its reader held', LIMIT, async () => {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.once('data', (d) => {
      // Half of a declared body, then nothing: the exchange waits until it is aborted or the server closes.
      s.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n');
      s.write('x'.repeat(400));
      if (String(d).includes('/close')) s.end(); // the body's first bytes, then the connection closes
    });
  });
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  const { port } = srv.address() as net.AddressInfo;
  const pool = new OriginPool(`http://127.0.0.1:${port}`, { connections: 4, keepAliveMs: 5000 });
  const budget = new ByteBudget(10_000);
  try {
    const ac = new AbortController();
    let got: unknown;
    const aborted = exchange(pool, { method: 'GET', path: '/abort', headers: {} }, ac.signal, (_s, h) =>
      textReader(h['content-length'], (t) => (got = t), 5000, budget),
    );
    await eventually(() => budget.held >= 400); // the body's first bytes are in
    ac.abort(new Error('stop'));
    await assert.rejects(aborted, /stop/);
    assert.equal(budget.held, 0, 'aborted: given back');

    const cut = exchange(pool, { method: 'GET', path: '/close', headers: {} }, undefined, (_s, h) =>
      textReader(h['content-length'], (t) => (got = t), 5000, budget),
    );
    await assert.rejects(cut);
    assert.equal(budget.held, 0, 'connection closed: given back');
    assert.equal(got, undefined, 'no body was handed on');
  } finally {
    await pool.destroy();
    for (const s of sockets) s.destroy();
    srv.close();
  }
});
