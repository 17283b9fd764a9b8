/**
 * The storage contract: one suite (runContract) run against every implementation, SQLite and
 * PostgreSQL; then what only one driver has (file permissions, several replicas migrating one
 * schema at once, passwords kept out of errors), and the visible skip when PostgreSQL is down.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import type { AuditEvent } from '../model/audit-event.ts';
import { AuditLog, newStreamName } from '../audit/log.ts';
import { verifyAudit } from '../audit/verify.ts';
import { confirmed, LIVE_MS, modeKey } from '../incident/acks.ts';
import { auditRepo, edge, eventsQuery, oldestBefore, streamsQuery } from './audit-repo.ts';
import { openStore } from './index.ts';
import { migrate } from './migrations.ts';
import { storeOver } from './repos.ts';
import { droppedMeanwhile } from './postgres.ts';
import type { Database } from './schema.ts';
import type { SessionRecord, Store, UpstreamVerdict } from './types.ts';
import { dropPgSchema, freshPgSchema, pgTestUrl, requireService } from '../../test/support/services.ts';
import { withLoopTurns } from '../../test/support/loop-delay.ts';

type Opener = () => Promise<Store>;

const T0 = 1_760_000_000_000;
const LATEST_DATE = 8_640_000_000_000_000; // epoch ms of the last valid Date: needs all 64 bits of BIGINT

function session(id: string, over: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id,
    scope: '',
    protocolVersion: '2025-11-25',
    clientInfo: { name: 'c' },
    clientCapabilities: {},
    principal: null,
    createdAt: T0,
    lastSeenAt: T0,
    ...over,
  };
}

/** An audit record as the log stores it (the chain is not checked here). */
function rec(stream: string, seq: number, kind: AuditEvent['kind'], over: Partial<AuditEvent> = {}): AuditEvent {
  const time = new Date(T0 + seq * 1000).toISOString();
  return { v: 1, id: `${stream}-${seq}`, time, stream, seq, prev: '0'.repeat(64), hash: 'h', kind, ...over };
}

/** What openIntents names: `stream-seq` ids, in log order. */
const ids = (events: AuditEvent[]) => events.map((e) => e.id);

function verdict(server: string, over: Partial<UpstreamVerdict> = {}): UpstreamVerdict {
  return { server, fingerprint: 'f1', era: 'legacy', protocolVersion: '2025-11-25', probedAt: T0, ...over };
}

