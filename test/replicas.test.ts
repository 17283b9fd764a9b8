/**
 * Several replicas on one PostgreSQL database: a legacy session created through one gateway process
 * is served by another (any replica can take any request), and a session ended on one replica is
 * gone on the other.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { EVERYTHING, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { createPgSchema, dropPgSchema, freshPgSchema, pgUrlWithSchema, requireService } from './support/services.ts';
import { eventually } from './support/eventually.ts';
import { postLegacy } from './support/rpc.ts';

const schema = freshPgSchema();
const gateways: TestGateway[] = [];
after(async () => {
  await Promise.all(gateways.map((g) => g.close()));
  await dropPgSchema(schema).catch(() => {});
});

async function replica(): Promise<TestGateway> {
  const g = await startGateway(stdioServer('everything', EVERYTHING, ['stdio']), {
    gateway: '',
    storage: `storage:\n  driver: postgres\n  postgresUrl: ${JSON.stringify(pgUrlWithSchema(schema))}\n`,
  });
  gateways.push(g);
  return g;
}

const post = (url: string, sid: string, body: unknown) => postLegacy(url, body, { sid });

test('a session started on replica A is served by replica B, and ended everywhere', async (t) => {
  if (!(await requireService(t, 'postgres'))) return;
  await createPgSchema(schema);
  const [a, b] = await Promise.all([replica(), replica()]);
  assert.equal(a.gw.store.driver, 'postgres');

  const client = new Client({ name: 'replicas', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(`${a.url}/mcp`));
  await client.connect(transport);
  const sid = transport.sessionId!;

  const onB = await post(b.url, sid, {
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name: 'everything__echo', arguments: { message: 'via B' } },
  });
  assert.equal(onB.status, 200);
  assert.match(await onB.text(), /Echo: via B/);

  const del = await fetch(`${b.url}/mcp`, { method: 'DELETE', headers: { 'mcp-session-id': sid } });
  assert.equal(del.status, 204);
  // Replica A trusts its cached copy for at most a few seconds.
  await eventually(
    async () => {
      assert.equal((await post(a.url, sid, { jsonrpc: '2.0', id: 2, method: 'tools/list' })).status, 404);
      return true;
    },
    { timeoutMs: 8000, intervalMs: 100 },
  );
});
