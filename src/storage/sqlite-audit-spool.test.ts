/**
 * The embedded store's audit spool (ADR 0015): replay of stopped writers' files (torn last line,
 * a line that does not chain, twice), a live writer's file left alone, the bound, and when ingestion runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { GENESIS, seal, type AuditEvent } from '../model/audit-event.ts';
import { openStore } from './index.ts';
import { AuditSpool, MAX_RECORDS, spoolDir } from './sqlite-audit-spool.ts';
import { writerAlive } from '../util/writer-file.ts';
import { SqliteAuditWriter } from './sqlite-audit-writer.ts';
import { auditRow } from './audit-repo.ts';

const HOST = hostname()
  .replace(/[^A-Za-z0-9-]/g, '_')
  .slice(0, 60);

function chain(stream: string, n: number, from = 1, prev = GENESIS): AuditEvent[] {
  const out: AuditEvent[] = [];
  for (let seq = from; seq < from + n; seq++) {
    const e = seal({
      v: 1,
      id: `${stream}-${seq}`,
      time: new Date(1_800_000_000_000 + seq).toISOString(),
      stream,
      seq,
      prev,
      kind: 'config.reloaded',
      detail: { seq },
    });
    out.push(e);
    prev = e.hash;
  }
  return out;
}

const line = (e: AuditEvent) => `${JSON.stringify(e)}\n`;

/** A PID no process has now (a child that ran and exited). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid;
}

function fresh(): { dir: string; db: string } {
  const dir = mkdtempSync(join(tmpdir(), 'gh-spool-'));
  return { dir, db: join(dir, 'state.db') };
}

function deadSpool(db: string, text: string): string {
  mkdirSync(spoolDir(db), { recursive: true });
  const path = join(
    spoolDir(db),
    `${HOST}.${deadPid()}.1.${Math.random().toString(16).slice(2, 10).padEnd(8, '0')}.jsonl`,
  );
  writeFileSync(path, text);
  return path;
}

/** Worker threads of this process (the audit writer's is one), as Linux names them. */
function writerThreads(): number {
  return readdirSync('/proc/self/task').filter((t) => {
    try {
      return readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === 'WorkerThread';
    } catch {
      return false; // a thread that ended meanwhile
    }
  }).length;
}

const open = (db: string) => openStore({ driver: 'sqlite', sqlitePath: db, postgresUrl: '' });

async function seqs(db: string, stream: string): Promise<number[]> {
  const store = await open(db);
  try {
    return (await store.audit.read({ stream })).map((r) => r.event.seq);
  } finally {
    await store.close();
  }
}

