/**
 * The embedded store's emptyLog (walk S, F1): the write-ahead log is copied into the database file
 * and truncated to nothing, and when another connection keeps reading an older snapshot it says so
 * (false) within its bound instead of blocking or claiming it did.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { openSqlite } from './sqlite.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-empty-log-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('emptyLog truncates the log; a reader holding an older snapshot makes it say false, not wait forever', async () => {
  const path = join(dir, 'g.db');
  const store = await openSqlite(path);
  const reader = new Sqlite(path);
  try {
    await store.upstreamTokens.put('s', 't', 'sealed-A', 1);
    // Another process's read transaction, open on the snapshot that still has sealed-A in the log.
    reader.exec('begin');
    reader.prepare('select count(*) from upstream_tokens').get();
    await store.upstreamTokens.put('s', 't', 'sealed-B', 2);
    const started = Date.now();
    assert.equal(await store.emptyLog!(300), false);
    assert.ok(Date.now() - started < 3000, 'bounded');
    assert.ok(statSync(`${path}-wal`).size > 0);
    reader.exec('commit');
    assert.equal(await store.emptyLog!(300), true);
    assert.equal(statSync(`${path}-wal`).size, 0, 'the log is truncated');
  } finally {
    reader.close();
    await store.close();
  }
});
