/**
 * A PostgreSQL store that does not answer costs a bounded wait, never an unbounded one: a query stuck
 * behind another connection's lock is cut by the server at `storage.queryTimeoutMs`, and a server
 * that answers nothing at all (a proxy that holds everything, as a SIGSTOPped server looks) is given
 * up by the client a second later; migrations are not bound. An API-key caller whose key cannot be
 * looked up gets 503 "store unavailable" naming its request, not 500 "internal error" with a null id.
 * A connection whose query the client gave up on is closed, never used again: the next queries get a
 * fresh connection, their own answers at once, and no transaction left open by a late `begin`. A
 * connection lost inside a transaction does not keep its locks for hours: the server ends the session.
 * The machine's PostgreSQL is never stopped: each test works in a schema of its own.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { randomUUID } from 'node:crypto';
import { openStore } from '../src/storage/index.ts';
import type { AuditEvent } from '../src/model/audit-event.ts';
import type { ApiKeyRecord, Store } from '../src/storage/types.ts';
import { createKey, startGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';
import { postModernCall, replyOf } from './support/rpc.ts';
import { tcpProxy } from './support/tcp-proxy.ts';
import { cutPostgres, dropPgSchema, freshPgSchema, pgTestUrl, requireService } from './support/services.ts';

const schema = freshPgSchema();
const app = `gatehouse-timeouts-${schema}`;
const stores: Store[] = [];
after(async () => {
  await Promise.all(stores.map((s) => s.close().catch(() => {})));
  await dropPgSchema(schema).catch(() => {});
});

/** The test PostgreSQL through `port` (default: its own), its connections named `name`, in `search` when given. */
function url(port?: number, name = app, search?: string): string {
  const u = new URL(pgTestUrl());
  if (port !== undefined) u.port = String(port);
  u.searchParams.set('application_name', name);
  if (search) u.searchParams.set('options', `-c search_path=${search}`);
  return u.toString();
}

async function open(queryTimeoutMs: number, port?: number, name = app): Promise<Store> {
  const s = await openStore({
    driver: 'postgres',
    sqlitePath: '',
    postgresUrl: url(port, name),
    pgSchema: schema,
    queryTimeoutMs,
  });
  stores.push(s);
  return s;
}

/** Another connection, which holds what the test makes it hold until `release`. */
async function holder(): Promise<{ c: pg.Client; release(): Promise<void> }> {
  const c = new pg.Client({ connectionString: pgTestUrl() });
  await c.connect();
  return {
    c,
    release: async () => {
      await c.query('rollback').catch(() => {});
      await c.end();
    },
  };
}

/** How long `p` took to fail, and with what; a failure of the test when it has not failed within `ms`. */
async function failsWithin(p: Promise<unknown>, ms: number): Promise<{ ms: number; err: Error }> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((r) => {
    timer = setTimeout(() => r('hung'), ms);
  });
  try {
    const r = await Promise.race([
      p.then(
        () => 'answered' as const,
        (err: Error) => err,
      ),
      hung,
    ]);
    if (r === 'hung') assert.fail(`still waiting after ${ms} ms: no bound`);
    if (r === 'answered') assert.fail('answered: the test did not block it');
    return { ms: performance.now() - t0, err: r };
  } finally {
    clearTimeout(timer);
  }
}

test('a query waiting on a lock held by another connection is cut at storage.queryTimeoutMs; the store works after', async (t) => {
  if (!(await requireService(t, 'postgres'))) return;
  const store = await open(500);
  const h = await holder();
  try {
    await h.c.query('begin');
    await h.c.query(`lock table "${schema}".api_keys in access exclusive mode`);
    const { ms, err } = await failsWithin(store.apiKeys.get('0123456789abcdef'), 5000);
    assert.match(err.message, /statement timeout/);
    assert.ok(ms >= 400 && ms < 3000, `cut after ${Math.round(ms)} ms`);
  } finally {
    await h.release();
  }
  assert.equal(await store.apiKeys.get('0123456789abcdef'), undefined, 'the connection is usable again');
});