test("a stopped writer's spool is stored when the store opens; a torn last line is dropped and reported; twice stores nothing more", async () => {
  const { dir, db } = fresh();
  try {
    const events = chain('s-torn', 4);
    const torn = line(events[3]).slice(0, 40); // the writer died during this write
    const path = deadSpool(db, events.slice(0, 3).map(line).join('') + torn);
    const store = await open(db);
    try {
      assert.deepEqual(
        (await store.audit.read({ stream: 's-torn' })).map((r) => r.event.seq),
        [1, 2, 3],
      );
      const [report] = store.audit.spool?.().replayed ?? [];
      assert.equal(report.stored, 3);
      assert.deepEqual(report.torn, { offset: Buffer.byteLength(events.slice(0, 3).map(line).join('')), bytes: 40 });
      assert.equal(report.stopped, undefined);
      assert.equal(existsSync(path), false, 'a replayed file is removed');
    } finally {
      await store.close();
    }
    // The same records again (a copy left behind): nothing is stored twice.
    deadSpool(db, events.slice(0, 3).map(line).join(''));
    assert.deepEqual(await seqs(db, 's-torn'), [1, 2, 3]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a line that does not parse or chain stops the replay there: what came before is stored, the file is kept and reported', async () => {
  const { dir, db } = fresh();
  try {
    const events = chain('s-bad', 4);
    const edited = { ...events[2], detail: { seq: 99 } }; // its hash no longer matches
    const cases: Array<[string, string, RegExp]> = [
      ['garbage', `${line(events[0])}{not json\n${line(events[1])}`, /not JSON/],
      ['edited', `${line(events[0])}${line(events[1])}${line(edited)}${line(events[3])}`, /hash does not match/],
      ['gap', `${line(events[0])}${line(events[2])}`, /does not follow record 1/],
    ];
    for (const [name, text, reason] of cases) {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      const path = deadSpool(db, text);
      const store = await open(db);
      try {
        const [report] = store.audit.spool?.().replayed ?? [];
        assert.match(report.stopped?.reason ?? '', reason, name);
        assert.equal(existsSync(path), true, `${name}: the file is kept for the operator`);
        assert.deepEqual(
          (await store.audit.read({ stream: 's-bad' })).map((r) => r.event.seq),
          name === 'edited' ? [1, 2] : [1],
          name,
        );
      } finally {
        await store.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a running writer's spool is never replayed: another store on the file, a live process; a reused PID is not the writer", async () => {
  const { dir, db } = fresh();
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
  try {
    const first = await open(db);
    const events = chain('s-live', 2);
    await first.audit.appendBatch(events, 'process-crash');
    const second = await open(db); // the CLI, while the gateway runs
    assert.equal(first.audit.spool?.().pending, 2, 'the live writer still holds its records');
    assert.equal(readdirSync(spoolDir(db)).length, 1, "the live writer's file is left alone");
    assert.deepEqual(await second.audit.read({ stream: 's-live' }), [], 'and not replayed');
    await second.close();
    await first.close();
    assert.deepEqual(await seqs(db, 's-live'), [1, 2], 'stored by their own writer when it closed');

    await new Promise((r) => setTimeout(r, 100));
    const start = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ')[19];
    const mtime = Date.now();
    assert.equal(writerAlive(`${HOST}.${child.pid}.${start}.ab12cd34.jsonl`, mtime), true, 'a live process');
    assert.equal(writerAlive(`${HOST}.${child.pid}.${Number(start) + 1}.ab12cd34.jsonl`, mtime), false, 'a reused PID');
    assert.equal(writerAlive(`${HOST}.${deadPid()}.${start}.ab12cd34.jsonl`, mtime), false, 'a dead PID');
    assert.equal(writerAlive('other-host.1.1.ab12cd34.jsonl', mtime), true, "another host's file touched recently");
    assert.equal(writerAlive('other-host.1.1.ab12cd34.jsonl', mtime - 31_000), false, "another host's stale file");
    assert.equal(writerAlive('notes.jsonl', 0), true, 'a file not in the spool form is never touched');
  } finally {
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bounded: while the database cannot be written, appends are refused past the bound, and nothing acknowledged is lost', async () => {
  const { dir, db } = fresh();
  const store = await open(db);
  const other = new Sqlite(db);
  try {
    other.exec('begin immediate'); // the store cannot commit: ingestion waits in the writer thread
    const events = chain('s-bound', MAX_RECORDS + 1);
    for (let i = 0; i < MAX_RECORDS; i += 500) await store.audit.appendBatch(events.slice(i, i + 500), 'process-crash');
    await assert.rejects(store.audit.appendBatch(events.slice(MAX_RECORDS), 'process-crash'), /behind: 10000 records/);
    other.exec('commit');
    assert.equal((await store.audit.read({ stream: 's-bound', limit: MAX_RECORDS + 10 })).length, MAX_RECORDS);
  } finally {
    other.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a spooled record that differs from the stored one under the same stream and seq stops the replay; a file others could write is never replayed', async () => {
  const { dir, db } = fresh();
  try {
    const store = await open(db);
    await store.audit.appendBatch(chain('s-clash', 2), 'power-loss');
    await store.close();
    const other = chain('s-clash', 3).map((e) => ({ ...e }));
    const forged = seal({ ...other[0], hash: undefined, detail: { forged: true } } as never);
    const clash = deadSpool(db, line(forged));
    const planted = deadSpool(db, chain('s-planted', 1).map(line).join(''));
    chmodSync(planted, 0o666);
    const again = await open(db);
    try {
      const reports = again.audit.spool?.().replayed ?? [];
      const byFile = new Map(reports.map((r) => [r.file, r]));
      assert.match(byFile.get(basename(clash))?.stopped?.reason ?? '', /differs from the stored record 1/);
      assert.match(byFile.get(basename(planted))?.stopped?.reason ?? '', /writable by others/);
      assert.deepEqual(
        (await again.audit.read({ stream: 's-clash' })).map((r) => r.event.detail),
        [{ seq: 1 }, { seq: 2 }],
      );
      assert.deepEqual(await again.audit.read({ stream: 's-planted' }), []);
      assert.ok(existsSync(clash) && existsSync(planted), 'both kept for the operator');
    } finally {
      await again.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a writer's own record under a (stream, seq) the store holds is refused loudly, never skipped", async () => {
  const { dir, db } = fresh();
  const store = await open(db);
  try {
    await store.audit.appendBatch(chain('s-twice', 1), 'power-loss');
    const twin = seal({ ...chain('s-twice', 1)[0], hash: undefined, detail: { other: true } } as never);
    await store.audit.appendBatch([twin], 'process-crash'); // acknowledged from the spool
    await store.audit.count(); // storing it fails
    assert.match(store.audit.spool?.().lastError ?? '', /UNIQUE constraint failed/);
    await assert.rejects(store.audit.appendBatch(chain('s-next', 1), 'process-crash'), /cannot take records/);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('spooled batches small and large (the event loop stores a burst, the writer thread sustained load) arrive whole and in order', async () => {
  const { dir, db } = fresh();
  const store = await open(db);
  try {
    // 40: a lone large batch (a burst); then five large ones in a row (load): the fifth goes to the thread.
    const sizes = [1, 40, 2, 20, 30, 40, 300, 25, 1];
    const all = chain(
      's-mixed',
      sizes.reduce((a, b) => a + b),
    );
    const threadsBefore = writerThreads();
    let at = 0;
    for (const [i, size] of sizes.entries()) {
      await store.audit.appendBatch(all.slice(at, at + size), 'process-crash');
      at += size;
      // A read waits for what was spooled before it: each batch is stored on its own.
      assert.deepEqual(
        (await store.audit.read({ stream: 's-mixed' })).map((r) => r.event.seq),
        all.slice(0, at).map((e) => e.seq),
      );
      assert.equal(writerThreads(), threadsBefore + (i >= 7 ? 1 : 0), `after the batch of ${size} (${i})`);
    }
    const stored = await store.audit.read({ stream: 's-mixed' });
    assert.deepEqual(
      stored.map((r) => r.event.hash),
      all.map((e) => e.hash),
    );
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a large spooled batch holding a record the store has (stored by the writer thread) is refused loudly too', async () => {
  const { dir, db } = fresh();
  const store = await open(db);
  try {
    const first = chain('s-twice-many', 1);
    await store.audit.appendBatch(first, 'power-loss'); // (this starts the writer thread: it fsyncs)
    const good = chain('s-twice-many', 80, 2, first[0].hash);
    for (let i = 0; i < 80; i += 20) {
      await store.audit.appendBatch(good.slice(i, i + 20), 'process-crash');
      await store.audit.count(); // stored, a large batch at a time
    }
    // The fifth large batch in a row, which the writer thread stores, starts with a twin of seq 1.
    const twin = seal({ ...first[0], hash: undefined, detail: { other: true } } as never);
    const more = chain('s-twice-many', 20, 82, good[79].hash);
    await store.audit.appendBatch([twin, ...more], 'process-crash'); // acknowledged from the spool
    await store.audit.count(); // storing it fails, as one transaction: none of its 21 rows
    assert.match(store.audit.spool?.().lastError ?? '', /UNIQUE constraint failed/);
    const seqs = await store.audit.read({ stream: 's-twice-many' }).then((r) => r.map((x) => x.event.seq));
    assert.deepEqual(
      seqs,
      Array.from({ length: 81 }, (_, i) => i + 1),
    );
    await assert.rejects(store.audit.appendBatch(chain('s-next', 1), 'process-crash'), /cannot take records/);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('records appended while an ingestion runs wait for an interval of their own: no small transaction after each large one', async () => {
  const { dir, db } = fresh();
  const batches: number[] = [];
  let release: (() => void) | undefined;
  const spool = new AuditSpool<{ body: string }>(db, (rows) => {
    batches.push(rows.length);
    // The first ingestion is held, as a transaction in the writer thread is; the others are immediate.
    return batches.length === 1 ? new Promise<void>((r) => (release = r)) : Promise.resolve();
  });
  const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ body: `{"n":${i}}` }));
  try {
    spool.append(rows(40));
    const first = spool.settled();
    assert.deepEqual(batches, [40]);
    spool.append(rows(5)); // while the first ingestion runs
    release?.();
    await first;
    await new Promise((r) => setImmediate(r)); // a turn of the event loop, well inside the interval
    assert.deepEqual(batches, [40], 'the 5 records wait for their interval');
    spool.append(rows(30));
    await spool.settled();
    assert.deepEqual(batches, [40, 35]);
    assert.equal(spool.pending, 0);
    spool.append(rows(3));
    await new Promise((r) => setTimeout(r, 50)); // the interval passes: stored without being asked
    assert.deepEqual(batches, [40, 35, 3]);
  } finally {
    await spool.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the writer thread stops once the load has ended, and a new load starts it again; nothing is lost', async () => {
  const { dir, db } = fresh();
  await (await open(db)).close(); // the tables
  const before = writerThreads();
  const writer = new SqliteAuditWriter(db, { idleMs: 100 });
  const all = chain('s-idle', 400);
  let at = 0;
  const load = async () => {
    for (let i = 0; i < 5; i++) {
      await writer.append(all.slice(at, at + 40).map(auditRow), 'process-crash');
      at += 40;
      await writer.settled();
    }
  };
  try {
    await load();
    assert.equal(writerThreads(), before + 1, 'five large batches in a row: the thread');
    const deadline = Date.now() + 5000;
    while (writerThreads() > before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(writerThreads(), before, 'idle for its idle time: stopped');
    await writer.append(all.slice(at, at + 3).map(auditRow), 'process-crash'); // light traffic: the event loop
    at += 3;
    await writer.settled();
    assert.equal(writerThreads(), before);
    await load();
    assert.equal(writerThreads(), before + 1, 'load again: a thread again');
    // Under power-loss durability every batch is the thread's: it stays, so no call waits for it to start.
    await writer.append(all.slice(at, at + 1).map(auditRow), 'power-loss');
    at += 1;
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(writerThreads(), before + 1, 'kept for power-loss batches');
  } finally {
    await writer.close();
  }
  assert.deepEqual(
    await seqs(db, 's-idle'),
    all.slice(0, at).map((e) => e.seq),
  );
  rmSync(dir, { recursive: true, force: true });
});
