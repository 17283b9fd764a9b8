/**
 * `audit.durability` on both stores: records appended under either choice are stored, chained and
 * read back in commit order, and the SQLite writer thread switches between them batch by batch.
 * (What each survives is the databases' own guarantee; test/audit.test.ts kills a gateway under load
 * with the default, `process-crash`, and finds every intent before its call.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
      await Promise.all([log.append({ kind: 'config.reloaded', detail: { i } }), log.append({ kind: 'config.reloaded', detail: { i } })]);
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
