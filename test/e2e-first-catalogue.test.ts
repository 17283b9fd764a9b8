/**
 * No empty window at start: a caller that lists or calls as soon as the port is open waits (bounded)
 * for the upstreams' first catalogue instead of seeing no tools or "unknown tool". Real upstream:
 * server-everything over stdio, started late on purpose (fixtures/upstreams/slow-start.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { join } from 'node:path';
import { EVERYTHING, ROOT, startGateway, stdioServer } from './support/gateway.ts';

const LIMIT = { timeout: 30_000 };

/** server-everything, started a second and a half late: callers arrive while it starts, on any machine. */
const SLOW_START = join(ROOT, 'test/fixtures/upstreams/slow-start.ts');

async function fresh() {
  // waitMs 0: the test does not wait for the upstreams; callers arrive while they start.
  const t = await startGateway(stdioServer('everything', SLOW_START, [EVERYTHING, 'stdio']), { waitMs: 0 });
  // initialize itself waits for the first catalogue (what it declares depends on the servers'): the
  // upstream is still starting when the caller arrives, not after it connected.
  const early = !t.gw.upstreamReady('everything');
  const client = new Client({ name: 'early', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`)));
  return { t, client, early };
}

test('tools/list at once after start lists the upstream tools', LIMIT, async () => {
  const { t, client, early } = await fresh();
  try {
    assert.ok(early, 'the upstream is still starting when the caller arrives');
    const { tools } = await client.listTools();
    assert.ok(
      tools.some((x) => x.name === 'everything__echo'),
      `listed: ${tools.map((x) => x.name).join(', ')}`,
    );
  } finally {
    await client.close();
    await t.close();
  }
});

test('a call at once after start reaches the tool, not "unknown tool"', LIMIT, async () => {
  const { t, client } = await fresh();
  try {
    const r = await client.callTool({ name: 'everything__echo', arguments: { message: 'early' } });
    assert.deepEqual(r.content, [{ type: 'text', text: 'Echo: early' }]);
  } finally {
    await client.close();
    await t.close();
  }
});

test('an upstream that cannot start does not hold callers past its connect timeout', LIMIT, async () => {
  const t = await startGateway(
    `  - name: broken\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: ["-e", "setTimeout(() => {}, 60000)"]\n    timeouts: { connectMs: 500 }\n`,
    { waitMs: 0 },
  );
  const client = new Client({ name: 'early', version: '1' });
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`)));
    const started = Date.now();
    const { tools } = await client.listTools();
    assert.deepEqual(tools, []);
    assert.ok(Date.now() - started < 5000, `answered after ${Date.now() - started} ms`);
  } finally {
    await client.close();
    await t.close();
  }
});
