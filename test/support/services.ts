/**
 * PostgreSQL and Redis for tests: the servers on this machine (127.0.0.1:5432 trust auth, database
 * `test`, or GATEHOUSE_TEST_PG_URL; 127.0.0.1:6379). When one is down its tests are skipped with a
 * visible message, except in CI (CI=true), where a skip would hide a broken set-up: the test fails.
 * Each test file works in its own fresh PostgreSQL schema, so files running in parallel never collide.
 */
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import pg from 'pg';
import { Redis } from 'ioredis';

const CONNECT_TIMEOUT_MS = 1000;

export function pgTestUrl(): string {
  return process.env.GATEHOUSE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
}

/** Whether a TCP connection to `host:port` opens within the timeout. */
function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(CONNECT_TIMEOUT_MS, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

function pgAddress(): { host: string; port: number } {
  const u = new URL(pgTestUrl());
  return { host: u.hostname, port: Number(u.port || 5432) };
}

export async function postgresAvailable(): Promise<boolean> {
  const { host, port } = pgAddress();
  return reachable(host, port);
}

export async function redisAvailable(): Promise<boolean> {
  return reachable('127.0.0.1', 6379);
}

/** Delete a test's keys (under its own `prefix`) from the shared test Redis. */
export async function dropRedisKeys(prefix: string): Promise<void> {
  const admin = new Redis('redis://127.0.0.1:6379');
  try {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length) await admin.del(...keys);
  } finally {
    await admin.quit();
  }
}

/**
 * Skip `t` (or, when CI=true, fail it) if `name` is not reachable. Returns whether the test may go
 * on: `if (!(await requireService(t, 'postgres'))) return;`
 */
export async function requireService(t: TestContext, name: 'postgres' | 'redis'): Promise<boolean> {
  const up = name === 'postgres' ? await postgresAvailable() : await redisAvailable();
  if (up) return true;
  const where = name === 'postgres' ? `${pgAddress().host}:${pgAddress().port}` : '127.0.0.1:6379';
  const message = `${name} not reachable on ${where} — start it to run this test`;
  if (process.env.CI === 'true') assert.fail(message);
  process.stderr.write(`SKIP: ${message}\n`);
  t.skip(message);
  return false;
}

/** A random schema name, unique to one test file. */
export function freshPgSchema(): string {
  return `t_${randomBytes(6).toString('hex')}`;
}

/** Create a test schema (empty, in pgTestUrl()'s database) for a gateway's store to migrate into. */
export async function createPgSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: pgTestUrl(), connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${c.escapeIdentifier(schema)}`);
  } finally {
    await c.end();
  }
}

/** Drop a test schema and everything in it (from pgTestUrl() when no url is given). */
export async function dropPgSchema(schema: string): Promise<void>;
export async function dropPgSchema(url: string, schema: string): Promise<void>;
export async function dropPgSchema(a: string, b?: string): Promise<void> {
  const [url, schema] = b === undefined ? [pgTestUrl(), a] : [a, b];
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS ${c.escapeIdentifier(schema)} CASCADE`);
  } finally {
    await c.end();
  }
}

/**
 * Reset every PostgreSQL connection whose application_name is `app` from another connection, the way a
 * failover or a server restart looks to a client (never anyone else's: the server is shared); how many.
 */
export async function cutPostgres(app: string): Promise<number> {
  const c = new pg.Client({ connectionString: pgTestUrl() });
  await c.connect();
  try {
    const r = await c.query(
      'select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and pid <> pg_backend_pid()',
      [app],
    );
    return r.rowCount ?? 0;
  } finally {
    await c.end();
  }
}

/** A postgres URL whose connections use `schema` (which must exist) as their search_path. */
export function pgUrlWithSchema(schema: string): string {
  const u = new URL(pgTestUrl());
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}
