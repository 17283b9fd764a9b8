/**
 * `roots: false` on a server: the gateway declares no `roots` capability to it. The quickstart's
 * servers ask for roots as soon as they start, when no caller is there to answer, and printed
 * "Failed to request roots" at every start; offered none, the filesystem server keeps the folder of
 * its arguments and says so. A real gateway process, two real filesystem servers, one of each.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { FILESYSTEM, ROOT, startCli } from './support/gateway.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-roots-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const files = join(dir, 'files');
mkdirSync(files);
const server = (name: string, extra = '') =>
  `  - name: ${name}\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: ${JSON.stringify([FILESYSTEM, files])}\n${extra}`;

test('a server with roots: false is not offered roots, so it does not ask at start; a default one still is', async () => {
  const g = await startCli(
    `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: 0 }\n  stateDir: ${JSON.stringify(join(dir, 'state'))}\nservers:\n${server('asks')}${server('quiet', '    roots: false\n')}`,
    dir,
  );
  try {
    // The default still declares roots (callers' roots are relayed during a call): asked at start, it fails.
    await g.logged(/"upstream":"asks".*Failed to request initial roots from client/);
    await g.logged(
      /"upstream":"quiet".*Client does not support MCP Roots, using allowed directories set from server args/,
    );
    const quiet = g
      .log()
      .split('\n')
      .filter((l) => l.includes('"upstream":"quiet"'));
    assert.ok(!quiet.some((l) => /roots from client/.test(l)), quiet.join('\n'));
  } finally {
    await g.stop();
  }
});

test('the quickstart offers its servers no roots', () => {
  const config = parse(readFileSync(join(ROOT, 'examples/quickstart.yaml'), 'utf8')) as {
    servers: Array<{ name: string; roots?: boolean }>;
  };
  assert.deepEqual(
    config.servers.map((s) => [s.name, s.roots]),
    [
      ['everything', false],
      ['files', false],
    ],
  );
});
