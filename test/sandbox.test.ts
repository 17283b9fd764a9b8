/**
 * Restricted egress for stdio servers: with `sandbox: { network: none }` the server runs in a network
 * namespace of its own with nothing up, so it cannot reach a listener on this machine (nor anything
 * else); the same server without the sandbox can. The MCP conversation over stdio is unaffected.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ROOT, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-sandbox-'));
let listener: Server;
let port = 0;
let accepted = 0;
let t: TestGateway;
let usable = true;

before(async () => {
  try {
    execFileSync('unshare', ['--user', '--map-current-user', '--net', 'true']);
  } catch {
    usable = false;
    return;
  }
  listener = createServer((s) => (accepted++, s.destroy()));
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  port = (listener.address() as { port: number }).port;
  const rec = join(ROOT, 'test/fixtures/upstreams/recording-server.ts');
  t = await startGateway(
    stdioServer('jailed', rec) + `    env: { RECORD_FILE: ${JSON.stringify(join(tmp, 'a.jsonl'))} }\n    sandbox: { network: none }\n` +
      stdioServer('free', rec) + `    env: { RECORD_FILE: ${JSON.stringify(join(tmp, 'b.jsonl'))} }\n`,
  );
});
after(async () => {
  await t?.close();
  listener?.close();
  rmSync(tmp, { recursive: true, force: true });
});

test('a sandboxed stdio server reaches nothing; the same server without the sandbox does', async (tc) => {
  if (!usable) {
    if (process.env.CI === 'true') assert.fail('unshare(1) with user and network namespaces is not available');
    return tc.skip('unshare(1) with user and network namespaces is not available here');
  }
  const c = new Client({ name: 'sandbox', version: '1' });
  await c.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`)));
  const jailed = await c.callTool({ name: 'jailed__probe_net', arguments: { host: '127.0.0.1', port } });
  assert.notEqual((jailed.content as Array<{ text: string }>)[0].text, 'connected');
  assert.equal(accepted, 0, 'nothing arrived from the sandboxed server');
  const free = await c.callTool({ name: 'free__probe_net', arguments: { host: '127.0.0.1', port } });
  assert.equal((free.content as Array<{ text: string }>)[0].text, 'connected');
  assert.equal(accepted, 1);
  await c.close();
});
