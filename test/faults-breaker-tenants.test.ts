/**
 * Circuit breakers across tenants, tried as a hostile tenant would. One server without per-tenant
 * credentials; its catalogue is listed on acme's connection (`discoveryTenant: acme`), so acme's calls
 * and the gateway's listings share a connection, and globex has its own. acme calls a tool that
 * answers garbage until its circuit opens. Its own calls are then refused at once; globex's still
 * reach the server and succeed, the catalogue still lists the server, /readyz stays ready and says
 * nothing of acme's circuit, and the audit trail names acme as the tenant whose circuit changed.
 * (Before, acme's failures opened the connection's one breaker: /readyz answered 503 — every tenant's
 * replica out of the load balancer — and the catalogue's listings of the server were refused.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKey, startGateway, type TestGateway } from './support/gateway.ts';
import { hostileInputHttp, type HostileInput } from './fixtures/upstreams/hostile-input-http.ts';
import { postModern } from './support/rpc.ts';
import { TestClock } from './support/clock.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-breaker-tenants-'));
const tools: Array<{ name: string; description: string; inputSchema: object }> = [
  { name: 'ok', description: 'answers', inputSchema: { type: 'object' } },
  { name: 'bad_utf8', description: 'answers garbage', inputSchema: { type: 'object' } },
];
const keys: Record<string, string> = {};
const clock = new TestClock();
let t: TestGateway;
let up: HostileInput;

before(async () => {
  const policy = join(tmp, 'policy.yaml');
  writeFileSync(policy, "rules:\n  - { id: all, tools: ['h__*'], effect: allow }\n");
  up = await hostileInputHttp(tools);
  t = await startGateway(
    `  - name: h\n    transport: http\n    url: ${JSON.stringify(up.url)}\n` +
      '    circuit: { failures: 2, cooldownMs: 60000 }\n    credentials: { discoveryTenant: acme }\n' +
      '    tools: { ok: { class: READ }, bad_utf8: { class: READ }, later: { class: READ } }\n',
    {
      top: `identity: { apiKeys: true }\npolicy: { files: [${JSON.stringify(policy)}] }\ninventory: { newTools: accept }\n`,
      clock,
    },
  );
  for (const tenant of ['acme', 'globex']) keys[tenant] = await createKey(t.file, { name: tenant, tenant });
});
after(async () => {
  await t?.close();
  await up?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'breaker-tenants', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

async function rpc(tenant: string, method: string, params: object, name?: string): Promise<string> {
  const r = await postModern(t.url, method, { ...params, _meta: META }, { token: keys[tenant], id: 1, name });
  return r.text();
}
const call = (tenant: string, name: string) => rpc(tenant, 'tools/call', { name, arguments: {} }, name);

async function circuitRecords(): Promise<Array<{ tenant: unknown; to: unknown }>> {
  await t.gw.audit.log.drain();
  const rows = await t.gw.store.audit.read({ kind: 'upstream.circuit' });
  // Indexed under the tenant whose circuit it is (its admin's searches are filtered by tenant).
  for (const r of rows) assert.equal(r.event.actor?.tenant, r.event.detail?.tenant);
  return rows.map((r) => ({ tenant: r.event.detail?.tenant, to: r.event.detail?.to }));
}

test("a tenant that makes its calls fail opens its own circuit; another tenant's calls go on", async () => {
  assert.match(await call('acme', 'h__ok'), /fine: ok/);
  assert.match(await call('globex', 'h__ok'), /fine: ok/);
  for (let i = 0; i < 2; i++) assert.match(await call('acme', 'h__bad_utf8'), /not valid utf-8/);

  const reached = up.calls.length;
  assert.match(await call('acme', 'h__ok'), /circuit open/);
  assert.equal(up.calls.length, reached, "acme's refused call never reached the server");
  for (let i = 0; i < 3; i++) assert.match(await call('globex', 'h__ok'), /fine: ok/);
  assert.equal(up.calls.length, reached + 3, "globex's calls reached the server");

  const ready = await fetch(`${t.url}/readyz`);
  const body = await ready.text();
  assert.equal(ready.status, 200, body);
  assert.equal(JSON.parse(body).upstreams, '1 of 1 ready'); // identity, no scrape token: counts, no names
  assert.doesNotMatch(body, /acme|circuit/);

  const metrics = await (await fetch(`${t.url}/metrics`)).text();
  assert.match(metrics, /gatehouse_upstream_circuit_state\{server="h"\} 0/, 'the server is not open');
  assert.match(metrics, /gatehouse_upstream_circuit_changes_total\{server="h",to="open"\} 1/);
  assert.deepEqual(await circuitRecords(), [{ tenant: 'acme', to: 'open' }]);
});

test("the catalogue's listings of the server are not refused for acme's circuit", async () => {
  tools.push({ name: 'later', description: 'added later', inputSchema: { type: 'object' } });
  await t.gw.catalog.refresh('h'); // what a list_changed from the server asks for
  assert.match(await rpc('globex', 'tools/list', {}), /h__later/);
  assert.match(await call('globex', 'h__later'), /fine: later/);
  assert.match(await call('acme', 'h__later'), /circuit open/);
});

test("after the cooldown acme's probe goes through and closes acme's circuit", async () => {
  clock.advance(60_000);
  assert.match(await call('acme', 'h__ok'), /fine: ok/);
  assert.match(await call('acme', 'h__ok'), /fine: ok/);
  assert.deepEqual(await circuitRecords(), [
    { tenant: 'acme', to: 'open' },
    { tenant: 'acme', to: 'half-open' },
    { tenant: 'acme', to: 'closed' },
  ]);
});