test('a server that answers nothing (a frozen proxy: a SIGSTOPped server) fails the query a second after the bound', async (t) => {
  if (!(await requireService(t, 'postgres'))) return;
  const p = await tcpProxy(t, Number(new URL(pgTestUrl()).port || 5432));
  const store = await open(500, p.port);
  await store.ping();
  p.freeze(true);
  try {
    const { ms, err } = await failsWithin(store.ping(), 6000);
    assert.match(err.message, /timeout/i);
    assert.ok(ms >= 1400 && ms < 4000, `given up after ${Math.round(ms)} ms`);
  } finally {
    p.freeze(false);
  }
  await eventually(() => store.ping().then(() => true), { timeoutMs: 10_000 });
});

/** The server processes of connections named `name`, by pid, with their state (from another connection). */
async function backends(name: string): Promise<Map<number, string>> {
  const h = await holder();
  try {
    const r = await h.c.query<{ pid: number; state: string | null }>(
      'select pid, state from pg_stat_activity where application_name = $1',
      [name],
    );
    return new Map(r.rows.map((row) => [row.pid, row.state ?? '']));
  } finally {
    await h.release();
  }
}

/** The one server process of a store opened as `name` (once the migrations' own connection is gone). */
async function onlyBackend(name: string): Promise<number> {
  const pids = await eventually(async () => {
    const b = await backends(name);
    return b.size === 1 && [...b.keys()];
  });
  return pids[0]!;
}

function keyRecord(id: string): ApiKeyRecord {
  return {
    id,
    name: `name-${id}`,
    hash: `hash-${id}`,
    tenant: 'acme',
    subject: null,
    roles: [],
    scopes: [],
    createdAt: 1,
    createdBy: 'test',
    expiresAt: null,
    lastUsedAt: null,
    revokedAt: null,
    revokedBy: null,
  };
}

test('a connection lost with no reset fails its query at the bound and is never used again: the next queries get a fresh connection and their own rows at once', async (t) => {
  if (!(await requireService(t, 'postgres'))) return;
  const p = await tcpProxy(t, Number(new URL(pgTestUrl()).port || 5432));
  const name = `${app}-lost`;
  const store = await open(500, p.port, name);
  for (const id of ['key-a', 'key-b']) await store.apiKeys.create(keyRecord(id));
  assert.equal((await store.apiKeys.get('key-a'))?.name, 'name-key-a');
  const first = await onlyBackend(name);
  p.lose(); // the store's connection: nothing arrives any more, either way; new connections work
  const { err } = await failsWithin(store.apiKeys.get('key-a'), 6000);
  assert.match(err.message, /timeout/i);
  // Before, the pool handed the lost connection to the next query, which waited behind the lost
  // answer and failed at the bound too: every query, for as long as the store was busy.
  for (const id of ['key-b', 'key-a', 'key-b']) {
    const t0 = performance.now();
    const r = await store.apiKeys.get(id).catch((e: Error) => e);
    const ms = Math.round(performance.now() - t0);
    if (r instanceof Error) assert.fail(`${r.message} after ${ms} ms: it waited behind the lost query`);
    assert.equal(r?.id, id, 'its own row');
    assert.ok(ms < 1000, `answered after ${ms} ms: it waited behind the lost query`);
  }
  await store.ping();
  const now = await backends(name);
  assert.ok(
    [...now.keys()].some((pid) => pid !== first),
    'the queries after ran on a fresh connection',
  );
  // The client's close never reaches the server (lost), so the lost connection's server process
  // stays, as it would after a real partition until the server's TCP keepalive ends it (about two
  // hours by default; statement_timeout bounds a running statement, not a session): idle, outside
  // any transaction, it holds no lock. Inside a transaction the server ends it (the next test).
  assert.equal(now.get(first), 'idle', 'the lost connection holds nothing on the server');
});