/** The contract every Store passes. `setup` returns how to open the store, or nothing to skip. */
function runContract(name: string, setup: (t: TestContext) => Promise<Opener | undefined>): void {
  test(`${name}: the store contract`, async (t) => {
    const open = await setup(t);
    if (!open) return;
    const rich = session('s-rich', {
      scope: 'files',
      principal: 'tenant/alice ✓',
      createdAt: T0,
      lastSeenAt: LATEST_DATE,
      clientInfo: {
        name: 'cliént 🦀 客户端 עברית',
        text: 'a"b\\c\n\t\u0001',
        nested: {
          list: [1, -2.5, 0, Number.MAX_SAFE_INTEGER, 1e-7, { deep: [true, false, null] }],
          empty: {},
          none: [],
        },
      },
      clientCapabilities: { sampling: {}, roots: { listChanged: true } },
    });
    const store = await open();
    try {
      assert.equal(store.driver, name);
      await t.test('a session round-trips exactly: nested json, unicode, numbers stay numbers', async () => {
        await store.sessions.create(rich);
        const got = await store.sessions.get(rich.id);
        assert.deepEqual(got, rich);
        assert.equal(typeof got!.createdAt, 'number');
        assert.equal(typeof got!.lastSeenAt, 'number');
      });
      await t.test(
        'a console session signed out of stays ended (once) until its cookie expires, then is forgotten',
        async () => {
          assert.equal(await store.consoleSignouts.ended('sid-1'), false);
          await store.consoleSignouts.end('sid-1', LATEST_DATE);
          await store.consoleSignouts.end('sid-1', T0); // again: the first record stays
          await store.consoleSignouts.end('sid-old', T0);
          assert.equal(await store.consoleSignouts.ended('sid-1'), true);
          assert.equal(await store.consoleSignouts.ended('sid-2'), false);
          assert.equal(await store.consoleSignouts.purge(T0 + 1), 1);
          assert.equal(await store.consoleSignouts.ended('sid-old'), false);
          assert.equal(await store.consoleSignouts.ended('sid-1'), true);
        },
      );
      await t.test('an API key round-trips; a revocation by another connection is seen by the next read', async () => {
        const key = {
          id: 'k-1',
          name: 'ci ✓',
          hash: 'scrypt$abc',
          tenant: 'acme',
          subject: null,
          roles: ['agent'],
          scopes: ['tools:call'],
          createdAt: T0,
          createdBy: 'admin',
          expiresAt: LATEST_DATE,
          lastUsedAt: null,
          revokedAt: null,
          revokedBy: null,
        };
        await store.apiKeys.create(key);
        assert.deepEqual(await store.apiKeys.get('k-1'), key);
        assert.equal(await store.apiKeys.get('k-2'), undefined);
        assert.equal(await store.apiKeys.get('ci ✓'), undefined, 'looked up by id, never by name');
        const other = await open(); // the CLI, another replica
        try {
          await other.apiKeys.revoke('k-1', 'oncall', T0 + 5);
          await other.apiKeys.touch('k-1', T0 + 7);
        } finally {
          await other.close();
        }
        assert.deepEqual(await store.apiKeys.get('k-1'), {
          ...key,
          revokedAt: T0 + 5,
          revokedBy: 'oncall',
          lastUsedAt: T0 + 7,
        });
      });
      await t.test('json columns hold any json value; undefined is stored as null', async () => {
        await store.sessions.create(session('s-null', { clientInfo: null, clientCapabilities: 'plain' }));
        await store.sessions.create(session('s-list', { clientInfo: [1, 'two'], clientCapabilities: 42 }));
        await store.sessions.create(session('s-undef', { clientInfo: undefined }));
        assert.deepEqual(
          await store.sessions.get('s-null'),
          session('s-null', { clientInfo: null, clientCapabilities: 'plain' }),
        );
        assert.deepEqual(
          await store.sessions.get('s-list'),
          session('s-list', { clientInfo: [1, 'two'], clientCapabilities: 42 }),
        );
        assert.equal((await store.sessions.get('s-undef'))!.clientInfo, null);
      });
      await t.test('an absent session is undefined', async () => {
        assert.equal(await store.sessions.get('s-absent'), undefined);
      });
      await t.test('a duplicate id is refused and the first record kept', async () => {
        await assert.rejects(store.sessions.create(session('s-rich', { scope: 'other' })));
        assert.deepEqual(await store.sessions.get('s-rich'), rich);
      });
      await t.test('touch moves lastSeenAt only; touching an absent id does nothing', async () => {
        await store.sessions.create(session('s-touch'));
        await store.sessions.touch('s-touch', T0 + 60_000);
        assert.deepEqual(await store.sessions.get('s-touch'), session('s-touch', { lastSeenAt: T0 + 60_000 }));
        await store.sessions.touch('s-nobody', T0);
        assert.equal(await store.sessions.get('s-nobody'), undefined);
      });
      await t.test("a session's times are the store's clock unless given; create returns them", async () => {
        // The store's clock is this machine's here (SQLite, and the PostgreSQL the tests use): a
        // second either side allows for rounding and a busy machine, not for a clock of its own.
        const before = Date.now() - 1000;
        const { createdAt, lastSeenAt, ...fresh } = session('s-stamped', { principal: 'p-stamp', tenant: 't-stamp' });
        const made = await store.sessions.create(fresh);
        const after = Date.now() + 1000;
        assert.deepEqual(await store.sessions.get('s-stamped'), made);
        for (const at of [made.createdAt, made.lastSeenAt]) {
          assert.equal(typeof at, 'number');
          assert.ok(at >= before && at <= after, `${at} is now (${before}..${after})`);
        }
        await store.sessions.touch('s-stamped', T0);
        await store.sessions.touch('s-stamped');
        const touched = (await store.sessions.get('s-stamped'))!.lastSeenAt;
        assert.ok(touched >= before && touched <= Date.now() + 1000, 'touched by the store clock');
        assert.equal((await store.sessions.get('s-stamped'))!.createdAt, made.createdAt);
        const given = await store.sessions.create({ ...fresh, id: 's-given', createdAt: T0, lastSeenAt: T0 + 1 });
        assert.deepEqual([given.createdAt, given.lastSeenAt], [T0, T0 + 1]);
      });
      await t.test("get with a window: only a session seen within it by the store's clock", async () => {
        const now = Date.now();
        await store.sessions.create(session('w-old', { lastSeenAt: now - 2 * 3_600_000 }));
        await store.sessions.create(session('w-new', { lastSeenAt: now - 60_000 }));
        assert.equal(await store.sessions.get('w-old', 3_600_000), undefined);
        assert.equal((await store.sessions.get('w-old', 3 * 3_600_000))?.id, 'w-old');
        assert.equal((await store.sessions.get('w-old'))?.id, 'w-old', 'no window: any');
        assert.equal((await store.sessions.get('w-new', 3_600_000))?.id, 'w-new');
        assert.equal(await store.sessions.get('w-absent', 3_600_000), undefined);
        await store.sessions.delete('w-old');
        await store.sessions.delete('w-new');
      });
      await t.test('delete says whether it removed a session', async () => {
        await store.sessions.create(session('s-del'));
        assert.equal(await store.sessions.delete('s-del'), true);
        assert.equal(await store.sessions.get('s-del'), undefined);
        assert.equal(await store.sessions.delete('s-del'), false);
        assert.equal(await store.sessions.delete('s-never'), false);
      });
      await t.test(
        "purgeIdle removes exactly the sessions not seen for the idle time by the store's clock",
        async () => {
          const H = 3_600_000;
          // The sessions of the other subtests (at T0, long ago) first, so the count below is this test's.
          await store.sessions.purgeIdle(10 * H);
          const now = Date.now();
          for (const [id, at] of [
            ['p-2h', now - 2 * H],
            ['p-1h1m', now - H - 60_000],
            ['p-59m', now - H + 60_000],
            ['p-1m', now - 60_000],
            ['p-touched', now - 2 * H],
          ] as const) {
            await store.sessions.create(session(id, { createdAt: at, lastSeenAt: at }));
          }
          await store.sessions.touch('p-touched'); // now, by the store's clock
          assert.equal(await store.sessions.purgeIdle(H), 2);
          assert.equal(await store.sessions.get('p-2h'), undefined);
          assert.equal(await store.sessions.get('p-1h1m'), undefined);
          for (const id of ['p-59m', 'p-1m', 'p-touched', 's-rich']) assert.ok(await store.sessions.get(id), id);
          assert.equal(await store.sessions.purgeIdle(H), 0);
        },
      );
      await t.test('verdicts: absent, put, get, overwrite; servers are independent', async () => {
        assert.equal(await store.verdicts.get('up'), undefined);
        await store.verdicts.put(verdict('up'));
        await store.verdicts.put(verdict('other', { probedAt: LATEST_DATE }));
        assert.deepEqual(await store.verdicts.get('up'), verdict('up'));
        await store.verdicts.put(
          verdict('up', { fingerprint: 'f2', era: 'modern', protocolVersion: '2026-07-28', probedAt: T0 + 1 }),
        );
        assert.deepEqual(
          await store.verdicts.get('up'),
          verdict('up', { fingerprint: 'f2', era: 'modern', protocolVersion: '2026-07-28', probedAt: T0 + 1 }),
        );
        const other = await store.verdicts.get('other');
        assert.deepEqual(other, verdict('other', { probedAt: LATEST_DATE }));
        assert.equal(typeof other!.probedAt, 'number');
      });
      await t.test('audit: an export cursor only moves forward (a replica behind never moves it back)', async () => {
        const a = store.audit;
        assert.equal(await a.getCursor('export:siem'), 0);
        await a.setCursor('export:siem', 7);
        await a.setCursor('export:siem', 3);
        assert.equal(await a.getCursor('export:siem'), 7);
        await a.setCursor('export:siem', 9);
        assert.equal(await a.getCursor('export:siem'), 9);
      });
      await t.test('audit: count is the number of records, after appends and after a prune', async () => {
        const a = store.audit;
        const old = (seq: number) =>
          rec('E', seq, 'config.reloaded', { time: new Date(T0 - 86_400_000).toISOString() });
        assert.strictEqual(await a.count(), 0);
        await a.appendBatch([old(1), old(2)]);
        await a.appendBatch([rec('E', 3, 'config.reloaded'), rec('F', 1, 'stream.opened')]);
        assert.strictEqual(await a.count(), 4, 'a number, not a bigint string, on every driver');
        assert.equal(await a.prune(T0 - 1000), 2);
        assert.strictEqual(await a.count(), 2);
        // The tail past a position: the last position, and when the first record after it was written.
        const all = await a.read({ limit: 10 });
        const last = all.at(-1)!.position;
        assert.deepEqual(await a.tail(last), { lastPosition: last, firstAt: undefined });
        const t = await a.tail(all[0].position);
        assert.strictEqual(t.lastPosition, last, 'a number on every driver');
        assert.strictEqual(t.firstAt, Date.parse(all[1].event.time));
      });
      await t.test('audit: openIntents gives the intents of other streams that no record closes', async () => {
        const a = store.audit;
        await a.appendBatch([rec('A', 1, 'call.intent'), rec('A', 2, 'call.intent'), rec('B', 1, 'call.intent')]);
        await a.appendBatch([rec('A', 3, 'call.outcome', { intent: 'A-1', outcome: 'ok' })]);
        // An intent and its outcome in one batch; a refusal and other kinds open nothing.
        await a.appendBatch([
          rec('A', 4, 'call.intent'),
          rec('A', 5, 'call.outcome', { intent: 'A-4', outcome: 'error' }),
          rec('A', 6, 'call.refused', { outcome: 'refused' }),
          rec('C', 1, 'stream.opened'),
          rec('C', 2, 'call.intent'),
        ]);
        assert.deepEqual(ids(await a.openIntents(['C'])), ['A-2', 'B-1']);
        assert.deepEqual(ids(await a.openIntents([])), ['A-2', 'B-1', 'C-2']);
        assert.deepEqual(ids(await a.openIntents(['C', 'B'])), ['A-2'], 'a live writer keeps its calls in flight');
        assert.equal((await a.openIntents(['C']))[0].kind, 'call.intent');
        await a.appendBatch([rec('C', 3, 'call.unknown', { intent: 'A-2', outcome: 'unknown' })]);
        assert.deepEqual(ids(await a.openIntents(['C'])), ['B-1']);
        // Who closed an intent: the call.unknown another writer recorded, nothing while open or closed by its outcome.
        assert.equal((await a.closedAsUnknown(rec('A', 2, 'call.intent')))?.id, 'C-3');
        assert.equal(await a.closedAsUnknown(rec('B', 1, 'call.intent')), undefined, 'still open');
        assert.equal(await a.closedAsUnknown(rec('A', 1, 'call.intent')), undefined, 'closed by its outcome');
      });
      await t.test('audit: an open intent pruned away is no longer open', async () => {
        const a = store.audit;
        await a.appendBatch([rec('D', 1, 'call.intent', { time: new Date(T0 - 86_400_000).toISOString() })]);
        assert.ok(ids(await a.openIntents([])).includes('D-1'));
        assert.ok((await a.prune(T0 - 1000)) >= 1);
        assert.deepEqual(ids(await a.openIntents([])), ['B-1', 'C-2']);
      });
      await t.test('audit: streams are listed by name with their last seq', async () => {
        const a = store.audit;
        await a.appendBatch([rec('Z', 1, 'stream.opened'), rec('Z', 2, 'config.reloaded')]);
        const last = new Map<string, number>();
        for (const r of await a.read({ limit: 100_000 }))
          last.set(r.event.stream, Math.max(last.get(r.event.stream) ?? 0, r.event.seq));
        const expected = [...last]
          .sort(([x], [y]) => (x < y ? -1 : 1))
          .map(([stream, lastSeq]) => ({ stream, lastSeq }));
        assert.ok(expected.length >= 4, JSON.stringify(expected));
        assert.deepEqual(await a.streams(), expected);
      });
      await t.test('audit: the tenants records name, in order, as many as asked for', async () => {
        const a = store.audit;
        const actor = (tenant: string) => ({ actor: { subject: 's', tenant, via: 'api-key' as const, issuer: '' } });
        await a.appendBatch([
          rec('T', 1, 'call.intent', actor('globex')),
          rec('T', 2, 'call.intent', actor('acme')),
          rec('T', 3, 'call.intent', actor('globex')),
          rec('T', 4, 'call.intent', actor('initech')),
        ]);
        const all = await a.tenants(1000);
        assert.deepEqual(
          all.filter((x) => ['acme', 'globex', 'initech'].includes(x)),
          ['acme', 'globex', 'initech'],
        );
        assert.deepEqual(all, [...new Set(all)].sort(), 'distinct, in order');
        assert.deepEqual(await a.tenants(2), all.slice(0, 2));
      });
      await t.test('ping answers', async () => {
        await store.ping();
      });
      await t.test('sessions are counted per principal and per tenant, idle ones not', async () => {
        // Idle by the store's clock: a window of an hour, sessions seen a minute and two hours ago.
        const now = Date.now();
        const [seen, idle, H] = [now - 60_000, now - 2 * 3_600_000, 3_600_000];
        await store.sessions.create(session('c-1', { principal: 'p1', tenant: 't1', lastSeenAt: seen }));
        await store.sessions.create(session('c-2', { principal: 'p1', tenant: 't1', lastSeenAt: seen }));
        await store.sessions.create(session('c-3', { principal: 'p2', tenant: 't1', lastSeenAt: seen }));
        await store.sessions.create(session('c-4', { principal: 'p1', tenant: 't1', lastSeenAt: idle }));
        assert.equal(await store.sessions.count({ principal: 'p1', withinMs: H }), 2);
        assert.equal(await store.sessions.count({ tenant: 't1', withinMs: H }), 3);
        assert.equal(await store.sessions.count({ tenant: 't2', withinMs: H }), 0);
        assert.equal(await store.sessions.count({ tenant: 't1', withinMs: 3 * H }), 4);
        assert.equal((await store.sessions.get('c-1'))!.tenant, 't1');
      });
      await t.test('principal revocations: revoke keeps the first record, restore lifts it', async () => {
        const r = { kind: 'subject' as const, value: 'ivy', issuer: '', reason: 'x', revokedBy: 'a', revokedAt: T0 };
        await store.principalRevocations.revoke(r);
        await store.principalRevocations.revoke({ ...r, reason: 'y', revokedAt: T0 + 1 });
        await store.principalRevocations.revoke({ ...r, kind: 'jti', value: 'tok-1', issuer: 'https://idp' });
        assert.deepEqual(await store.principalRevocations.list(), [
          r,
          { ...r, kind: 'jti', value: 'tok-1', issuer: 'https://idp' },
        ]);
        assert.equal(await store.principalRevocations.restore('subject', 'ivy', ''), true);
        assert.equal(await store.principalRevocations.restore('subject', 'ivy', ''), false);
        assert.equal((await store.principalRevocations.list()).length, 1);
      });
      await t.test(
        'gateways gone for an hour are forgotten with their acknowledgements; live ones keep theirs',
        async () => {
          const r = store.revocations;
          const acks = store.applyAcks;
          const H = 3_600_000;
          // Heartbeats are read against the store's clock (the machine's here): times relative to it.
          const now = Date.now();
          const key = modeKey('tool:a__b');
          const who = async () => (await acks.acks(key)).map((a) => a.instance).sort();
          await r.heartbeat('gw-killed', T0, now - 2 * H);
          await r.heartbeat('gw-live', T0, now - 1000);
          await r.heartbeat('gw-stopped', T0, now - 10 * 60_000); // ten minutes ago: not gone long enough
          await acks.ack(key, 'gw-killed', 1, now - 3 * H);
          await acks.ack(key, 'gw-live', 1, now - 3 * H); // old, but its gateway is live: a re-revocation waits for it
          await acks.ack(key, 'gw-forgotten', 1, now - 2 * H); // stopped cleanly (forget) long ago: no heartbeat left
          await acks.ack(key, 'gw-stopped', 1, now - 20 * 60_000);
          await acks.ack(key, 'gw-starting', 2, now - 100); // acknowledged before its first heartbeat
          await acks.ack('mode:gateway', 'gw-killed', 7, now - 2 * H);
          await r.ack('vault://x#y', 'gw-killed', now - 3 * H);
          await r.ack('vault://x#y', 'gw-live', now - 3 * H);
          assert.equal(
            await r.forgetStale(H),
            5,
            "gw-killed's heartbeat, two acks and its revocation ack, gw-forgotten's ack",
          );
          assert.deepEqual(
            (await r.acks('vault://x#y')).map((a) => a.instance),
            ['gw-live'],
            "a live gateway's revocation ack stays",
          );
          assert.deepEqual(await who(), ['gw-live', 'gw-starting', 'gw-stopped']);
          assert.deepEqual(await acks.acks('mode:gateway'), []);
          assert.deepEqual((await r.live(2 * H)).sort(), ['gw-live', 'gw-stopped']);
          assert.equal(await r.forgetStale(H), 0);
          // A gateway forgotten while it was out of touch is live again at its next heartbeat.
          await r.heartbeat('gw-killed', T0, now);
          assert.deepEqual((await r.live(LIVE_MS)).sort(), ['gw-killed', 'gw-live']);
          // What an incident waits for still reads: the live gateways' acknowledgements, at the version.
          await acks.ack(key, 'gw-killed', 1, now);
          const c = await confirmed(await r.live(LIVE_MS), () => acks.acks(key), {
            at: now - 3 * H,
            version: 1,
            timeoutMs: 0,
          });
          assert.deepEqual([c.confirmed, c.missing], [true, []]);
          await r.forget('gw-killed');
          await r.forget('gw-live');
          await r.forget('gw-stopped');
        },
      );
      await t.test("a gateway's key id is kept beside its heartbeat; only live gateways are read", async () => {
        const r = store.revocations;
        const now = Date.now();
        await r.heartbeat('gw-a', T0, now - 1000);
        await r.recordKeyId('gw-a', 'aaaa000011112222', now - 900);
        await r.heartbeat('gw-a', T0, now - 500); // a later heartbeat keeps it
        await r.recordKeyId('gw-b', 'bbbb000011112222', now - 200); // before its first heartbeat: counts as one
        await r.heartbeat('gw-old', T0, now - 60_000); // an older gateway that never recorded one
        await r.heartbeat('gw-gone', T0, now - 3_600_000);
        await r.recordKeyId('gw-gone', 'cccc000011112222', now - 3_600_000);
        assert.deepEqual(await r.keyIds(120_000), [
          { instance: 'gw-a', keyId: 'aaaa000011112222' },
          { instance: 'gw-b', keyId: 'bbbb000011112222' },
          { instance: 'gw-old', keyId: undefined },
        ]);
        assert.deepEqual((await r.live(120_000)).sort(), ['gw-a', 'gw-b', 'gw-old']);
        for (const g of ['gw-a', 'gw-b', 'gw-old', 'gw-gone']) await r.forget(g);
        assert.deepEqual(await r.keyIds(0), []);
      });
      await t.test('dual control: one confirmation wins', async () => {
        const d = {
          id: 'd1',
          action: 'audit.prune',
          params: { before: T0 },
          requestedBy: 'alice',
          requestedAt: T0,
          expiresAt: T0 + 1000,
          status: 'pending' as const,
          confirmedBy: null,
          confirmedAt: null,
        };
        await store.dualControl.create(d);
        assert.deepEqual(await store.dualControl.get('d1'), d);
        const wins = await Promise.all([
          store.dualControl.confirm('d1', 'bob', T0 + 1),
          store.dualControl.confirm('d1', 'carol', T0 + 2),
        ]);
        assert.equal(wins.filter(Boolean).length, 1);
        assert.equal((await store.dualControl.get('d1'))!.status, 'done');
        assert.deepEqual(await store.dualControl.list('pending'), []);
      });
    } finally {
      await store.close();
    }
    await t.test('a closed store fails ping', async () => {
      await assert.rejects(store.ping());
    });
    await t.test('opening again (migrations already done) keeps the data', async () => {
      const again = await open();
      try {
        assert.deepEqual(await again.sessions.get('s-rich'), rich);
        assert.equal((await again.verdicts.get('up'))?.fingerprint, 'f2');
      } finally {
        await again.close();
      }
    });
  });
}

