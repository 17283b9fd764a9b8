/**
 * `gatehouse stdio` runs a gateway that listens on nothing: the pages a person opens (an approval)
 * are those of `gatehouse start` with the same config, at its configured address, never a relative
 * URL (an attacker walk found approvals made through the bridge pointing to `/approvals/apr_...`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/load.ts';
import { Gateway } from '../src/main.ts';
import { silentLogger } from '../src/observability/logger.ts';

test('a gateway that listens on nothing (gatehouse stdio) gives approvals an absolute page URL', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-pages-'));
  const gw = await Gateway.start(
    parseConfig(
      `version: 1\ngateway: { listen: { host: 127.0.0.1, port: 8765 }, stateDir: ${JSON.stringify(join(dir, 'state'))} }\nservers: []\n`,
      join(dir, 'g.yaml'),
      {},
    ),
    { log: silentLogger(), noHttp: true },
  );
  try {
    assert.equal(gw.approvals.pageUrl('apr_x'), 'http://127.0.0.1:8765/approvals/apr_x');
  } finally {
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
