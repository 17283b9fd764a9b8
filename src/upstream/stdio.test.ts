import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { StdioChannel } from './stdio.ts';
import { LogBudget } from './log-budget.ts';

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
  const log = pino(
    { level: 'info', base: undefined },
    new Writable({
      write: (c, _e, cb) => {
        lines.push(...String(c).trim().split('\n'));
        cb();
      },
    }),
  );
  const script = 'for (let i = 1; i <= 12; i++) console.error("line " + i); process.exit(3)';
  const ch = new StdioChannel('dies', { command: process.execPath, args: ['-e', script], env: {} }, log);
  const closed = new Promise<Error | undefined>((res) => ch.setReceiver({ message: () => {}, closed: res }));
  assert.match((await closed)?.message ?? '', /process exited \(3\)/);
  assert.equal(await ch.stderrTail(), 'line 5 | line 6 | line 7 | line 8 | line 9 | line 10 | line 11 | line 12');
  await ch.close();
  assert.ok(lines.some((l) => JSON.parse(l).msg === 'upstream stderr' && JSON.parse(l).level === 30));
  for (const l of lines) assert.ok((l.match(/"upstream":/g) ?? []).length <= 1, l);
});
