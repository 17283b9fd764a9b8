/**
 * A server's list changes are told only to callers who may see something of it: two tenants, each
 * allowed the tools of one recording server. When one server adds a tool (a real
 * `notifications/tools/list_changed` and a changed listing), that server's tenant hears it on its
 * session's stream and the other tenant hears nothing: no cross-tenant signal of when another
 * tenant's server changes. The same for settings: a tenant switched off by a run-time mode, or whose
 * policy rules change, hears that its list changed; the other tenant, whose view did not, hears nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { ROOT, createKey, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { loadConfig } from '../src/config/load.ts';
import { eventually } from './support/eventually.ts';
import { getStreamWatch } from './support/rpc.ts';

const RECORDING = join(ROOT, 'test/fixtures/upstreams/recording-server.ts');
const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-list-changed-'));
const keys: Record<string, string> = {};
let t: TestGateway;

const policy = join(tmp, 'policy.yaml');
const rules = (acmeTools: string) => `rules:
  - { id: acme-tools, subjects: { tenants: [acme] }, tools: ['${acmeTools}'], effect: allow }
  - { id: globex-tools, subjects: { tenants: [globex] }, tools: ['rg__*'], effect: allow }
`;

before(async () => {
  writeFileSync(policy, rules('ra__*'));
  // Each server's catalogue comes from its tenant's own process (discoveryTenant), where add_tool runs.
  const server = (name: string, tenant: string) =>
    stdioServer(name, RECORDING) +
    `    env: { RECORD_FILE: ${JSON.stringify(join(tmp, `${name}.jsonl`))} }\n` +
    `    credentials: { discoveryTenant: ${tenant} }\n` +
    '    tools: { add_tool: { class: READ } }\n';
  t = await startGateway(server('ra', 'acme') + server('rg', 'globex'), {
    top: `identity: { apiKeys: true }\npolicy: { files: [${JSON.stringify(policy)}] }\ninventory: { newTools: accept }  # tools are added at run time\n`,
  });
  for (const tenant of ['acme', 'globex']) keys[tenant] = await createKey(t.file, { name: tenant, tenant });
});
after(async () => {
  await t?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** A legacy SDK client of `tenant`, once the gateway has answered its GET stream (where list_changed arrives). */
async function sdk(tenant: string): Promise<Client> {
  const c = new Client({ name: `list-changed-${tenant}`, version: '1.0.0' });
  const watch = getStreamWatch();
  await c.connect(
    new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${keys[tenant]}` } },
      fetch: watch.fetch,
    }),
  );
  await watch.opened;
  return c;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("a server's tool list change reaches the tenant that may see it, and not the other", async () => {
  const heard = { acme: 0, globex: 0 };
  const clients: Record<string, Client> = {};
  for (const tenant of ['acme', 'globex'] as const) {
    const c = await sdk(tenant);
    c.setNotificationHandler(ToolListChangedNotificationSchema, () => void heard[tenant]++);
    const names = (await c.listTools()).tools.map((x) => x.name);
    assert.ok(names.length > 0 && names.every((n) => n.startsWith(tenant === 'acme' ? 'ra__' : 'rg__')), names.join());
    clients[tenant] = c;
  }

  const added = await clients.globex.callTool({ name: 'rg__add_tool', arguments: { name: 'globex_extra' } });
  assert.match(JSON.stringify(added.content), /added globex_extra/);
  await eventually(() => heard.globex > 0, { timeoutMs: 10_000 });
  await pause(300); // what acme would hear has had its time
  assert.equal(heard.acme, 0, "acme heard that globex's server changed");
  assert.ok((await clients.globex.listTools()).tools.some((x) => x.name === 'rg__globex_extra'));

  await clients.acme.callTool({ name: 'ra__add_tool', arguments: { name: 'acme_extra' } });
  await eventually(() => heard.acme > 0, { timeoutMs: 10_000 });
  const globexHeard = heard.globex;
  await pause(300);
  assert.equal(heard.globex, globexHeard, "globex heard that acme's server changed");
  for (const c of Object.values(clients)) await c.close();
});

/** Both tenants' SDK clients, counting the tools list changes each hears. */
async function bothTenants(): Promise<{ heard: Record<string, number>; clients: Record<string, Client> }> {
  const heard: Record<string, number> = { acme: 0, globex: 0 };
  const clients: Record<string, Client> = {};
  for (const tenant of ['acme', 'globex']) {
    clients[tenant] = await sdk(tenant);
    clients[tenant].setNotificationHandler(ToolListChangedNotificationSchema, () => void heard[tenant]++);
  }
  return { heard, clients };
}

const toolNames = async (c: Client) => (await c.listTools()).tools.map((x) => x.name);

test("a run-time mode for one tenant is heard by that tenant's callers, not by the other's", async () => {
  const { heard, clients } = await bothTenants();
  const mode = (...args: string[]) => runCli(['mode', ...args, '--tenant', 'globex', '-c', t.file]);
  assert.equal((await mode('set', 'disabled', '--reason', 'drill')).code, 0);
  await eventually(() => heard.globex > 0, { timeoutMs: 10_000 });
  assert.deepEqual(await toolNames(clients.globex), []);
  await pause(300);
  assert.equal(heard.acme, 0, "acme heard that globex's mode changed");
  assert.ok((await toolNames(clients.acme)).length > 0);

  assert.equal((await mode('clear')).code, 0);
  await eventually(() => heard.globex > 1, { timeoutMs: 10_000 });
  assert.ok((await toolNames(clients.globex)).length > 0);
  await pause(300);
  assert.equal(heard.acme, 0, "acme heard that globex's mode was cleared");
  for (const c of Object.values(clients)) await c.close();
});

/** The policy file rewritten and the gateway reloaded, as `gatehouse start` does when the file changes. */
async function reloadWith(text: string): Promise<void> {
  writeFileSync(policy, text);
  await t.gw.reload(await loadConfig(t.file));
}

test("a policy reload that changes one tenant's tools is heard by that tenant only", async () => {
  const { heard, clients } = await bothTenants();
  await reloadWith(rules('ra__add_tool'));
  await eventually(() => heard.acme > 0, { timeoutMs: 10_000 });
  assert.deepEqual(await toolNames(clients.acme), ['ra__add_tool']);
  await pause(300);
  assert.equal(heard.globex, 0, "globex heard of acme's policy");

  await reloadWith(rules('ra__*'));
  await eventually(() => heard.acme > 1, { timeoutMs: 10_000 });
  await pause(300);
  assert.equal(heard.globex, 0, "globex heard of acme's policy");
  for (const c of Object.values(clients)) await c.close();
});