/**
 * AuditStore.search, on every driver: window by window (a small window here), `next` where the
 * search stopped, the tenant's records through its index, a `since` search starting at its records.
 */
function runSearchContract(name: string, setup: (t: TestContext) => Promise<Opener | undefined>): void {
  test(`${name}: an audit search reads the trail a window at a time and says where to go on`, async (t) => {
    const open = await setup(t);
    if (!open) return;
    const store = await open();
    try {
      const audit = store.audit;
      const events = Array.from({ length: 30 }, (_, i) =>
        rec('S', i + 1, 'call.outcome', {
          actor: { subject: 'u', tenant: (i + 1) % 10 === 0 ? 'acme' : 'globex', via: 'api-key', issuer: 'gatehouse' },
          tool: i + 1 === 25 ? 'srv__rare' : 'srv__common',
          outcome: 'ok',
        }),
      );
      await audit.appendBatch(events);
      const all = await audit.read({});
      assert.equal(all.length, 30);
      const pos = all.map((r) => r.position); // consecutive in one batch, wherever they start
      const follow = async (q: Parameters<typeof audit.search>[0], opts: Parameters<typeof audit.search>[1]) => {
        const pages: Array<{ ids: string[]; next?: number }> = [];
        for (let after: number | undefined = 0; after !== undefined && pages.length < 20; ) {
          const r = await audit.search({ ...q, afterPosition: after }, opts);
          pages.push({ ids: r.rows.map((x) => x.event.id), next: r.next });
          after = r.next;
        }
        return pages;
      };

      // A filter no index serves, one window per request: empty pages say how far they searched.
      const rare = await follow({ tool: 'srv__rare', limit: 10 }, { window: 7, budgetMs: 0 });
      assert.deepEqual(
        rare.map((p) => p.ids.join()),
        ['', '', '', 'S-25', ''],
        'pages of 7 positions, the match in the fourth',
      );
      assert.deepEqual(
        rare.map((p) => p.next),
        [pos[0] + 6, pos[0] + 13, pos[0] + 20, pos[0] + 27, undefined],
      );
      // With time to spare, one request searches on through every window.
      assert.deepEqual(await follow({ tool: 'srv__rare', limit: 10 }, { window: 7 }), [
        { ids: ['S-25'], next: undefined },
      ]);

      // A full page ends at its last record; following `next` gives each record once, in order.
      const globex = await follow({ tenant: 'globex', limit: 10 }, { window: 7 });
      assert.deepEqual(
        globex.map((p) => p.next),
        [pos[10], pos[21], undefined],
      );
      assert.deepEqual(
        globex.flatMap((p) => p.ids),
        events.filter((e) => e.actor?.tenant === 'globex').map((e) => e.id),
      );
      assert.deepEqual(await follow({ tenant: 'acme', limit: 10 }, { window: 100 }), [
        { ids: ['S-10', 'S-20', 'S-30'], next: undefined },
      ]);

      // `since`: the first window starts at the first recent record, not at the start of the trail.
      const since = Date.parse(events[19].time);
      const recent = await audit.search({ since, limit: 100 }, { window: 7, budgetMs: 0 });
      assert.deepEqual(recent.rows[0]?.event.id, 'S-20');
      assert.deepEqual(await audit.search({ since: T0 + 3_600_000, limit: 100 }, { window: 7, budgetMs: 0 }), {
        rows: [],
      });
    } finally {
      await store.close();
    }
  });
}

