/**
 * A PostgreSQL store that does not answer costs a bounded wait, never an unbounded one: a query stuck
 * behind another connection's lock is cut by the server at `storage.queryTimeoutMs`, and a server
 * that answers nothing at all (a proxy that holds everything, as a SIGSTOPped server looks) is given
 * up by the client a second later; migrations are not bound. An API-key caller whose key cannot be
 * looked up gets 503 "store unavailable" naming its request, not 500 "internal error" with a null id.
 * The machine's PostgreSQL is never stopped: each test works in a schema of its own.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { randomUUID } from 'node:crypto';
import { openStore } from '../src/storage/index.ts';
import type { Store } from '../src/storage/types.ts';
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

async function open(queryTimeoutMs: number, port?: number): Promise<Store> {
  const s = await openStore({
    driver: 'postgres',
    sqlitePath: '',
    postgresUrl: url(port),
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
