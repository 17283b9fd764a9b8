/**
 * `gatehouse check` item 5.3 says the audit retention pruning applies and where it comes from (operator
 * walk): after `gatehouse audit retention` was confirmed by a second person it still said only the
 * config's. Pruning never goes below the retention two people approved: the config's is in force
 * unless shorter, and then the approved one is, held over it. On a store without a gateway.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './support/gateway.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-check-retention-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const config = (days: number) =>
  `version: 1\ngateway: { stateDir: ${JSON.stringify(join(dir, 'state'))} }\naudit: { retentionDays: ${days} }\n` +
  'servers:\n  - { name: s, transport: stdio, command: /bin/true }\n';

async function item53(file: string): Promise<{ status: string; why: string; fix: string }> {
  const r = await runCli(['check', '--json', '-c', file]);
  const report = JSON.parse(r.stdout) as { items: Array<{ id: string; status: string; why: string; fix: string }> };
  const found = report.items.find((i) => i.id === '5.3');
  assert.ok(found, r.stdout + r.stderr);
  return found;
}

test('check 5.3 names the retention two people approved, and the one in force when the config is shorter', async () => {
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, config(365));
  assert.equal((await item53(file)).why, '365 days (`audit.retentionDays`), pruned with checkpoints');
  const asked = await runCli([
    'audit',
    'retention',
    '--days',
    '30',
    '--reason',
    'policy',
    '--by',
    'ann',
    '--json',
    '-c',
    file,
  ]);
  assert.equal(asked.code, 0, asked.stderr);
  const id = (JSON.parse(asked.stdout) as { request: string }).request;
  const ok = await runCli(['audit', 'retention', '--confirm', id, '--by', 'bob', '-c', file]);
  assert.equal(ok.code, 0, ok.stderr);
  const approved = await item53(file);
  assert.equal(approved.status, 'pass');
  assert.match(
    approved.why,
    /^365 days \(`audit\.retentionDays`\), pruned with checkpoints; the least it may be is the 30 days two people approved \(asked by ann, confirmed by bob at \d{4}-\d\d-\d\dT[\d:.]+Z\)$/,
  );
  // The config shortened below the approved retention by one person: the approved one is in force.
  writeFileSync(file, config(7));
  const held = await item53(file);
  assert.equal(held.status, 'warn');
  assert.match(
    held.why,
    /^30 days, pruned with checkpoints: the retention two people approved \(asked by ann, confirmed by bob at .*\), held over the configured 7 days \(`audit\.retentionDays`\)$/,
  );
  assert.equal(
    held.fix,
    'set `audit.retentionDays: 30`, or have two people approve 7 days (`gatehouse audit retention --days 7`)',
  );
});