/** Pruning a long trail: a chunk of the oldest records per transaction, other work between them; what is left verifies. */
function runPruneContract(name: string, setup: (t: TestContext) => Promise<Opener | undefined>): void {
  test(`${name}: pruning thousands of records goes a chunk at a time and leaves chains that verify`, async (t) => {
    const open = await setup(t);
    if (!open) return;
    const store = await open();
    try {
      const old = Date.now() - 86_400_000;
      const a = new AuditLog(store.audit, newStreamName('gw'));
      const b = new AuditLog(store.audit, newStreamName('gw'));
      const appends: Promise<unknown>[] = [];
      for (let i = 0; i < 2500; i++) {
        appends.push(a.append({ kind: 'config.reloaded', at: old + i, detail: { i } }));
        appends.push(b.append({ kind: 'config.reloaded', at: old + i, detail: { i } }));
      }
      await Promise.all(appends);
      for (let i = 0; i < 10; i++) await a.append({ kind: 'config.reloaded', detail: { recent: i } });
      const { value: removed, turns } = await withLoopTurns(() => store.audit.prune(Date.now() - 60_000));
      assert.equal(removed, 5000);
      assert.ok(turns >= 2, `${turns} turns of the event loop while 5,000 records were pruned`);
      assert.equal(await store.audit.count(), 10);
      const cpA = await store.audit.checkpoint(a.stream);
      assert.equal(cpA?.seq, 2500, 'the checkpoint is the last record pruned');
      const report = await verifyAudit(store.audit, { liveStreams: new Set([a.stream]) });
      assert.equal(report.ok, true, JSON.stringify(report.problems));
    } finally {
      await store.close();
    }
  });
}

