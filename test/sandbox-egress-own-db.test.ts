/**
 * The gateway's own PostgreSQL (and Redis) are refused to a sandboxed server, `allowLoopback` or not,
 * wherever their address comes from. pg takes the host and port from the connection string's query
 * before its hostname, then from PGHOST and PGPORT; ioredis takes them from the query when the URL
 * has none. `backingServices` read only the URL's hostname (2026-12-07, walk Z:
 * `postgres:///test?host=127.0.0.1&port=5432` was no backing service, so a sandbox allowed
 * `127.0.0.1:5432` with `allowLoopback` loaded and tunnelled into the gateway's own database). Now it
 * reads them as the clients do: refused at the entry's file and line, and by the egress proxy of a
 * real gateway whose store is that database (real PostgreSQL, real bubblewrap).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, runCli, stdioServer } from './support/gateway.ts';
import { postModernCall } from './support/rpc.ts';
import { dropPgSchema, freshPgSchema, pgTestUrl, requireService } from './support/services.ts';
import { createSchema } from './support/scale-out.ts';
import { ConfigError, parseConfig } from '../src/config/load.ts';
import { Gateway } from '../src/main.ts';
import { silentLogger } from '../src/observability/logger.ts';
import { findExecutable } from '../src/util/paths.ts';

const EGRESS = join(ROOT, 'test/fixtures/upstreams/egress-server.ts');
const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-egress-own-db-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A config whose store or Redis is `head`, with one sandboxed server allowed `allow` and loopback. */
function configText(head: string, allow: string): string {
  return (
    `version: 1\n${head}gateway:\n  listen: { host: 127.0.0.1, port: 0 }\n  stateDir: ${JSON.stringify(join(tmp, 'state'))}\nservers:\n` +
    `${stdioServer('box', EGRESS)}    tools: { fetch: { class: READ }, tunnel: { class: READ } }\n` +
    `    sandbox:\n      network:\n        allowLoopback: true\n        allow:\n          - ${JSON.stringify(allow)}\n`
  );
}
const store = (url: string) => `storage: { driver: postgres, postgresUrl: ${JSON.stringify(url)} }\n`;
const redis = (url: string) => `limits: { redis: { url: ${JSON.stringify(url)} } }\n`;
function issues(text: string): string[] {
  try {
    parseConfig(text, 'g.yaml');
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => `${i.line} ${i.path}: ${i.message}`);
  }
}
/** Set PGHOST/PGPORT (undefined: unset) for this process; a function that restores them. */
function setPgEnv(host: string | undefined, port: string | undefined): () => void {
  const saved = { PGHOST: process.env.PGHOST, PGPORT: process.env.PGPORT };
  const set = (v: Record<'PGHOST' | 'PGPORT', string | undefined>) => {
    for (const [k, x] of Object.entries(v))
      if (x === undefined) delete process.env[k];
      else process.env[k] = x;
  };
  set({ PGHOST: host, PGPORT: port });
  return () => set(saved);
}
/** The line of the allow entry (it is the last line of `configText`). */
const entryLine = (text: string) => text.trimEnd().split('\n').length;

const OWN_DB = /^\d+ servers\[0\]\.sandbox\.network\.allow\[0\]: names the gateway's own database/;

test("config: the gateway's own database is refused however pg finds it (query host/port, PGHOST/PGPORT); a unix socket is no address", () => {
  for (const url of [
    'postgres:///gh?host=127.0.0.1&port=5433',
    'postgres:///gh?user=gh&host=localhost&port=5433',
    'postgres://gh@localhost/gh?port=5433',
    'postgres://gh@10.9.9.9:5432/gh?host=127.0.0.1&port=5433', // the query wins over the URL's own
    // TLS parameters moving nothing, one naming a file that is not there (pg would fail reading it).
    'postgres:///gh?sslmode=require&sslrootcert=/nonexistent/ca.pem&host=127.0.0.1&port=5433',
    'postgres:///gh?uselibpqcompat=true&sslmode=verify-ca&host=127.0.0.1&port=5433', // pg refuses this one
  ]) {
    const found = issues(configText(store(url), '127.0.0.1:5433'));
    assert.equal(found.length, 1, url);
    assert.match(found[0], OWN_DB, url);
    assert.ok(!found[0].includes('5433'), 'the entry is not echoed');
  }
  // No host or port in the URL: pg takes the environment's.
  const restore = setPgEnv('127.0.0.1', '5433');
  try {
    const text = configText(store('postgres:///gh'), '[::1]:5433');
    const found = issues(text);
    assert.match(found[0] ?? '', OWN_DB);
    assert.ok(found[0].startsWith(`${entryLine(text)} `), found[0]);
  } finally {
    restore();
  }
  // A unix socket: no TCP address, so a loopback entry opted in passes (as before).
  assert.deepEqual(issues(configText(store('postgresql:///gh?host=/run/postgresql'), '127.0.0.1:5432')), []);
  assert.deepEqual(issues(configText(store('postgres://gh@127.0.0.1:5433/gh'), '127.0.0.1:5432')), []);
});

