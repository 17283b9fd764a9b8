/**
 * A server that stops reading its input while it keeps writing: the gateway holds at most 16 MiB of
 * answers for it, then stops it, and the restart backoff starts it again. Real processes, no sandbox.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ROOT, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-stall-'));
const pids = join(dir, 'pids');
let t: TestGateway;

before(async () => {
  t = await startGateway(
    stdioServer('stall', join(ROOT, 'test/fixtures/upstreams/stalling-server.ts')) +
      `    env: { PID_FILE: ${JSON.stringify(pids)} }\n    tools: { stall: { class: READ } }\n`,
  );
});
after(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

const started = () => readFileSync(pids, 'utf8').trim().split('\n');

test('a server that stops reading its input is stopped past 16 MiB of unread answers, and started again', async () => {
  const first = started();
  assert.equal(first.length, 1);
  const c = new Client({ name: 'stall', version: '1' });
  await c.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`)));
  try {
    // The call cannot be answered: the server it went to is stopped under it.
    await assert.rejects(c.callTool({ name: 'stall__stall', arguments: {} }));
    await eventually(() => started().length === 2, { timeoutMs: 20_000 });
    assert.ok(!isAlive(Number(first[0])), 'the server that stalled is gone');
    await eventually(() => t.gw.upstreams.get('stall')?.state === 'ready', { timeoutMs: 20_000 });
    assert.ok(process.memoryUsage().rss < 1.5e9, 'the answers were not all kept');
  } finally {
    await c.close();
  }
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
