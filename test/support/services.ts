/**
 * PostgreSQL and Redis for tests: the servers on this machine (127.0.0.1:5432 trust auth, database
 * `test`; 127.0.0.1:6379). When one is down its tests are skipped with a visible message — except in
 * CI (CI=true), where a skip would hide a broken set-up, so the test fails instead.
 */
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import pg from 'pg';

export function pgTestUrl(): string {
  return process.env.GATEHOUSE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
}

function reachable(host: string, port: number, ms = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(ms, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export async function postgresAvailable(): Promise<boolean> {
  const u = new URL(pgTestUrl());
  return reachable(u.hostname, Number(u.port || 5432));
}

export async function redisAvailable(): Promise<boolean> {
  return reachable('127.0.0.1', 6379);
}

/** Skip (or, under CI, fail) when the service is not reachable. Returns true when the test may run. */
export async function requireService(t: TestContext, name: 'postgres' | 'redis'): Promise<boolean> {
  const ok = name === 'postgres' ? await postgresAvailable() : await redisAvailable();
  if (ok) return true;
  const where = name === 'postgres' ? new URL(pgTestUrl()).host : '127.0.0.1:6379';
  const message = `${name} not reachable on ${where} — start it to run this test`;
  if (process.env.CI === 'true') assert.fail(`${message} (CI=true: a skipped service test is a failure)`);
  process.stderr.write(`SKIP: ${message}\n`);
  t.skip(message);
  return false;
}

export function freshPgSchema(): string {
  return `t_${randomBytes(6).toString('hex')}`;
}

export async function dropPgSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: pgTestUrl() });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}

/** A postgres URL whose connections use `schema` (created by the store on open). */
export function pgUrlWithSchema(schema: string): string {
  const u = new URL(pgTestUrl());
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}
