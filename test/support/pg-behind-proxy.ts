/** A PostgreSQL store a test can cut: a fresh schema reached through a TCP proxy, read directly beside it. */
import type { TestContext } from 'node:test';
import pg from 'pg';
import { dropPgSchema, freshPgSchema, pgTestUrl } from './services.ts';
import { tcpProxy, type TcpProxy } from './tcp-proxy.ts';

/**
 * A fresh schema (dropped after the test), `url` reaching it through `proxy` (down/up cut and mend
 * the store), and `admin`, a direct connection for reading what was stored while the proxy is down.
 */
export async function pgBehindProxy(
  t: TestContext,
): Promise<{ schema: string; admin: pg.Client; proxy: TcpProxy; url: URL }> {
  const schema = freshPgSchema();
  const admin = new pg.Client({ connectionString: pgTestUrl() });
  await admin.connect();
  t.after(async () => {
    await admin.end();
    await dropPgSchema(schema).catch(() => {});
  });
  await admin.query(`create schema "${schema}"`);
  const proxy = await tcpProxy(t, Number(new URL(pgTestUrl()).port || 5432));
  const url = new URL(pgTestUrl());
  url.port = String(proxy.port);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return { schema, admin, proxy, url };
}
