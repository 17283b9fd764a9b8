/**
 * The storage contract: one suite, run against every implementation (SQLite and PostgreSQL).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, maskUrl } from './index.ts';
import type { SessionRecord, Store } from './types.ts';
import { dropPgSchema, freshPgSchema, pgTestUrl, requireService } from '../../test/support/services.ts';

type Opener = () => Promise<Store>;

function session(id: string, over: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id, scope: '', protocolVersion: '2025-11-25', principal: null, createdAt: 1_700_000_000_000, lastSeenAt: 1_700_000_000_000,
    clientInfo: { name: 'cliént ✓', nested: { list: [1, 2, { deep: true }] } }, clientCapabilities: { sampling: {} }, ...over,
  };
}

async function contract(t: TestContext, open: Opener): Promise<void> {
  const store = await open();
  try {
    await t.test('sessions: create, get, round-trip of json and numbers', async () => {
      const s = session('sess-aaaaaaaaaaaaaaaa', { principal: 'tenant/alice', scope: 'files' });
      await store.sessions.create(s);
      const got = await store.sessions.get(s.id);
      assert.deepEqual(got, s);
      assert.equal(typeof got!.createdAt, 'number');
      assert.equal(await store.sessions.get('absent'), undefined);
    });
    await t.test('sessions: a duplicate id is refused', async () => {
      await assert.rejects(store.sessions.create(session('sess-aaaaaaaaaaaaaaaa')));
    });
    await t.test('sessions: touch, purge idle, delete', async () => {
      await store.sessions.create(session('sess-bbbbbbbbbbbbbbbb'));
      await store.sessions.touch('sess-bbbbbbbbbbbbbbbb', 1_800_000_000_000);
      assert.equal((await store.sessions.get('sess-bbbbbbbbbbbbbbbb'))!.lastSeenAt, 1_800_000_000_000);
      assert.equal(await store.sessions.purgeIdle(1_750_000_000_000), 1); // only the untouched one
      assert.equal(await store.sessions.get('sess-aaaaaaaaaaaaaaaa'), undefined);
      assert.equal(await store.sessions.delete('sess-bbbbbbbbbbbbbbbb'), true);
      assert.equal(await store.sessions.delete('sess-bbbbbbbbbbbbbbbb'), false);
    });
    await t.test('verdicts: put, get, overwrite', async () => {
      assert.equal(await store.verdicts.get('up'), undefined);
      await store.verdicts.put({ server: 'up', fingerprint: 'f1', era: 'legacy', protocolVersion: '2025-11-25', probedAt: 5 });
      await store.verdicts.put({ server: 'up', fingerprint: 'f2', era: 'modern', protocolVersion: '2026-07-28', probedAt: 6 });
      assert.deepEqual(await store.verdicts.get('up'), { server: 'up', fingerprint: 'f2', era: 'modern', protocolVersion: '2026-07-28', probedAt: 6 });
    });
    await t.test('ping answers', async () => {
      await store.ping();
    });
  } finally {
    await store.close();
  }
  // Reopening runs the migrations again (a no-op) and keeps the data.
  const again = await open();
  try {
    assert.equal((await again.verdicts.get('up'))?.fingerprint, 'f2');
  } finally {
    await again.close();
  }
}

test('sqlite store passes the contract', async (t) => {
  const path = join(mkdtempSync(join(tmpdir(), 'gatehouse-store-')), 'state', 'gatehouse.db');
  await contract(t, () => openStore({ driver: 'sqlite', sqlitePath: path }));
});

test('postgres store passes the contract', async (t) => {
  if (!(await requireService(t, 'postgres'))) return;
  const schema = freshPgSchema();
  try {
    await contract(t, () => openStore({ driver: 'postgres', sqlitePath: '', postgresUrl: pgTestUrl(), pgSchema: schema }));
  } finally {
    await dropPgSchema(schema);
  }
});

test('postgres: replicas opening the same database at once migrate once', async (t) => {
  if (!(await requireService(t, 'postgres'))) return;
  const schema = freshPgSchema();
  try {
    const stores = await Promise.all([1, 2, 3].map(() => openStore({ driver: 'postgres', sqlitePath: '', postgresUrl: pgTestUrl(), pgSchema: schema })));
    await stores[0].sessions.create(session('sess-cccccccccccccccc'));
    assert.equal((await stores[2].sessions.get('sess-cccccccccccccccc'))?.id, 'sess-cccccccccccccccc');
    await Promise.all(stores.map((s) => s.close()));
  } finally {
    await dropPgSchema(schema);
  }
});

test('postgres: a connection error names the server but not the password', async () => {
  const err = await openStore({ driver: 'postgres', sqlitePath: '', postgresUrl: 'postgres://gh:s3cret-pw@127.0.0.1:1/test' }).catch((e: Error) => e);
  assert.ok(err instanceof Error);
  assert.match(err.message, /cannot connect to postgresql at postgres:\/\/gh:\*\*\*@127\.0\.0\.1:1\/test/);
  assert.doesNotMatch(err.message, /s3cret-pw/);
  assert.equal(maskUrl('postgres://u:p@h/db'), 'postgres://u:***@h/db');
});
