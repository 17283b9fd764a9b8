import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSink, fileKey } from './file.ts';
import { MemorySource } from '../../../test/fixtures/sinks/memory.ts';

async function tmp(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gh-filesink-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const lines = async (path: string) =>
  (await readFile(path, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

test('file sink: appends JSON Lines, one file for all streams, mode 0600', async (t) => {
  const dir = await tmp(t);
  const src = new MemorySource();
  const sink = new FileSink({ dir });
  await sink.send([src.append('a'), src.append('b')]);
  await sink.send([src.append('a', { tool: 'x\ny' })]);
  const path = join(dir, 'audit-all.jsonl');
  assert.deepEqual(
    await lines(path),
    src.rows.map((r) => r.event),
  );
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  assert.equal((await readFile(path, 'utf8')).split('\n').length, 4, 'a newline in a value does not split a record');
});

test('file sink: per-stream files; an existing looser file is forced back to 0600', async (t) => {
  const dir = await tmp(t);
  await writeFile(join(dir, 'audit-gw-1.jsonl'), '');
  await chmod(join(dir, 'audit-gw-1.jsonl'), 0o644);
  const src = new MemorySource();
  const sink = new FileSink({ dir, perStream: true });
  await sink.send([src.append('gw-1'), src.append('../etc/passwd'), src.append('gw-1')]);
  const files = (await readdir(dir)).sort();
  assert.deepEqual(files, [`audit-${fileKey('../etc/passwd')}.jsonl`, 'audit-gw-1.jsonl']);
  assert.match(fileKey('../etc/passwd'), /^[A-Za-z0-9_-]+$/, 'no path traversal, no dots');
  assert.notEqual(fileKey('a/b'), fileKey('a_b'), 'sanitised names do not collide');
  assert.equal((await lines(join(dir, 'audit-gw-1.jsonl'))).length, 2);
  assert.equal((await stat(join(dir, 'audit-gw-1.jsonl'))).mode & 0o777, 0o600);
});

test('file sink: rotates by size, keeps maxFiles, never splits a record, rotated files 0600', async (t) => {
  const dir = await tmp(t);
  const src = new MemorySource();
  let clock = Date.parse('2026-03-01T00:00:00Z');
  const sink = new FileSink({
    dir,
    maxBytes: 600,
    maxFiles: 2,
    now: () => {
      clock += 1000;
      return new Date(clock);
    },
  });
  for (let i = 0; i < 12; i++) await sink.send([src.append('gw')]); // ~250 bytes each: 2 per file
  const files = (await readdir(dir)).sort();
  assert.equal(files.length, 3, `live + 2 rotated: ${files}`);
  assert.ok(files.includes('audit-all.jsonl'));
  const rotated = files.filter((f) => f !== 'audit-all.jsonl');
  for (const f of rotated) assert.match(f, /^audit-all\.\d{8}T\d{9}Z(-\d+)?\.jsonl$/);
  // The newest records survive, in order, across the rotated files then the live one.
  const kept = [
    ...(await lines(join(dir, rotated[0]))),
    ...(await lines(join(dir, rotated[1]))),
    ...(await lines(join(dir, 'audit-all.jsonl'))),
  ];
  assert.deepEqual(
    kept.map((e) => e.seq),
    [7, 8, 9, 10, 11, 12],
  );
  for (const f of files) {
    assert.equal((await stat(join(dir, f))).mode & 0o777, 0o600, f);
    assert.ok((await stat(join(dir, f))).size <= 600, `${f} within maxBytes`);
  }
});

test('file sink: daily rotation when the UTC day changes', async (t) => {
  const dir = await tmp(t);
  const src = new MemorySource();
  let now = new Date();
  const sink = new FileSink({ dir, daily: true, now: () => now });
  await sink.send([src.append('gw')]);
  await sink.send([src.append('gw')]);
  assert.equal((await readdir(dir)).length, 1, 'same day: same file');
  now = new Date(Date.now() + 86_400_000);
  await sink.send([src.append('gw')]);
  const files = (await readdir(dir)).sort();
  assert.equal(files.length, 2);
  assert.deepEqual(
    (await lines(join(dir, 'audit-all.jsonl'))).map((e) => e.seq),
    [3],
  );
});

test('file sink: an unwritable directory is a retryable SinkError', async (t) => {
  const dir = await tmp(t);
  await writeFile(join(dir, 'file'), '');
  const sink = new FileSink({ dir: join(dir, 'file', 'sub') });
  await assert.rejects(
    sink.send([new MemorySource().append('gw')]),
    (e: Error & { retryable?: boolean }) => e.name === 'SinkError' && e.retryable === true,
  );
});