/** A migrated in-memory SQLite store, and SQLite's plan of a compiled query on it (its steps, joined). */
async function withPlans(
  run: (db: Kysely<Database>, plan: (c: { sql: string; parameters: readonly unknown[] }) => string) => Promise<void>,
): Promise<void> {
  const raw = new Sqlite(':memory:');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: raw }) });
  try {
    await migrate(db, { driver: 'sqlite' });
    await run(db, (c) =>
      (raw.prepare(`explain query plan ${c.sql}`).all(...c.parameters) as Array<{ detail: string }>)
        .map((p) => p.detail)
        .join('; '),
    );
  } finally {
    await db.destroy();
  }
}

test("sqlite: a search's window reads a tenant's records through its index, and time filters through positions", () =>
  withPlans(async (db, planOf) => {
    const plan = (q: Parameters<typeof eventsQuery>[1]) => planOf(eventsQuery(db, q, 50_000).compile());
    const tenant = plan({ tenant: 'acme', tool: 'srv__rare', afterPosition: 0 });
    assert.match(
      tenant,
      /SEARCH audit_events USING INDEX audit_events_tenant \(tenant=\? AND position>\? AND position<\?\)/,
      tenant,
    );
    // Through the time index, each window would read every record since `since` again.
    // The streams (verification, checkpoints): an index seek per stream, no scan of the records.
    const streams = planOf(streamsQuery().compile(db));
    assert.doesNotMatch(streams, /SCAN audit_events|SCAN e\b/, streams);
    // Where the windows start and end: one end of the key each, no scan.
    for (const which of ['min', 'max'] as const) {
      const ends = planOf(edge(db, which).compile());
      assert.doesNotMatch(ends, /SCAN/, ends);
    }
    const since = plan({ since: T0, tool: 'srv__rare', afterPosition: 0 });
    assert.match(
      since,
      /SEARCH audit_events USING INTEGER PRIMARY KEY \((?:rowid|position)>\? AND (?:rowid|position)<\?\)/,
      since,
    );
  }));

