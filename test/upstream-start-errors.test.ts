/**
 * A server that cannot start says why where the operator looks (`gatehouse inventory --refresh`):
 * the handshake's failure, not the gateway's own closing of the connection that followed it, and,
 * for a package runner sandboxed without network, that it may be waiting for the registry (walk L:
 * `gatehouse init`, then `start` in an empty folder, timed out with no word of why).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findExecutable } from '../src/util/paths.ts';
import { runCli } from './support/gateway.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-start-errors-'));
// The server's folder (this one) is shown to the sandbox's own user.
chmodSync(dir, 0o755);
after(() => rmSync(dir, { recursive: true, force: true }));

test('a sandboxed npx without network that times out is named as the likely reason, in inventory --refresh', async (tc) => {
  if (!findExecutable('bwrap')) {
    if (process.env.CI === 'true') assert.fail('bubblewrap (bwrap) is not installed');
    return tc.skip('bubblewrap (bwrap) is not installed');
  }
  const file = join(dir, 'g.yaml');
  writeFileSync(
    file,
    `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: 0 }\n  stateDir: ${JSON.stringify(join(dir, 'state'))}\nservers:\n` +
      '  - name: pkg\n    transport: stdio\n    command: npx\n    args: ["--no", "gatehouse-test-package-that-is-not-installed", "stdio"]\n' +
      '    timeouts: { connectMs: 2000 }\n    sandbox: { network: none }\n',
  );
  const r = await runCli(['inventory', '--refresh', '-c', file], { cwd: dir });
  assert.match(
    r.stderr,
    /pkg: not reachable \(down\): upstream timed out after 2000 ms[^\n]*it runs `npx` in a sandbox without network/,
  );
  assert.doesNotMatch(r.stderr, /closed by the gateway/);
});
