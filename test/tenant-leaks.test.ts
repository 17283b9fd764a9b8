/**
 * What one tenant learns of another, tried as globex against acme on one gateway with two servers:
 * `rec` (both tenants may use it) and `vault` (acme only, by policy). A tenant admin does not read
 * the readiness report (it counts every tenant's activity).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, createKey, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-tenant-leaks-'));
const keys: Record<string, string> = {};
let t: TestGateway;

before(async () => {
  const policy = join(tmp, 'policy.yaml');
  writeFileSync(
    policy,
    'rules:\n' +
      "  - { id: shared, subjects: { tenants: [acme, globex] }, tools: ['rec__*'], effect: allow }\n" +
      "  - { id: acme-vault, subjects: { tenants: [acme] }, tools: ['vault__*'], effect: allow }\n",
  );
  const rec = join(tmp, 'rec.jsonl');
  const server = (name: string) =>
    stdioServer(name, join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
    `    env: { RECORD_FILE: ${JSON.stringify(rec)} }\n    tools: { record: { class: READ }, other: { class: READ } }\n`;
  t = await startGateway(server('rec') + server('vault'), {
    top: `identity: { apiKeys: true }\npolicy: { files: [${JSON.stringify(policy)}] }\ninventory: { newTools: accept }\n`,
  });
  const made = await Promise.all([
    createKey(t.file, { name: 'acme-agent', tenant: 'acme', scopes: 'mcp:tools,mcp:read' }),
    createKey(t.file, { name: 'globex-agent', tenant: 'globex', scopes: 'mcp:tools,mcp:read' }),
    createKey(t.file, { name: 'globex-admin', tenant: 'globex', roles: 'gatehouse-admin', person: 'gia' }),
    createKey(t.file, { name: 'ops-admin', tenant: 'ops', roles: 'gatehouse-platform-admin', person: 'pat' }),
  ]);
  [keys.acme, keys.globex, keys.globexAdmin, keys.platform] = made;
});
after(async () => {
  await t?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const admin = (path: string, token: string) =>
  fetch(`${t.url}/admin/v1/${path}`, { headers: { authorization: `Bearer ${token}` } });

test("a tenant admin does not read the readiness report, which counts every tenant's activity", async () => {
  const r = await admin('check', keys.globexAdmin);
  const body = await r.text();
  assert.equal(r.status, 403, body);
  assert.match(body, /readiness report covers every tenant and needs a platform admin/);
  assert.match(body, /tenant `globex` only/);
  assert.doesNotMatch(body, /"items"|5\.1/);
  const platform = await admin('check', keys.platform);
  assert.equal(platform.status, 200);
  const report = (await platform.json()) as { items: Array<{ id: string }> };
  assert.ok(report.items.some((i) => i.id === '5.1'));
});