const tempPath = (): string => join(mkdtempSync(join(tmpdir(), 'gatehouse-store-')), 'state', 'gatehouse.db');
const openPg = (schema: string): Promise<Store> =>
  openStore({ driver: 'postgres', sqlitePath: '', postgresUrl: pgTestUrl(), pgSchema: schema });

/** A fresh schema for this test, dropped when it ends; undefined (test skipped) when PostgreSQL is down. */
async function pgSchemaFor(t: TestContext): Promise<string | undefined> {
  if (!(await requireService(t, 'postgres'))) return undefined;
  const schema = freshPgSchema();
  t.after(() => dropPgSchema(pgTestUrl(), schema));
  return schema;
}

/** A suite on every store: a new SQLite file, and a new schema on the PostgreSQL server (skipped when it is down). */
function onEveryDriver(run: (name: string, setup: (t: TestContext) => Promise<Opener | undefined>) => void): void {
  run('sqlite', async () => {
    const path = tempPath();
    return () => openStore({ driver: 'sqlite', sqlitePath: path });
  });
  run('postgres', async (t) => {
    const schema = await pgSchemaFor(t);
    return schema ? () => openPg(schema) : undefined;
  });
}

for (const run of [runContract, runPruneContract, runSearchContract]) onEveryDriver(run);

test('migrations run once: a second run executes nothing', async () => {
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: new Sqlite(':memory:') }) });
  try {
    assert.deepEqual(await migrate(db, { driver: 'sqlite' }), [
      '0001_core',
      '0002_inventory',
      '0003_api_keys',
      '0004_audit',
      '0005_modes',
      '0006_credentials',
      '0007_approvals',
      '0008_upstream_oauth',
      '0009_tenant_boundaries',
      '0010_incidents',
      '0011_audit_open_intents',
      '0012_audit_tenant_index',
      '0013_console_signouts',
      '0014_gateway_key_id',
      '0015_shared_secrets',
    ]);
    assert.deepEqual(await migrate(db, { driver: 'sqlite' }), []);
  } finally {
    await db.destroy();
  }
});

/**
 * 0011: a database written before it keeps finding the intents left open then (the table is filled
 * from the log once), later appends keep the table, and the index on intent_id is gone.
 */
async function openIntentsMigration(db: Kysely<Database>, driver: 'sqlite' | 'postgres', schema?: string) {
  await migrate(db, { driver, schema, upTo: '0010_incidents' });
  const audit = auditRepo(db, driver);
  await audit.appendBatch([rec('A', 1, 'call.intent'), rec('A', 2, 'call.intent'), rec('B', 1, 'call.intent')]);
  await audit.appendBatch([rec('A', 3, 'call.outcome', { intent: 'A-1', outcome: 'ok' })]);
  assert.deepEqual(await migrate(db, { driver, schema, upTo: '0011_audit_open_intents' }), ['0011_audit_open_intents']);
  const open = await db.selectFrom('audit_open_intents').select('id').orderBy('position').execute();
  assert.deepEqual(
    open.map((r) => r.id),
    ['A-2', 'B-1'],
  );
  assert.deepEqual(ids(await audit.openIntents(['B'])), ['A-2']);
  await audit.appendBatch([rec('B', 2, 'call.outcome', { intent: 'B-1', outcome: 'ok' }), rec('B', 3, 'call.intent')]);
  assert.deepEqual(ids(await audit.openIntents([])), ['A-2', 'B-3']);
  const indexes =
    driver === 'sqlite'
      ? await sql<{ name: string }>`select name from sqlite_master where type = 'index'`.execute(db)
      : await sql<{ name: string }>`select indexname as name from pg_indexes where schemaname = ${schema}`.execute(db);
  const names = indexes.rows.map((r) => r.name);
  assert.ok(names.includes('audit_events_run'), names.join());
  assert.ok(!names.includes('audit_events_intent'), names.join());
}

test('sqlite: migration 0011 fills the open intents from the log and drops the intent_id index', async () => {
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: new Sqlite(':memory:') }) });
  try {
    await openIntentsMigration(db, 'sqlite');
  } finally {
    await db.destroy();
  }
});

test('local secret rows (ADR 0016): put replaces, add keeps what is there, reseal only from the value read', async () => {
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: new Sqlite(':memory:') }) });
  try {
    await migrate(db, { driver: 'sqlite' });
    const rows = storeOver(db, 'sqlite').localSecrets;
    await rows.put('a', 'sealed-1', 'k1', T0);
    await rows.put('a', 'sealed-2', 'k1', T0 + 1);
    assert.deepEqual(await rows.get('a'), { sealed: 'sealed-2', keyId: 'k1', updatedAt: T0 + 1 });
    assert.equal(await rows.add('a', 'other', 'k1', T0 + 2), false);
    assert.equal(await rows.add('b', 'sealed-b', 'k1', T0 + 2), true);
    assert.equal(await rows.reseal('a', 'sealed-1', 'x', 'k2'), false, 'changed meanwhile: left to its writer');
    assert.equal(await rows.reseal('a', 'sealed-2', 'sealed-3', 'k2'), true);
    assert.deepEqual(await rows.list(), [
      { name: 'a', keyId: 'k2', updatedAt: T0 + 1 },
      { name: 'b', keyId: 'k1', updatedAt: T0 + 2 },
    ]);
    assert.equal(await rows.delete('a'), true);
    assert.equal(await rows.delete('a'), false);
    assert.equal(await rows.get('a'), undefined);
  } finally {
    await db.destroy();
  }
});

