/**
 * The incident part of the storage contract, against SQLite and PostgreSQL alike: an incident and its
 * action log round-trip, listing filters by status and tenant, closing is compare-and-set, apply
 * acknowledgements keep the latest version per gateway, and sessions end by tenant or by subject.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from './index.ts';
import type { IncidentRecord, SessionRecord, Store } from './types.ts';
import { dropPgSchema, freshPgSchema, pgTestUrl, requireService } from '../../test/support/services.ts';

const T0 = 1_760_000_000_000;

const incident = (id: string, over: Partial<IncidentRecord> = {}): IncidentRecord => ({
  id,
  title: 'files__write deletes “everything” 🦀',
  scope: { kind: 'tool', value: 'files__write' },
  tenant: null,
  reason: 'misbehaving',
  status: 'open',
  openedBy: 'oncall',
  openedAt: T0,
  windowStart: T0 - 3_600_000,
  closedBy: null,
  closedAt: null,
  actions: [
    {
      at: T0,
      by: 'oncall',
      action: 'contained',
      detail: { target: 'tool:files__write=disabled', timeToEffectMs: 412, nested: [1, { a: null }] },
    },
  ],
  ...over,
});

const session = (id: string, principal: string | null, tenant: string | null): SessionRecord => ({
  id,
  scope: '',
  protocolVersion: '2025-11-25',
  clientInfo: {},
  clientCapabilities: {},
  principal,
  tenant,
  createdAt: T0,
  lastSeenAt: T0,
});

function runIncidentContract(
  name: string,
  setup: (t: TestContext) => Promise<(() => Promise<Store>) | undefined>,
): void {
  test(`${name}: the incident store contract`, async (t) => {
    const open = await setup(t);
    if (!open) return;
    const store = await open();
    try {
      await t.test('an incident and its actions round-trip exactly, actions in order', async () => {
        const a = incident('inc_000000000001');
        await store.incidents.create(a);
        assert.deepEqual(await store.incidents.get(a.id), a);
        await store.incidents.addAction(a.id, {
          at: T0 + 5,
          by: 'bob',
          action: 'revoked',
          detail: { refs: ['vault://kv/x'] },
        });
        const got = await store.incidents.get(a.id);
        assert.deepEqual(
          got!.actions.map((x) => x.action),
          ['contained', 'revoked'],
        );
        assert.equal(await store.incidents.get('inc_nope'), undefined);
        await assert.rejects(store.incidents.create(a), 'a duplicate id is refused');
      });
      await t.test('list: newest first, by status and tenant, without actions', async () => {
        await store.incidents.create(
          incident('inc_000000000002', { openedAt: T0 + 10, scope: { kind: 'tenant', value: 'acme' }, tenant: 'acme' }),
        );
        const all = await store.incidents.list();
        assert.deepEqual(
          all.map((r) => r.id),
          ['inc_000000000002', 'inc_000000000001'],
        );
        assert.equal((all[0] as Partial<IncidentRecord>).actions, undefined);
        assert.deepEqual(
          (await store.incidents.list({ tenant: 'acme' })).map((r) => r.id),
          ['inc_000000000002'],
        );
        assert.deepEqual(
          (await store.incidents.list({ status: 'closed' })).map((r) => r.id),
          [],
        );
      });
      await t.test('close is compare-and-set: exactly one of two closes wins', async () => {
        const both = await Promise.all([
          store.incidents.close('inc_000000000001', 'a', T0 + 20),
          store.incidents.close('inc_000000000001', 'b', T0 + 21),
        ]);
        assert.deepEqual(both.filter(Boolean).length, 1);
        const r = await store.incidents.get('inc_000000000001');
        assert.equal(r!.status, 'closed');
        assert.ok(r!.closedBy === 'a' || r!.closedBy === 'b');
        assert.equal(typeof r!.closedAt, 'number');
        assert.deepEqual(
          (await store.incidents.list({ status: 'closed' })).map((x) => x.id),
          ['inc_000000000001'],
        );
      });
      await t.test('apply acknowledgements: one row per gateway and key, the latest version', async () => {
        await store.applyAcks.ack('mode:tool:x', 'gw-a', T0, T0 + 1);
        await store.applyAcks.ack('mode:tool:x', 'gw-b', T0, T0 + 2);
        await store.applyAcks.ack('mode:tool:x', 'gw-a', T0 + 100, T0 + 101);
        const acks = (await store.applyAcks.acks('mode:tool:x')).sort((a, b) => a.instance.localeCompare(b.instance));
        assert.deepEqual(acks, [
          { instance: 'gw-a', version: T0 + 100, ackedAt: T0 + 101 },
          { instance: 'gw-b', version: T0, ackedAt: T0 + 2 },
        ]);
        assert.deepEqual(await store.applyAcks.acks('mode:tool:y'), []);
      });
      await t.test('sessions end by tenant or by subject (the whole subject, not a part of it)', async () => {
        const key = (subject: string, tenant: string) => JSON.stringify(['jwt', 'https://idp', subject, tenant]);
        await store.sessions.create(session('sess-alice-acme-000001', key('alice', 'acme'), 'acme'));
        await store.sessions.create(session('sess-alice2-acme-00001', key('alice2', 'acme'), 'acme'));
        await store.sessions.create(session('sess-bob-globex-000001', key('bob', 'globex'), 'globex'));
        await store.sessions.create(session('sess-anon-000000000001', null, null));
        assert.equal(await store.sessions.deleteMatching({}), 0);
        assert.equal(await store.sessions.deleteMatching({ subject: 'alice' }), 1);
        assert.ok(await store.sessions.get('sess-alice2-acme-00001'));
        assert.equal(await store.sessions.deleteMatching({ tenant: 'globex' }), 1);
        assert.equal(await store.sessions.get('sess-bob-globex-000001'), undefined);
        assert.ok(await store.sessions.get('sess-anon-000000000001'));
      });
    } finally {
      await store.close();
    }
  });
}

runIncidentContract('sqlite', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'gatehouse-inc-')), 'gatehouse.db');
  return () => openStore({ driver: 'sqlite', sqlitePath: path });
});

runIncidentContract('postgres', async (t) => {
  if (!(await requireService(t, 'postgres'))) return undefined;
  const schema = freshPgSchema();
  t.after(() => dropPgSchema(pgTestUrl(), schema));
  return () => openStore({ driver: 'postgres', sqlitePath: '', postgresUrl: pgTestUrl(), pgSchema: schema });
});