test('a begin that reaches the server after the client gave up leaves no pooled connection inside a transaction: what is written next is seen by every connection', async (t) => {
  if (!(await requireService(t, 'postgres'))) return;
  const p = await tcpProxy(t, Number(new URL(pgTestUrl()).port || 5432));
  const name = `${app}-late`;
  const store = await open(500, p.port, name);
  await store.ping();
  const first = await onlyBackend(name);
  p.freeze(true);
  try {
    // A transaction whose `begin` goes unanswered: it is held, and reaches the server on thaw.
    const { err } = await failsWithin(
      store.inventory.update('srv', () => ({ change: {}, result: 0 })),
      6000,
    );
    assert.match(err.message, /timeout/i);
  } finally {
    p.freeze(false);
  }
  await store.apiKeys.create(keyRecord('key-late'));
  assert.equal((await store.apiKeys.get('key-late'))?.id, 'key-late');
  const h = await holder();
  try {
    const seen = await h.c.query(`select id from "${schema}".api_keys where id = $1`, ['key-late']);
    // Before, the late `begin` opened a transaction on the pooled connection that nothing ended, and
    // the key was written inside it: the store read it back, no other connection (replica) saw it.
    assert.equal(seen.rowCount, 1, 'the key is committed: another connection sees it');
  } finally {
    await h.release();
  }
  const now = await backends(name);
  assert.ok(
    ![...now.values()].some((state) => state.startsWith('idle in transaction')),
    `no connection left in a transaction: ${JSON.stringify([...now])}`,
  );
  assert.ok(
    [...now.keys()].some((pid) => pid !== first),
    'the write ran on a fresh connection',
  );
});

test('a query of a transaction that goes unanswered fails it after one bound: the rollback does not wait behind it', async (t) => {
  if (!(await requireService(t, 'postgres'))) return;
  const p = await tcpProxy(t, Number(new URL(pgTestUrl()).port || 5432));
  const store = await open(500, p.port, `${app}-tx`);
  await store.ping();
  p.freezeOn('pg_advisory_xact_lock'); // inventory.update's first statement after `begin`
  try {
    const { ms, err } = await failsWithin(
      store.inventory.update('srv', () => ({ change: {}, result: 0 })),
      6000,
    );
    assert.match(err.message, /timeout/i);
    // The bound is 500 + 1000 ms; before, kysely's rollback queued behind the lost query and waited a
    // bound of its own (3 s in all).
    assert.ok(ms >= 1400 && ms < 2500, `failed after ${Math.round(ms)} ms`);
  } finally {
    p.freeze(false);
  }
  assert.equal(await store.inventory.update('srv', () => ({ change: {}, result: 7 })), 7);
  await store.ping();
});

function auditEvent(stream: string): AuditEvent {
  return {
    v: 1,
    stream,
    seq: 1,
    prev: '0'.repeat(64),
    hash: 'a'.repeat(64),
    time: new Date().toISOString(),
    id: `intent-${stream}`,
    kind: 'call.intent',
    tool: 'x__y',
  };
}

test('a connection lost inside a transaction (the audit append, holding its lock) is ended by the server 2 s after storage.queryTimeoutMs: another replica appends within seconds, not hours', async (t) => {
  if (!(await requireService(t, 'postgres'))) return;
  const p = await tcpProxy(t, Number(new URL(pgTestUrl()).port || 5432));
  const name = `${app}-idle-tx`;
  const store = await open(1000, p.port, name);
  const replica = await open(1000); // another replica, straight to the server
  await store.ping();
  const first = await onlyBackend(name);
  // The append's transaction takes the append lock (audit-repo.ts APPEND_LOCK); its insert is held.
  p.freezeOn('insert into "audit_events"');
  const appending = store.audit.appendBatch([auditEvent(`lost-${randomUUID()}`)]);
  await eventually(async () => (await backends(name)).get(first) === 'idle in transaction', { intervalMs: 20 });
  p.lose(); // a partition: nothing more either way, no reset; the client's close never reaches the server
  const lockedAt = performance.now();
  await failsWithin(appending, 6000);
  // Before, the server kept that process idle in its transaction, holding the lock, until its TCP
  // keepalive noticed (about two hours): every replica's audit append waited for it and failed.
  await eventually(() => replica.audit.appendBatch([auditEvent(`replica-${randomUUID()}`)]).then(() => true), {
    timeoutMs: 10_000,
  });
  const ms = performance.now() - lockedAt;
  // Ended 1000 + 2000 ms after the lock was taken (postgres.ts connect).
  assert.ok(ms < 5000, `the lock was free after ${Math.round(ms)} ms`);
  assert.ok(!(await backends(name)).has(first), 'the server ended the lost session');
});