/** 0014: gateways that heartbeated before it stay, with no key id; a key id recorded after it is read. */
async function keyIdMigration(db: Kysely<Database>, driver: 'sqlite' | 'postgres', schema?: string) {
  await migrate(db, { driver, schema, upTo: '0013_console_signouts' });
  await sql`insert into gateway_instances (id, started_at, last_seen) values ('gw-before', ${T0}, ${T0})`.execute(db);
  assert.deepEqual(await migrate(db, { driver, schema, upTo: '0014_gateway_key_id' }), ['0014_gateway_key_id']);
  await migrate(db, { driver, schema });
  const r = storeOver(db, driver).revocations;
  await r.recordKeyId('gw-after', 'abcd000011112222', T0);
  assert.deepEqual(await r.keyIds(Date.now() - T0 + 60_000), [
    { instance: 'gw-after', keyId: 'abcd000011112222' },
    { instance: 'gw-before', keyId: undefined },
  ]);
}

test('sqlite: migration 0014 keeps the gateways seen before it, without a key id', async () => {
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: new Sqlite(':memory:') }) });
  try {
    await keyIdMigration(db, 'sqlite');
  } finally {
    await db.destroy();
  }
});

/** A migration test on a PostgreSQL schema of its own (skipped, visibly, without PostgreSQL). */
async function onPgSchema(
  t: TestContext,
  run: (db: Kysely<Database>, driver: 'postgres', schema: string) => Promise<void>,
): Promise<void> {
  const schema = await pgSchemaFor(t);
  if (!schema) return;
  const pool = new pg.Pool({ connectionString: pgTestUrl(), max: 1 });
  await pool.query(`create schema "${schema}"`);
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({
      pool,
      onCreateConnection: async (c) =>
        void (await c.executeQuery(sql`set search_path to ${sql.id(schema)}`.compile(db))),
    }),
  });
  try {
    await run(db, 'postgres', schema);
  } finally {
    await db.destroy();
  }
}

test('postgres: migration 0014 keeps the gateways seen before it, without a key id', (t) =>
  onPgSchema(t, keyIdMigration));

test('postgres: migration 0011 fills the open intents from the log and drops the intent_id index', (t) =>
  onPgSchema(t, openIntentsMigration));

test('sqlite: pruning finds old records through the time index, not by reading every record', () =>
  withPlans(async (db, planOf) => {
    const plan = planOf(oldestBefore(db, T0, 2000).compile());
    // Asked directly, SQLite walks the (stream, seq) index to group without sorting and reads every
    // record to test its time: seconds inside the pruning's write transaction at millions of records.
    assert.match(plan, /SEARCH audit_events USING (COVERING )?INDEX audit_events_at \(at<\?\)/, plan);
    assert.doesNotMatch(plan, /SCAN audit_events/, plan);
  }));

test('sqlite: a private directory (0700) and file (0600), in WAL mode', async () => {
  const path = tempPath();
  const store = await openStore({ driver: 'sqlite', sqlitePath: path });
  await store.sessions.create(session('s-mode'));
  try {
    assert.equal(statSync(join(path, '..')).mode & 0o777, 0o700);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(`${path}-wal`).mode & 0o777, 0o600);
    const raw = new Sqlite(path, { readonly: true });
    assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
    raw.close();
  } finally {
    await store.close();
  }
});

test('sqlite: two gateway processes opening a new file at the same moment share it', async () => {
  const path = tempPath();
  const startAt = Date.now() + 1000; // both children are loaded by then and open the file together
  const child = (tag: string) =>
    new Promise<void>((resolve, reject) => {
      const script = `import { openStore } from ${JSON.stringify(new URL('./index.ts', import.meta.url).href)};
      await new Promise((r) => setTimeout(r, ${startAt} - Date.now()));
      const store = await openStore({ driver: 'sqlite', sqlitePath: ${JSON.stringify(path)} });
      const base = ${JSON.stringify(session('x'))};
      for (let i = 0; i < 10; i++) await store.sessions.create({ ...base, id: '${tag}-' + i });
      await store.close();`;
      execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 15_000 }, (err, _out, stderr) =>
        err ? reject(new Error(stderr || err.message)) : resolve(),
      );
    });
  await Promise.all([child('a'), child('b')]);
  const store = await openStore({ driver: 'sqlite', sqlitePath: path });
  try {
    for (const tag of ['a', 'b'])
      for (let i = 0; i < 10; i++) assert.ok(await store.sessions.get(`${tag}-${i}`), `${tag}-${i}`);
  } finally {
    await store.close();
  }
});

test('sqlite: a file that is not a database is refused, naming the path', async () => {
  const path = tempPath();
  await openStore({ driver: 'sqlite', sqlitePath: join(path, '..', 'other.db') }).then((s) => s.close()); // creates the directory
  writeFileSync(path, 'not a database, just text that is long enough to have a header'.repeat(4));
  await assert.rejects(openStore({ driver: 'sqlite', sqlitePath: path }), (e: Error) =>
    e.message.startsWith(`cannot open the sqlite store \`${path}\`: `),
  );
});

/** Open `n` stores on `schema` at once; on any failure close the ones that opened, then throw. */
async function openAll(n: number, schema: string): Promise<Store[]> {
  const results = await Promise.allSettled(Array.from({ length: n }, () => openPg(schema)));
  const stores = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(stores.map((s) => s.close()));
    throw failed.reason;
  }
  return stores;
}

