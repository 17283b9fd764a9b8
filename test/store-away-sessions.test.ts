/**
 * PostgreSQL away (a TCP proxy the test cuts) under legacy sessions: `initialize` and a session's
 * messages are answered 503 "store unavailable" with Retry-After and the request's id (never -32603
 * internal error), with no internals on the wire, and the gateway's log says so in a few one-line
 * entries however many requests fail (no stack traces). The store back, the same session works.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startGateway } from './support/gateway.ts';
import { capturedLog } from './support/logs.ts';
import { initializeRequest, openLegacySession, postLegacy } from './support/rpc.ts';
import { tcpProxy } from './support/tcp-proxy.ts';
import { dropPgSchema, freshPgSchema, pgTestUrl, requireService } from './support/services.ts';

const REQUESTS = 60;

async function expectStoreAway(r: Response, id: number | null): Promise<void> {
  const text = await r.text();
  assert.equal(r.status, 503, text);
  assert.equal(r.headers.get('retry-after'), '5');
  const body = JSON.parse(text) as { id: unknown; error: { code: number; message: string } };
  assert.equal(body.id, id, 'the answer names the request it answers');
  assert.equal(body.error.code, -32603);
  assert.match(body.error.message, /store is unavailable/);
  assert.doesNotMatch(text, /ECONNREFUSED|127\.0\.0\.1|postgres|at .*\.ts/i, 'no internals on the wire');
}

test('postgresql away: legacy initialize and session messages are 503 store unavailable with Retry-After, logged in a few lines', async (t) => {
  if (!(await requireService(t, 'postgres'))) return;
  const schema = freshPgSchema();
  const admin = new pg.Client({ connectionString: pgTestUrl() });
  await admin.connect();
  await admin.query(`create schema "${schema}"`);
  t.after(async () => {
    await admin.end();
    await dropPgSchema(schema).catch(() => {});
  });
  const proxy = await tcpProxy(t, Number(new URL(pgTestUrl()).port || 5432));
  const u = new URL(pgTestUrl());
  u.port = String(proxy.port);
  u.searchParams.set('options', `-c search_path=${schema}`);
  const { log, lines } = capturedLog('info');
  const g = await startGateway('', {
    storage: `storage:\n  driver: postgres\n  postgresUrl: ${JSON.stringify(u.toString())}\n`,
    log,
  });
  t.after(() => g.close());
  const sid = await openLegacySession(g.url, 'away');
  const ping = (id: number, session: string) =>
    postLegacy(g.url, { jsonrpc: '2.0', id, method: 'ping' }, { sid: session });
  assert.equal((await ping(1, sid)).status, 200);

  await proxy.down();
  const from = lines.length;
  try {
    await expectStoreAway(await postLegacy(g.url, initializeRequest('away-2', { id: 7 })), 7);
    // A session this replica does not hold is looked up in the store.
    await expectStoreAway(await ping(8, randomBytes(16).toString('hex')), 8);
    for (let i = 0; i < REQUESTS; i++) {
      const r =
        i % 2
          ? await ping(100 + i, randomBytes(16).toString('hex'))
          : await postLegacy(g.url, initializeRequest('x', { id: 100 + i }));
      await expectStoreAway(r, 100 + i);
    }
    const said = lines.slice(from).filter((l) => l.code === 'E_STORE_UNAVAILABLE' || l.msg === 'internal error');
    assert.ok(said.length >= 1 && said.length <= 10, `${said.length} log lines for ${REQUESTS + 2} failures`);
    for (const l of said) {
      assert.equal(l.code, 'E_STORE_UNAVAILABLE', JSON.stringify(l));
      assert.equal(typeof l.err, 'string', 'one line, no stack');
    }
  } finally {
    await proxy.up();
  }
  // Back: the session held here works, and a new one opens.
  assert.equal((await ping(2, sid)).status, 200);
  await openLegacySession(g.url, 'back');
});
