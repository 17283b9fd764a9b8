/**
 * Store faults on a real PostgreSQL: connections reset under the gateway (pg_terminate_backend from
 * another connection, the way a failover or a server restart looks to a client) while clients are
 * idle, checked out inside a transaction, and mid-query. The process survives, the operation in
 * flight fails (so the caller fails closed), and the next operation works on a new connection.
 * And one record that PostgreSQL cannot hold never costs another record its place. Redis: the
 * limiter's own connection killed by the server (CLIENT KILL ID, never all clients: the server is shared).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { sql } from 'kysely';
import { openStore } from '../src/storage/index.ts';
import type { Store } from '../src/storage/types.ts';
import { AuditLog } from '../src/audit/log.ts';
import { verifyAudit } from '../src/audit/verify.ts';
import { Kysely, PostgresDialect } from 'kysely';
import { hardenPool } from '../src/storage/postgres.ts';
import {
  cutPostgres,
  dropPgSchema,
  freshPgSchema,
  pgTestUrl,
  postgresAvailable,
  requireService,
} from './support/services.ts';
import { eventually } from './support/eventually.ts';

const schema = freshPgSchema();
const app = `gatehouse-faults-${schema}`;
let store: Store | undefined;

function url(): string {
  const u = new URL(pgTestUrl());
  u.searchParams.set('application_name', app);
  return u.toString();
}

/** Reset every connection of this test's store from another connection; how many were reset. */
const resetConnections = () => cutPostgres(app);

/** Whether a connection of this test is running a query containing `text` (waiting on `waitType`, if given). */
async function running(text: string, waitType?: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: pgTestUrl() });
  await c.connect();
  try {
    const r = await c.query(
      `select 1 from pg_stat_activity where application_name = $1 and state = 'active' and position($2 in query) > 0
         and ($3::text is null or wait_event_type = $3)`,
      [app, text, waitType ?? null],
    );
    return (r.rowCount ?? 0) > 0;
  } finally {
    await c.end();
  }
}

before(async () => {
  if (await postgresAvailable())
    store = await openStore({ driver: 'postgres', sqlitePath: '', postgresUrl: url(), pgSchema: schema });
});
after(async () => {
  await store?.close();
  if (store) await dropPgSchema(schema);
});

test('postgresql: idle pooled connections reset under the store; the next operations reconnect', async (t) => {
  if (!(await requireService(t, 'postgres')) || !store) return;
  await store.modes.list();
  assert.ok((await resetConnections()) >= 1);
  // The reset connection may be handed out once more before the pool notices; a later try never fails.
  let tries = 0;
  await eventually(
    () => {
      tries++;
      return store!.modes.list().then(
        () => true,
        () => false,
      );
    },
    { timeoutMs: 5000, intervalMs: 100 },
  );
  assert.ok(tries <= 3, `the store works again (after ${tries} tries)`);
});

test('postgresql: a connection reset mid-transaction and mid-query fails those operations only; the process survives', async (t) => {
  if (!(await requireService(t, 'postgres'))) return;
  // The store's own pool set-up (hardenPool), under a kysely of this test's: a transaction can be held open.
  const pool = hardenPool(new pg.Pool({ connectionString: url(), max: 4 }), () => {});
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  try {
    let inside: () => void = () => {};
    const entered = new Promise<void>((r) => {
      inside = r;
    });
    let resume: () => void = () => {};
    const reset = new Promise<void>((r) => {
      resume = r;
    });
    const held = db
      .transaction()
      .execute(async (trx) => {
        await sql`select 1`.execute(trx);
        // Checked out and idle inside the transaction when the reset comes: the client emits 'error'.
        inside();
        await reset;
        await sql`select 1`.execute(trx);
      })
      .then(
        () => 'finished',
        (err: Error) => err,
      );
    const sleeping = sql`select pg_sleep(5)`.execute(db).then(
      () => 'finished',
      (err: Error) => err,
    );
    await entered;
    await eventually(() => running('select pg_sleep(5)'));
    const count = await resetConnections();
    resume();
    assert.ok(count >= 2);
    assert.ok((await held) instanceof Error, 'the transaction fails');
    assert.ok((await sleeping) instanceof Error, 'the query fails');
    let tries = 0;
    await eventually(
      () => {
        tries++;
        return sql`select 1`.execute(db).then(
          () => true,
          () => false,
        );
      },
      { timeoutMs: 5000, intervalMs: 100 },
    );
    assert.ok(tries <= 3, `the pool works again (after ${tries} tries)`);
  } finally {
    await db.destroy();
  }
});