test("config: the gateway's own Redis is refused when its URL's query names the host or port", () => {
  for (const url of ['redis://localhost?port=6390', 'redis:///?host=127.0.0.1&port=6390']) {
    const found = issues(configText(redis(url), '127.0.0.1:6390'));
    assert.equal(found.length, 1, url);
    assert.match(found[0], /allow\[0\]: names the gateway's own Redis/, url);
  }
  // ioredis: the URL's own port wins over the query's.
  assert.deepEqual(issues(configText(redis('redis://127.0.0.1:6391?port=6390'), '127.0.0.1:6390')), []);
});

test('gatehouse config validate points at the file and line of an entry naming the database by PGHOST/PGPORT', async () => {
  const file = join(tmp, 'own-db.yaml');
  const text = configText(store('postgres:///gh'), '127.0.0.1:5433');
  writeFileSync(file, text);
  const r = await runCli(['config', 'validate', file], { env: { PGHOST: 'localhost', PGPORT: '5433' } });
  assert.equal(r.code, 2, r.stderr);
  const at = `own-db\\.yaml:${entryLine(text)}:\\d+: servers\\[0\\]\\.sandbox\\.network\\.allow\\[0\\]`;
  assert.match(r.stderr, new RegExp(`${at}: names the gateway's own database`));
  const elsewhere = await runCli(['config', 'validate', file], { env: { PGHOST: 'localhost', PGPORT: '5434' } });
  assert.equal(elsewhere.code, 0, elsewhere.stderr);
});

test('the egress proxy refuses a tunnel to the database the gateway names by the query string or PGHOST/PGPORT', async (tc) => {
  if (!(await requireService(tc, 'postgres'))) return;
  if (!findExecutable('bwrap')) {
    if (process.env.CI === 'true') assert.fail('bubblewrap (bwrap) is not installed');
    return tc.skip('bubblewrap (bwrap) is not installed');
  }
  const base = new URL(pgTestUrl());
  const target = `${base.hostname}:${base.port || 5432}`;
  const schema = freshPgSchema();
  await createSchema(schema);
  tc.after(() => dropPgSchema(schema));
  const query = `user=${encodeURIComponent(base.username || 'postgres')}&options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  const ways: Array<[string, string, Record<string, string>]> = [
    ['the query', `postgres:///${base.pathname.slice(1)}?host=${base.hostname}&port=${base.port || 5432}&${query}`, {}],
    [
      'PGHOST/PGPORT',
      `postgres:///${base.pathname.slice(1)}?${query}`,
      { PGHOST: base.hostname, PGPORT: base.port || '5432' },
    ],
  ];
  for (const [way, url, env] of ways) {
    const restore = setPgEnv(env.PGHOST, env.PGPORT); // the gateway's process environment, for its life
    try {
      const config = parseConfig(configText(store(url), 'api.example.com:443'), join(tmp, 'live.yaml'));
      const box = config.servers[0];
      assert.ok(box.transport === 'stdio' && box.sandbox);
      // Put in after the load (the config's checks refuse it): the proxy refuses it whatever the allowlist says.
      box.sandbox.network = { allow: [target], allowLoopback: true };
      const modules = realpathSync(join(ROOT, 'node_modules'));
      if (modules !== join(ROOT, 'node_modules')) box.sandbox.paths = { read: [modules] };
      const gw = await Gateway.start(config, { log: process.env.GATEHOUSE_TEST_LOG ? undefined : silentLogger() });
      try {
        assert.equal(gw.store.driver, 'postgres', way);
        await gw.waitForUpstreams(20_000);
        const r = await postModernCall(gw.url, 'box__tunnel', { target, path: '/' });
        const answer = ((await r.json()) as { result: { content: Array<{ text: string }> } }).result.content[0].text;
        assert.equal(answer, 'proxy: HTTP/1.1 403 Forbidden egress refused: gateway address', way);
      } finally {
        await gw.stop();
      }
    } finally {
      restore();
    }
  }
});