test('migrations are not bound by the query timeout: waiting for the migration lock is not a stuck query', async (t) => {
  if (!(await requireService(t, 'postgres'))) return;
  const h = await holder();
  // The lock every opening store takes around migrations (postgres.ts MIGRATE_LOCK), held for a second.
  await h.c.query("select pg_advisory_lock(x'67617465686f7573'::bigint)");
  const release = setTimeout(() => void h.release(), 1000);
  try {
    const store = await open(200);
    await store.ping();
  } finally {
    clearTimeout(release);
    await h.release().catch(() => {});
  }
});

test('a replica lost while holding the migration lock (no reset) is ended by the server within seconds: the next replica opens, not after lock_timeout fails it', async (t) => {
  if (!(await requireService(t, 'postgres'))) return;
  const p = await tcpProxy(t, Number(new URL(pgTestUrl()).port || 5432));
  const name = `${app}-lost-migrator`;
  // Held right after the lock is taken: the migrator's next statement never reaches the server.
  p.freezeOn('create schema if not exists');
  const lostOpen = open(1000, p.port, name);
  lostOpen.catch(() => {}); // fails once the test ends and the proxy's sockets go
  const holderPid = await eventually(async () => {
    const h = await holder();
    try {
      const r = await h.c.query<{ pid: number }>(
        `select l.pid from pg_locks l join pg_stat_activity a on a.pid = l.pid
         where l.locktype = 'advisory' and l.granted and a.application_name = $1`,
        [name],
      );
      return r.rows[0]?.pid;
    } finally {
      await h.release();
    }
  });
  p.lose(); // a partition: the server keeps the session, idle, holding the lock, and hears nothing more
  p.freeze(false);
  const t0 = performance.now();
  // Before, the server kept that session until its TCP keepalive noticed (about two hours), and every
  // other replica waited lock_timeout (60 s) for the lock and failed to open.
  const opened = open(1000);
  const late = new Promise<'late'>((r) => setTimeout(() => r('late'), 20_000).unref());
  const r = await Promise.race([opened.then((s) => s.ping()).then(() => 'opened' as const), late]);
  assert.equal(r, 'opened', 'the next replica could not take the migration lock within 20 s');
  const ms = performance.now() - t0;
  assert.ok(ms < 12_000, `opened after ${Math.round(ms)} ms`);
  assert.ok(!(await backends(name)).has(holderPid), 'the server ended the lost session');
});

test("an API-key caller whose key lookup fails gets 503 store unavailable naming its request's id", async (t) => {
  if (!(await requireService(t, 'postgres'))) return;
  const gwSchema = freshPgSchema();
  const gwApp = `gatehouse-timeouts-gw-${gwSchema}`;
  const setup = await holder();
  await setup.c.query(`create schema "${gwSchema}"`);
  await setup.release();
  const g = await startGateway('', {
    storage: `storage:\n  driver: postgres\n  postgresUrl: ${JSON.stringify(url(undefined, gwApp, gwSchema))}\n`,
    top: 'identity: { apiKeys: true }\n',
  });
  t.after(async () => {
    await g.close();
    await dropPgSchema(gwSchema).catch(() => {});
  });
  const key = await createKey(g.file, { name: 'agent', tenant: 'acme', scopes: 'x' });
  // The key lookup waits behind a lock, and the gateway's connections are then cut: the store fails it.
  const h = await holder();
  try {
    await h.c.query('begin');
    await h.c.query(`lock table "${gwSchema}".api_keys in access exclusive mode`);
    const id = randomUUID();
    const pending = postModernCall(g.url, 'x__y', {}, { token: key, id });
    await eventually(async () => {
      const r = await h.c.query(
        "select 1 from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'",
        [gwApp],
      );
      return (r.rowCount ?? 0) > 0;
    });
    assert.ok((await cutPostgres(gwApp)) >= 1);
    const r = await pending;
    const body = await replyOf(r);
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '5');
    assert.equal(body.id, id, 'the answer names the request it answers');
    assert.equal(body.error.code, -32603);
    assert.match(body.error.message, /store is unavailable/);
    assert.doesNotMatch(JSON.stringify(body), /terminat|postgres|127\.0\.0\.1|at .*\.ts/i, 'no internals on the wire');
  } finally {
    await h.release();
  }
  // The store back, the same key works.
  const ok = await postModernCall(g.url, 'x__y', {}, { token: key });
  assert.notEqual(ok.status, 503);
});
