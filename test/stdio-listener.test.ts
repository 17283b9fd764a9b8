/**
 * The stdio listener in-process: one client on a pair of streams, both eras, and change
 * notifications from an upstream reaching it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EVERYTHING, ROOT, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';
import type { Reply } from './support/rpc.ts';
import { stdioClient } from './support/stdio.ts';

let t: TestGateway;
const client = stdioClient<Reply>();
const { input, lines } = client;

const rec = join(mkdtempSync(join(tmpdir(), 'gatehouse-stdio-')), 'rec.jsonl');
before(async () => {
  t = await startGateway(
    stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(rec)} }\n` +
      stdioServer('everything', EVERYTHING, ['stdio']),
    {
      top: 'inventory: { newTools: accept }  # these tests add tools at run time\n',
    },
  );
  client.serve(() => t.gw.endpoint);
});
after(async () => {
  await client.close();
  await t?.close();
});

const send = (m: unknown) => input.write(`${JSON.stringify(m)}\n`);
async function waitFor(pred: (m: Reply) => unknown): Promise<Reply> {
  return eventually(() => lines.find(pred), { timeoutMs: 10_000, intervalMs: 50 }).catch(() =>
    assert.fail('no such message arrived'),
  );
}

test('legacy over stdio: initialize, call, and list_changed reaches the client', async () => {
  send({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'p', version: '1' } },
  });
  assert.equal((await waitFor((m) => m.id === 1)).result.protocolVersion, '2025-11-25');
  // Heard once the client is initialized and has listed tools (src/listeners/list-changed-gate.ts).
  send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  send({ jsonrpc: '2.0', id: 4, method: 'tools/list' });
  await waitFor((m) => m.id === 4);
  send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'rec__add_tool', arguments: { name: 'late' } } });
  const answered = await waitFor((m) => m.id === 2 && m.result);
  // The change the call made, told after its answer.
  await waitFor((m) => m.method === 'notifications/tools/list_changed' && lines.indexOf(m) > lines.indexOf(answered));
  send({ jsonrpc: '2.0', id: 3, method: 'tools/list' });
  const list = await waitFor((m) => m.id === 3);
  assert.ok(list.result.tools.some((x: { name: string }) => x.name === 'rec__late'));
});

test('modern over stdio: a request with the 2026-07-28 _meta is served statelessly', async () => {
  const meta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': {},
  };
  send({
    jsonrpc: '2.0',
    id: 10,
    method: 'tools/call',
    params: { name: 'rec__record', arguments: { note: 'hi' }, _meta: meta },
  });
  const r = await waitFor((m) => m.id === 10);
  assert.equal(r.result.resultType, 'complete');
  assert.match(JSON.stringify(r.result.content), /hi/);
});

test('modern over stdio: resources/read of a 2025-era server carries ttlMs and cacheScope (no caching)', async () => {
  const meta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': {},
  };
  send({ jsonrpc: '2.0', id: 20, method: 'resources/list', params: { _meta: meta } });
  const listed = await waitFor((m) => m.id === 20);
  const uri = listed.result.resources.find((r: { uri: string }) => r.uri.endsWith('architecture.md'))?.uri;
  assert.ok(uri, JSON.stringify(listed.result.resources));
  send({ jsonrpc: '2.0', id: 21, method: 'resources/read', params: { uri, _meta: meta } });
  const r = await waitFor((m) => m.id === 21);
  assert.equal(r.result.resultType, 'complete');
  assert.equal(r.result.ttlMs, 0);
  assert.equal(r.result.cacheScope, 'private');
  assert.ok(r.result.contents.length > 0);
});

test("legacy over stdio: a cancellation reaches the upstream with the client's own reason", async () => {
  send({ jsonrpc: '2.0', id: 30, method: 'tools/call', params: { name: 'rec__slow', arguments: { ms: 5000 } } });
  await eventually(() => readFileSync(rec, 'utf8').includes('"name":"slow"'), { timeoutMs: 10_000 });
  send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 30, reason: 'from stdio\n' } });
  const told = () =>
    readFileSync(rec, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"notifications/cancelled"'))
      .map((l) => JSON.parse(l) as { msg?: { params?: { reason?: string } }; params?: { reason?: string } })
      .map((m) => (m.msg ?? m).params?.reason);
  assert.deepEqual(await eventually(() => (told().length ? told() : undefined), { timeoutMs: 10_000 }), ['from stdio']);
});

test('modern over stdio: server/discover has no serverInfo of its own; it and every result name the gateway in _meta', async () => {
  const meta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': {},
  };
  send({ jsonrpc: '2.0', id: 40, method: 'server/discover', params: { _meta: meta } });
  send({ jsonrpc: '2.0', id: 41, method: 'tools/list', params: { _meta: meta } });
  const discover = await waitFor((m) => m.id === 40);
  assert.ok(discover.result, JSON.stringify(discover));
  assert.equal(Object.hasOwn(discover.result, 'serverInfo'), false);
  for (const r of [discover, await waitFor((m) => m.id === 41)])
    assert.equal(
      (r.result._meta?.['io.modelcontextprotocol/serverInfo'] as { name?: string } | undefined)?.name,
      'gatehouse',
      JSON.stringify(r),
    );
});