test('postgres: replicas opening a new schema at the same time all succeed and share it', async (t) => {
  const schema = await pgSchemaFor(t);
  if (!schema) return;
  const stores = await openAll(8, schema);
  try {
    await stores[0].sessions.create(session('s-shared'));
    for (const s of stores) assert.equal((await s.sessions.get('s-shared'))?.id, 's-shared');
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
});

test("postgres: a migration that fails on another schema's table or column dropped meanwhile is tried again; one naming ours is not", () => {
  const failed = (code: string, message: string) => new Error('migrating failed', { cause: { code, message } });
  assert.ok(droppedMeanwhile(failed('3F000', 'schema "churn_1" does not exist'), 't_ours'));
  assert.ok(!droppedMeanwhile(failed('3F000', 'schema "t_ours" does not exist'), 't_ours'));
  assert.ok(droppedMeanwhile(failed('42P01', 'relation "churn_1.t" does not exist'), 't_ours'));
  // Seen in CI: the migrator's listing of every schema's columns, while another test dropped its schema.
  assert.ok(
    droppedMeanwhile(failed('42703', 'column "accepted_by" of relation "inventory_servers" does not exist'), 't_ours'),
  );
  assert.ok(!droppedMeanwhile(failed('23505', 'duplicate key value'), 't_ours'));
  assert.ok(!droppedMeanwhile(new Error('no cause'), 't_ours'));
});

test('postgres: a store opens while other schemas of the database are created and dropped', async (t) => {
  if (!(await requireService(t, 'postgres'))) return;
  const churn = new pg.Client({ connectionString: pgTestUrl() });
  await churn.connect();
  let stop = false;
  const loop = (async () => {
    for (let i = 0; !stop; i++) {
      const s = churn.escapeIdentifier(`churn_${process.pid}_${i}`);
      // With a table: the migrator's listing reads every schema's tables and columns too.
      await churn.query(`create schema ${s}; create table ${s}.t (accepted_by text, at bigint)`);
      await churn.query(`drop schema ${s} cascade`);
      await new Promise((r) => setTimeout(r, 1)); // hostile, but leaves the other tests' opens room
    }
  })();
  try {
    // kysely's migrator lists every schema; one dropped meanwhile failed some opens.
    for (let i = 0; i < 20; i++) {
      const schema = freshPgSchema();
      try {
        await (await openPg(schema)).close();
      } finally {
        await dropPgSchema(pgTestUrl(), schema);
      }
    }
  } finally {
    stop = true;
    await loop;
    await churn.end();
  }
});

test('postgres: stores in different schemas of one database are independent', async (t) => {
  const one = await pgSchemaFor(t);
  if (!one) return;
  const two = freshPgSchema();
  t.after(() => dropPgSchema(pgTestUrl(), two));
  const a = await openPg(one); // its kysely_migration must not be mistaken for the other schema's
  try {
    const b = await openPg(two);
    try {
      await a.sessions.create(session('s-only-in-one'));
      assert.ok(await a.sessions.get('s-only-in-one'));
      assert.equal(await b.sessions.get('s-only-in-one'), undefined);
    } finally {
      await b.close();
    }
  } finally {
    await a.close();
  }
});

test('postgres: errors name the server but never the password', async (t) => {
  const refused = (url: string) =>
    openStore({ driver: 'postgres', sqlitePath: '', postgresUrl: url }).then(
      () => assert.fail('opened'),
      (e: Error) => e.message,
    );
  const plain = await refused('postgres://gh:s3cret-pw@127.0.0.1:1/test');
  assert.match(plain, /^cannot connect to postgresql at postgres:\/\/gh:\*\*\*@127\.0\.0\.1:1\/test: .*ECONNREFUSED/);
  assert.doesNotMatch(plain, /s3cret-pw/);
  const encoded = await refused('postgres://gh:p%40ss%2Fw0rd@127.0.0.1:1/test');
  assert.doesNotMatch(encoded, /p@ss|p%40ss|w0rd/);
  const query = await refused('postgres://gh@127.0.0.1:1/test?password=qu3ry-pw');
  assert.doesNotMatch(query, /qu3ry-pw/);
  // walk S: a value that is no postgres URL (a password in the wrong variable) is refused, never shown.
  for (const v of ['hunter2-SUPERSECRET-9f8e', 'hunter2:SUPERSECRET-9f8e@127.0.0.1:1/test']) {
    const m = await refused(v);
    assert.match(m, /`storage\.postgresUrl` is not a `postgres:\/\/` or `postgresql:\/\/` URL/);
    assert.doesNotMatch(m, /hunter2|SUPERSECRET/);
  }
  await assert.rejects(openStore({ driver: 'postgres', sqlitePath: '' }), /`storage\.postgresUrl` is required/);
  await assert.rejects(
    openStore({ driver: 'postgres', sqlitePath: '', postgresUrl: pgTestUrl(), pgSchema: 'x"; drop' }),
    /invalid postgresql schema name `x"; drop`/,
  );
  if (!(await requireService(t, 'postgres'))) return;
  const u = new URL(pgTestUrl());
  u.password = 'srv-pw-42';
  u.pathname = '/gatehouse_no_such_database';
  const missing = await refused(u.toString());
  assert.match(missing, /gatehouse_no_such_database/);
  assert.doesNotMatch(missing, /srv-pw-42/);
});

test('postgres tests skip visibly when the server is down, and fail when CI=true', async () => {
  const run = (ci: boolean) =>
    new Promise<{ code: number; out: string }>((resolve) => {
      const env: NodeJS.ProcessEnv = { ...process.env, GATEHOUSE_TEST_PG_URL: 'postgres://postgres@127.0.0.1:1/test' };
      delete env.NODE_TEST_CONTEXT; // run as a standalone test process, not as a child of this runner
      if (ci) env.CI = 'true';
      else delete env.CI;
      const args = [
        '--test',
        '--test-reporter=tap',
        '--test-name-pattern=^postgres: the store contract$',
        fileURLToPath(import.meta.url),
      ];
      execFile(process.execPath, args, { env, timeout: 15_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? Number(err.code ?? 1) : 0, out: stdout + stderr }),
      );
    });
  const message = 'postgres not reachable on 127.0.0.1:1 — start it to run this test';
  const [local, ci] = await Promise.all([run(false), run(true)]);
  assert.equal(local.code, 0, local.out);
  assert.ok(local.out.includes(`SKIP: ${message}\n`), local.out);
  assert.ok(local.out.includes(`# SKIP ${message}`), local.out);
  assert.equal(ci.code, 1, ci.out);
  assert.ok(ci.out.includes(message), ci.out);
  assert.match(ci.out, /# fail 1/);
});
