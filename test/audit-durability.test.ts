/**
 * `audit.durability` on both stores: records appended under either choice are stored, chained and
 * read back in commit order, and the SQLite writer thread switches between them batch by batch.
 * (What each survives is the databases' own guarantee; test/audit.test.ts kills a gateway under load
 * with the default, `process-crash`, and finds every intent before its call.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { AuditLog } from '../src/audit/log.ts';
import { openStore } from '../src/storage/index.ts';
import type { AuditDurability } from '../src/storage/types.ts';
import { dropPgSchema, freshPgSchema, pgTestUrl, requireService } from './support/services.ts';

async function roundTrip(open: () => Promise<Awaited<ReturnType<typeof openStore>>>): Promise<void> {
  const store = await open();
  try {
    const log = new AuditLog(store.audit, `durability-${process.pid}-${Date.now()}`);
    const order: AuditDurability[] = ['process-crash', 'power-loss', 'process-crash'];
    for (const [i, d] of order.entries()) {
      log.durability = d;
      await Promise.all([
        log.append({ kind: 'config.reloaded', detail: { i } }),
        log.append({ kind: 'config.reloaded', detail: { i } }),
      ]);
    }
    const rows = await store.audit.read({ stream: log.stream });
    assert.deepEqual(
      rows.map((r) => r.event.seq),
      [1, 2, 3, 4, 5, 6],
    );
    assert.deepEqual(
      rows.map((r) => r.event.detail?.i),
      [0, 0, 1, 1, 2, 2],
    );
  } finally {
    await store.close();
  }
}

test('SQLite: both durabilities store every record, in order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-durability-'));
  try {
    await roundTrip(() => openStore({ driver: 'sqlite', sqlitePath: join(dir, 'state.db'), postgresUrl: '' }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SQLite: while another connection holds the write lock, process-crash appends are acknowledged from the spool and power-loss ones wait; all are stored in order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-durability-'));
  const file = join(dir, 'state.db');
  const store = await openStore({ driver: 'sqlite', sqlitePath: file, postgresUrl: '' });
  const other = new Sqlite(file);
  try {
    const log = new AuditLog(store.audit, 'locked');
    log.durability = 'process-crash';
    await log.append({ kind: 'config.reloaded', detail: { i: 0 } });
    await store.audit.count(); // stored: the lock is free
    other.exec('begin immediate');
    await Promise.all([1, 2].map((i) => log.append({ kind: 'config.reloaded', detail: { i } })));
    const spooled = readdirSync(`${file}-spool`).map((f) => readFileSync(join(`${file}-spool`, f), 'utf8'));
    assert.equal(spooled.join('').trim().split('\n').length, 3, 'acknowledged once in the spool file');
    assert.equal(store.audit.spool?.().pending, 2, 'not in the database yet');
    log.durability = 'power-loss';
    const waiting = log.append({ kind: 'config.reloaded', detail: { i: 3 } });
    const early = await Promise.race([
      waiting.then(() => 'written'),
      new Promise((r) => setTimeout(r, 300, 'waiting')),
    ]);
    assert.equal(early, 'waiting', 'a power-loss append went through while the lock was held');
    other.exec('commit');
    await waiting;
    const rows = await store.audit.read({ stream: 'locked' });
    assert.deepEqual(
      rows.map((r) => [r.event.seq, r.event.detail?.i]),
      [
        [1, 0],
        [2, 1],
        [3, 2],
        [4, 3],
      ],
    );
    assert.deepEqual(
      rows.map((r) => r.position),
      [...rows.map((r) => r.position)].sort((x, y) => x - y),
      'stored in chain order',
    );
  } finally {
    other.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('PostgreSQL: both durabilities store every record, in order', async (t) => {
  if (!(await requireService(t, 'postgres'))) return;
  const schema = freshPgSchema();
  try {
    await roundTrip(() =>
      openStore({ driver: 'postgres', sqlitePath: '', postgresUrl: pgTestUrl(), pgSchema: schema }),
    );
  } finally {
    await dropPgSchema(schema);
  }
});
