/**
 * A server's list changes are told only to callers who may see something of it: two tenants, each
 * allowed the tools of one recording server. When one server adds a tool (a real
 * `notifications/tools/list_changed` and a changed listing), that server's tenant hears it on its
 * session's stream and the other tenant hears nothing: no cross-tenant signal of when another
 * tenant's server changes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { ROOT, createKey, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';
import { getStreamWatch } from './support/rpc.ts';

const RECORDING = join(ROOT, 'test/fixtures/upstreams/recording-server.ts');
const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-list-changed-'));
const keys: Record<string, string> = {};
let t: TestGateway;

before(async () => {
  const policy = join(tmp, 'policy.yaml');
  writeFileSync(
    policy,
    `rules:
  - { id: acme-tools, subjects: { tenants: [acme] }, tools: ['ra__*'], effect: allow }
  - { id: globex-tools, subjects: { tenants: [globex] }, tools: ['rg__*'], effect: allow }
`,
  );
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
