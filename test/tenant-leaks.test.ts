/**
 * What one tenant learns of another, tried as globex against acme on one gateway with two servers:
 * `rec` (both tenants may use it) and `vault` (acme only, by policy). A tenant admin does not read
 * the readiness report (it counts every tenant's activity); a server a caller may use nothing of
 * answers exactly as a server that does not exist.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, createKey, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { modernHeaders } from './support/rpc.ts';

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

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
};

/** What `/servers/<server>/mcp` answers `method` for this key: status and body, the server's name in backticks made `<S>`. */
async function ask(server: string, token: string, method: string, params: object = {}, name?: string) {
  const legacy = method === 'initialize';
  const r = await fetch(`${t.url}/servers/${server}/mcp`, {
    method: 'POST',
    headers: {
      ...modernHeaders(method, name),
      ...(legacy ? { 'mcp-protocol-version': '2025-11-25' } : {}),
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 7,
      method,
      params: legacy
        ? { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'probe', version: '1' } }
        : { ...params, _meta: META },
    }),
  });
  return { status: r.status, body: (await r.text()).replaceAll(`\`${server}\``, '`<S>`') };
}

test('a server the caller may use nothing of answers exactly as a server that does not exist', async () => {
  const probes: Array<[string, object?, string?]> = [
    ['tools/list'],
    ['prompts/list'],
    ['resources/list'],
    ['server/discover'],
    ['initialize'],
    ['tools/call', { name: 'record', arguments: {} }, 'record'],
  ];
  for (const [method, params, name] of probes) {
    const hidden = await ask('vault', keys.globex, method, params, name);
    const missing = await ask('no-such-server', keys.globex, method, params, name);
    assert.equal(missing.status, 404, `${method}: ${missing.body}`);
    assert.deepEqual(hidden, missing, `${method}: globex cannot tell acme's server from none`);
  }
  const stream = await fetch(`${t.url}/servers/vault/mcp`, {
    headers: { accept: 'text/event-stream', authorization: `Bearer ${keys.globex}` },
  });
  assert.equal(stream.status, 404);
  await stream.body?.cancel();
  // Who may use it is served as before, and globex its own server.
  const acme = await ask('vault', keys.acme, 'tools/list');
  assert.equal(acme.status, 200);
  assert.match(acme.body, /"name":"record"/);
  assert.match((await ask('vault', keys.acme, 'server/discover')).body, /"capabilities"/);
  const shared = await ask('rec', keys.globex, 'tools/list');
  assert.equal(shared.status, 200);
  assert.match(shared.body, /"name":"record"/);
});
