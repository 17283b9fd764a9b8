import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { GatehouseError } from './errors.ts';
import { toWire } from './wire.ts';

function captured() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino(
    { level: 'debug' },
    new Writable({
      write: (c, _e, cb) => {
        for (const l of String(c).trim().split('\n')) lines.push(JSON.parse(l));
        cb();
      },
    }),
  );
  return { log, lines };
}

test('an internal error: -32603 with nothing of it for the caller; for the operator one warn line, no stack, a few a minute', () => {
  const { log, lines } = captured();
  const err = new TypeError(
    `Lone surrogate is not allowed\n    at canonicalize (/opt/gatehouse/x.js:1:1)\n${'x'.repeat(2000)}`,
  );
  const w = toWire(err, 7, log);
  assert.deepEqual(
    [w.status, w.body],
    [500, { jsonrpc: '2.0', id: 7, error: { code: -32603, message: 'internal error' } }],
  );
  assert.equal(lines.length, 1);
  assert.deepEqual(
    [lines[0].level, lines[0].msg, lines[0].err],
    [40, 'internal error', 'Lone surrogate is not allowed'],
  );
  assert.doesNotMatch(JSON.stringify(lines[0]), /\bat |stack|\/opt\//);
  // A caller repeating it fills no log: at most ten lines a minute.
  for (let i = 0; i < 50; i++) toWire(new Error(`boom ${i}`), i, log);
  assert.equal(lines.length, 10);
  // The gateway's own refusals with a cause (its store away) go out as before, their cause one line.
  const store = new GatehouseError(
    'E_STORE_UNAVAILABLE',
    undefined,
    undefined,
    new Error('connect ECONNREFUSED\n  at x'),
  );
  const s = toWire(store, 8, log);
  assert.equal(s.body.error.code, store.rpc);
  const last = lines.at(-1)!;
  assert.deepEqual([last.level, last.err], [50, 'connect ECONNREFUSED']);
});
