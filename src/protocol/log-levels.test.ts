import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatehouseError } from './errors.ts';
import { admitsLevel, logLevelOf } from './log-levels.ts';

test('a log level is one of the eight MCP names it; anything else is invalid params naming them', () => {
  assert.equal(logLevelOf('warning', 'level'), 'warning');
  for (const bad of ['verbose', 'DEBUG', '', 3, null, undefined, ['debug']]) {
    const err = (() => {
      try {
        logLevelOf(bad, 'level');
      } catch (e) {
        return e;
      }
    })();
    assert.ok(err instanceof GatehouseError, String(bad));
    assert.equal(err.rpc, -32602);
    assert.match(
      err.message,
      /^invalid params: `level` .*\(one of debug, info, notice, warning, error, critical, alert, emergency\)$/,
    );
  }
  assert.match(
    String(
      (() => {
        try {
          logLevelOf(undefined, 'level');
        } catch (e) {
          return (e as Error).message;
        }
      })(),
    ),
    /`level` is required/,
  );
});

test('a message passes a minimum at or below its level', () => {
  assert.equal(admitsLevel('error', 'critical'), true);
  assert.equal(admitsLevel('error', 'warning'), false);
  assert.equal(admitsLevel('debug', 'nonsense'), false);
});
