/**
 * The example configs say they are the quickstart with something added: `examples/secure.yaml` is
 * the quickstart's servers, sandboxed and offered the same way, with authentication required. An
 * operator walk found it had drifted (no `roots: false`, so the server asked for roots at every start;
 * no diff for approvers), so what the two share is compared here, and both must load.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { loadConfig } from '../src/config/load.ts';
import type { ConfigIssue } from '../src/config/issues.ts';

const ROOT = join(import.meta.dirname, '..');
const read = (name: string) => parse(readFileSync(join(ROOT, 'examples', name), 'utf8')) as Record<string, unknown>;

test('examples/secure.yaml has the quickstart servers, policy and approvals, as its comments say', () => {
  const quickstart = read('quickstart.yaml');
  const secure = read('secure.yaml');
  assert.deepEqual(secure.servers, quickstart.servers);
  assert.deepEqual(secure.approvals, quickstart.approvals);
  assert.deepEqual(secure.policy, quickstart.policy);
  assert.deepEqual(secure.gateway, quickstart.gateway);
});

test('both example configs load without an error or a warning', async () => {
  for (const name of ['quickstart.yaml', 'secure.yaml']) {
    const warnings: ConfigIssue[] = [];
    const loaded = await loadConfig(join(ROOT, 'examples', name), {}, warnings);
    assert.equal(loaded.servers.length, 2, name);
    assert.deepEqual(warnings, [], name);
  }
});
