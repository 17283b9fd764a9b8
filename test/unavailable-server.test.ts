/**
 * A server the gateway cannot connect, because its discovery tenant's secret is missing (operator
 * walk F4: a reload put `environment: prod` into the reference, `local:demo-prod-{tenant}`, and only
 * beta's secret exists). Every caller got `unknown tool`, while /readyz and the log said the
 * server's credentials were unavailable. Now a caller who may see the server is told it is not
 * connected (E_UPSTREAM_UNAVAILABLE, naming the server and nothing of why or whose secret), and one
 * who may not still gets exactly `unknown tool`. Beta's own secret exists, and still no connection of
 * beta's is made: a tenant's connection runs only the definitions reviewed on the catalogue's, and
 * with no catalogue there is none (ADR 0010).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { parseConfig } from '../src/config/load.ts';
import { EVERYTHING, createKey, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { localSecrets } from './support/secrets.ts';
import { eventually } from './support/eventually.ts';

const SECRET = { alpha: `alpha-${randomUUID()}`, beta: `beta-${randomUUID()}`, betaProd: `beta-prod-${randomUUID()}` };
const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-unavailable-'));
const keys: Record<string, string> = {};
let t: TestGateway;

before(async () => {
  const policy = join(tmp, 'policy.yaml');
  writeFileSync(
    policy,
    'rules:\n  - { id: demo, subjects: { tenants: [alpha, beta] }, tools: ["everything__*"], effect: allow }\n',
  );
  t = await startGateway(
    `${stdioServer('everything', EVERYTHING, ['stdio'])}    credentials: { env: { DEMO_TOKEN: "local:demo-{tenant}" }, discoveryTenant: alpha }\n    tools: { get-sum: { class: READ } }\n`,
    {
      top: `identity: { apiKeys: true }\npolicy: { files: [${JSON.stringify(policy)}] }\ninventory: { newTools: accept }\n`,
      before: async (stateDir) => {
        const store = await localSecrets(stateDir);
        await store.set('demo-alpha', SECRET.alpha);
        await store.set('demo-beta', SECRET.beta);
        await store.set('demo-prod-beta', SECRET.betaProd); // alpha's prod secret is never made
      },
    },
  );
  for (const tenant of ['alpha', 'beta', 'gamma']) keys[tenant] = await createKey(t.file, { name: tenant, tenant });
});
after(async () => {
  await t?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function client(tenant: string): Promise<Client> {
  const c = new Client({ name: `unavailable-${tenant}`, version: '1.0.0' });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${keys[tenant]}` } },
    }),
  );
  return c;
}

interface Answer {
  code?: number;
  message?: string;
  data?: unknown;
  content?: Array<{ text: string }>;
}

/** What a tools/call of `name` by `tenant` got: its JSON-RPC error (code, message, data), or its result. */
async function call(tenant: string, name: string): Promise<Answer> {
  const c = await client(tenant);
  try {
    return (await c.callTool({ name, arguments: { a: 1, b: 2 } })) as Answer;
  } catch (err) {
    const e = err as { code: number; message: string; data?: unknown };
    return { code: e.code, message: e.message, data: e.data };
  } finally {
    await c.close();
  }
}

const NOT_CONNECTED =
  'MCP error -32603: upstream `everything` is not connected: its tools and prompts cannot be used until the gateway connects to it (retried in the background; an operator sees why in /readyz and the log)';

test('a server whose discovery secret is missing: its callers are told it is not connected, others get unknown tool, nothing of any tenant leaks', async () => {
  assert.match((await call('alpha', 'everything__get-sum')).content?.[0].text ?? '', /3/, 'connected at first');
  // The walk's reload: the reference names the environment now, and only beta's prod secret exists.
  writeFileSync(t.file, readFileSync(t.file, 'utf8').replace('local:demo-{tenant}', 'local:demo-prod-{tenant}'));
  await t.gw.reload(parseConfig(readFileSync(t.file, 'utf8'), t.file));
  await eventually(async () => {
    // Identity is configured and no scrape token: /readyz says why without naming the server.
    const r = (await (await fetch(`${t.url}/readyz`)).json()) as { upstreams: string };
    return r.upstreams === '0 of 1 ready; not ready: 1 credentials unavailable';
  });

  const answers: Record<string, Answer> = {};
  for (const tenant of ['alpha', 'beta']) {
    answers[tenant] = await call(tenant, 'everything__get-sum');
    assert.deepEqual(answers[tenant], { code: -32603, message: NOT_CONNECTED, data: undefined }, tenant);
    // A name the server may not have at all: the gateway cannot tell, and says the same.
    assert.deepEqual(await call(tenant, 'everything__no-such-tool'), answers[tenant], `${tenant}: any name`);
  }
  // Beta's secret exists, but no connection of beta's runs tools nobody reviewed.
  assert.deepEqual(
    t.gw.credentials.pool.describe().filter((c) => c.server === 'everything'),
    [],
    'no connection was made for anyone',
  );

  // Gamma may not see the server: exactly what a tool of no server gets, to the byte.
  const gamma = await call('gamma', 'everything__get-sum');
  const nowhere = await call('gamma', 'nowhere__get-sum');
  assert.deepEqual(gamma, {
    code: -32602,
    message: 'MCP error -32602: unknown tool `everything__get-sum`',
    data: undefined,
  });
  assert.deepEqual(nowhere, { ...gamma, message: gamma.message?.replace('everything', 'nowhere') });
  // A visible caller's name of no configured server is unknown as before.
  assert.equal((await call('beta', 'nowhere__get-sum')).code, -32602);

  const said = JSON.stringify([answers.alpha, answers.beta, gamma]);
  for (const leak of [...Object.values(SECRET), 'alpha', 'beta', 'gamma', 'demo-', 'local:', 'credential'])
    assert.ok(!said.includes(leak), `an answer names ${leak}: ${said}`);
});
