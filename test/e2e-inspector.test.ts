/**
 * A third real client: the MCP Inspector's CLI (npm @modelcontextprotocol/inspector) against the gateway.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { EVERYTHING, ROOT, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';

let t: TestGateway;
before(async () => {
  t = await startGateway(stdioServer('everything', EVERYTHING, ['stdio']));
});
after(async () => t?.close());

async function inspector(...args: string[]): Promise<unknown> {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: t.dir, MCP_CATALOG_PATH: join(t.dir, 'catalog.json') };
  delete env.NODE_TEST_CONTEXT;
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn(
      join(ROOT, 'node_modules/.bin/mcp-inspector'),
      ['--cli', `${t.url}/mcp`, '--transport', 'http', ...args],
      { env },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`inspector exited ${code}: ${err.slice(0, 500)}`));
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`inspector printed no json: ${out.slice(0, 300)}`));
      }
    });
  });
}

test('the inspector CLI lists the tools through the gateway', async () => {
  const r = (await inspector('--method', 'tools/list')) as { tools: Array<{ name: string }> };
  assert.ok(r.tools.some((x) => x.name === 'everything__echo'));
});

test('the inspector CLI calls a tool through the gateway', async () => {
  const r = (await inspector(
    '--method',
    'tools/call',
    '--tool-name',
    'everything__echo',
    '--tool-arg',
    'message=from the inspector',
  )) as { content: unknown };
  assert.deepEqual(r.content, [{ type: 'text', text: 'Echo: from the inspector' }]);
});
