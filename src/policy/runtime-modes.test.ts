import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RuntimeModes } from './runtime-modes.ts';
import type { ModeRecord, ModeStore } from '../storage/types.ts';
import { capturedLog } from '../../test/support/logs.ts';

/** A mode store whose records and revision the test sets. */
function fakeStore(): ModeStore & { records: ModeRecord[]; rev: string } {
  return {
    records: [],
    rev: '',
    async list() {
      return [...this.records];
    },
    async set() {},
    async clear() {
      return false;
    },
    async revision() {
      return this.rev;
    },
  };
}

const mode: ModeRecord = { scope: 'tool:files__write_file', mode: 'disabled', reason: 'r', setBy: 'op', setAt: 1 };

test('an empty list of run-time modes is never a warning; modes in force are, and clearing the last one is said once', async () => {
  const store = fakeStore();
  const { log, lines } = capturedLog('info');
  const modes = new RuntimeModes(store, log, () => {});
  store.rev = '3'; // a store whose modes were set and cleared before this gateway started
  await modes.sync();
  store.rev = '4'; // set and cleared again between two polls
  await modes.sync();
  assert.equal(lines.length, 0);
  store.records = [mode];
  store.rev = '5';
  await modes.sync();
  store.records = [];
  store.rev = '6';
  await modes.sync();
  assert.deepEqual(
    lines.map((l) => [l.level, l.msg, l.modes]),
    [
      [40, 'run-time modes applied', ['tool:files__write_file=disabled']],
      [30, "run-time modes cleared: the policy files' modes apply", undefined],
    ],
  );
});

test('cleared: the modes the last change removed, not those replaced or still in force', async () => {
  const store = fakeStore();
  const { log } = capturedLog('info');
  const modes = new RuntimeModes(store, log, () => {});
  const other: ModeRecord = { ...mode, scope: 'gateway', mode: 'shadow', setAt: 2 };
  store.records = [mode, other];
  store.rev = '1';
  await modes.sync();
  assert.equal(modes.cleared.length, 0);
  store.records = [{ ...other, mode: 'read_only', setAt: 3 }];
  store.rev = '2';
  await modes.sync();
  assert.deepEqual([...modes.cleared], [mode], 'the tool mode went; the gateway mode was replaced, not cleared');
  store.records = [];
  store.rev = '3';
  await modes.sync();
  assert.deepEqual(
    modes.cleared.map((r) => [r.scope, r.setAt]),
    [['gateway', 3]],
  );
});