test('postgresql: audit appends fail closed while the connection is reset, and resume on the same chain', async (t) => {
  if (!(await requireService(t, 'postgres')) || !store) return;
  const log = new AuditLog(store.audit, `faults/${schema}/reset`);
  await log.append({ kind: 'stream.opened' });
  // Another process holds the append lock, so the next batch waits inside its transaction when the reset comes.
  const locker = new pg.Client({ connectionString: pgTestUrl() });
  await locker.connect();
  await locker.query('select pg_advisory_lock($1::bigint)', [String(0x6761_7465_6175_6469n)]);
  const waiting = log.append({ kind: 'admin.action', detail: { during: 'reset' } }).then(
    () => undefined,
    (err: Error) => err,
  );
  // The append waits for the lock inside its transaction.
  await eventually(() => running('pg_advisory_xact_lock', 'Lock'));
  await resetConnections();
  assert.match(String(await waiting), /audit store refused the write/, 'the caller is told, so it fails closed');
  await locker.end();
  let written = 0;
  for (let i = 0; i < 5; i++)
    written += await log.append({ kind: 'admin.action', detail: { i } }).then(
      () => 1,
      () => 0,
    );
  assert.ok(written >= 4, `at most the first append after the reset may fail (${written} of 5 written)`);
  const v = await verifyAudit(store.audit);
  assert.equal(v.ok, true, JSON.stringify(v));
});

test("postgresql: a NUL in one tenant's tool name costs no other record its place in the batch", async (t) => {
  if (!(await requireService(t, 'postgres')) || !store) return;
  const log = new AuditLog(store.audit, `faults/${schema}/nul`);
  const actor = (tenant: string) => ({ subject: 'u', tenant, via: 'api_key', issuer: 'gatehouse' });
  const results = await Promise.allSettled([
    log.append({ kind: 'call.refused', actor: actor('acme'), tool: 'x__ok', outcome: 'refused' }),
    log.append({ kind: 'call.refused', actor: actor('evil'), tool: 'x__a\u0000b', outcome: 'refused' }),
    log.append({ kind: 'call.refused', actor: actor('globex\u0000'), tool: 'x__\ud800', outcome: 'refused' }),
    log.append({ kind: 'call.refused', actor: actor('initech'), tool: 'x__ok2', outcome: 'refused' }),
  ]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'],
  );
  const rows = await store.audit.read({ stream: log.stream });
  assert.deepEqual(
    rows.map((r) => r.event.tool),
    ['x__ok', 'x__a\u0000b', 'x__\ufffd', 'x__ok2'],
    'the record keeps the exact name (a lone surrogate cannot be hashed: replaced, and said so)',
  );
  assert.equal(rows[2].event.detail?.replacedUnpairedSurrogates, true);
  assert.equal(rows[2].event.actor?.tenant, 'globex\u0000');
  assert.equal(
    (await store.audit.read({ tool: 'x__a\ufffdb' })).length,
    1,
    'the indexed column holds a searchable copy',
  );
  assert.equal((await verifyAudit(store.audit)).ok, true);
});

test("redis: the limiter's connection killed by the server (CLIENT KILL): the process survives, limits go local, then back to Redis", async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const { Redis } = await import('ioredis');
  const { RedisLimiter } = await import('../src/limits/redis.ts');
  const name = `gatehouse-fault-${schema}`;
  const prefix = `gatehouse-test:faults:${schema}:`;
  const l = new RedisLimiter([{ id: 'r', scope: 'principal', rate: { points: 100, perSeconds: 60 } }], {
    url: 'redis://127.0.0.1:6379',
    keyPrefix: prefix,
    retryIntervalMs: 100,
    redisOptions: { connectionName: name },
  });
  const admin = new Redis('redis://127.0.0.1:6379');
  const call = { tenant: 'acme', subject: 'alice', tool: 'x__y' };
  try {
    assert.ok(await l.ready());
    assert.equal((await l.acquire(call)).ok, true);
    // Only this test's own connection: the Redis server is shared.
    const list = String(await admin.client('LIST'));
    const id = list
      .split('\n')
      .find((line) => line.includes(` name=${name} `))
      ?.match(/^id=(\d+)/)?.[1];
    assert.ok(id, "the limiter's connection is listed");
    await admin.client('KILL', 'ID', id);
    assert.equal((await l.acquire(call)).ok, true, 'a decision is still made (locally, if Redis is not back yet)');
    await eventually(async () => {
      await l.acquire({ ...call, subject: 'probe' });
      assert.ok(!l.degraded, 'limits are shared through Redis again');
      return true;
    });
  } finally {
    await l.close();
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length) await admin.del(...keys);
    await admin.quit();
  }
});
