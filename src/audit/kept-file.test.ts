import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writerFileName } from '../util/writer-file.ts';
import { KeptOutcomeFiles } from './kept-file.ts';
import { keptLine, type KeptRecord } from './kept-record.ts';

const record = (n: number): KeptRecord => ({
  kind: 'call.outcome',
  id: `01890a5d-ac96-774b-bcce-b302099a80${10 + n}`,
  intent: `01890a5d-ac96-774b-bcce-b302099a81${10 + n}`,
  outcome: 'ok',
});

/** A file name of this host's whose writer is not running (a PID no process has). */
function deadName(): string {
  return writerFileName().replace(/\.\d+\.(\d+)\.([0-9a-f]+\.jsonl)$/, '.4194303.$1.$2');
}

function stateDir(t: { after(f: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-kept-file-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("this process's outcomes go to a file of its own (0600 in a 0700 directory), gone once nothing waits", (t) => {
  const dir = stateDir(t);
  const files = new KeptOutcomeFiles(dir);
  files.keep(keptLine('s', record(1)));
  files.keep(keptLine('s', record(2)));
  const own = files.ownFile ?? '';
  assert.equal(statSync(own).mode & 0o777, 0o600);
  assert.equal(statSync(files.dir).mode & 0o777, 0o700);
  assert.deepEqual(files.take(), [], 'its own file is no stopped writer’s');
  files.clearOwn();
  assert.deepEqual(readdirSync(files.dir), []);
});

test('a kept-outcomes directory that is a link, or writable by others, is refused', (t) => {
  const dir = stateDir(t);
  mkdirSync(join(dir, 'elsewhere'));
  symlinkSync(join(dir, 'elsewhere'), join(dir, 'audit-kept'));
  assert.throws(() => new KeptOutcomeFiles(dir).keep(keptLine('s', record(1))), /not a directory/);
  assert.deepEqual(readdirSync(join(dir, 'elsewhere')), []);
  const open = stateDir(t);
  mkdirSync(join(open, 'audit-kept'));
  chmodSync(join(open, 'audit-kept'), 0o777);
  assert.throws(() => new KeptOutcomeFiles(open).keep(keptLine('s', record(1))), /writable by group or others/);
});

test("a stopped writer's file is taken over and read; a link, a file others can write, a bad line are refused whole", (t) => {
  const dir = stateDir(t);
  const kept = join(dir, 'audit-kept');
  mkdirSync(kept, { mode: 0o700 });
  const good = deadName();
  // The last line cut short (the writer stopped during its write): dropped, reported.
  writeFileSync(join(kept, good), `${keptLine('s', record(1))}\n${keptLine('s', record(2))}\n{"sum":"ab`, {
    mode: 0o600,
  });
  const link = deadName();
  writeFileSync(join(dir, 'target'), `${keptLine('s', record(3))}\n`, { mode: 0o600 });
  symlinkSync(join(dir, 'target'), join(kept, link));
  const shared = deadName();
  writeFileSync(join(kept, shared), `${keptLine('s', record(4))}\n`, { mode: 0o600 });
  chmodSync(join(kept, shared), 0o622);
  const bad = deadName();
  writeFileSync(join(kept, bad), `${keptLine('s', record(5))}\n${keptLine('s', record(5))}\n`, { mode: 0o600 });
  const files = new KeptOutcomeFiles(dir);
  const taken = new Map(files.take().map((f) => [f.name, f]));
  assert.deepEqual(
    taken.get(good)?.lines.map((l) => l.record.id),
    [record(1).id, record(2).id],
  );
  assert.equal(taken.get(good)?.torn, 10);
  assert.deepEqual(taken.get(link)?.refused, { line: 0, reason: 'a symbolic link' });
  assert.match(taken.get(shared)?.refused?.reason ?? '', /writable by group or others/);
  assert.deepEqual(taken.get(bad)?.refused, { line: 2, reason: 'its intent is named twice' });
  // Taken under this process's name: a second reader finds nothing; a second take returns the same.
  assert.deepEqual(new KeptOutcomeFiles(dir).take(), []);
  assert.equal(files.take().length, 4);
  for (const name of [link, shared, bad]) files.refuse(taken.get(name)!);
  files.settle(taken.get(good)!);
  assert.deepEqual(readdirSync(kept).sort(), [`${bad}.refused`, `${link}.refused`, `${shared}.refused`].sort());
  assert.deepEqual(files.take(), []);
});
