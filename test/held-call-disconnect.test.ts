/**
 * Every 2026-07-28 call is held while it runs (a question from its upstream may need the caller's
 * answer, given in a retry). A caller that leaves before it was ever asked anything (its connection
 * closed mid-call: a flaky client, a load balancer's cut) can never retry that call: its hold goes at
 * once, with its place under the caps and its request bytes. Before, each such hold stayed until it
 * expired (five minutes): 20 dropped connections locked a principal out of every modern call, and the
 * bytes stayed counted in its tenant's share (walk I). Two tenants, API keys, a real SDK v1 upstream.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createKey, startGateway, type TestGateway } from './support/gateway.ts';
import { postModernCall, replyOf } from './support/rpc.ts';
import { eventually } from './support/eventually.ts';
import { legacyHttp, type TestServer } from './fixtures/upstreams/sdk-http-servers.ts';

const KIB = 1024;
let t: TestGateway;
let web: TestServer;
const keys: Record<string, string> = {};

before(async () => {
  web = await legacyHttp();
  t = await startGateway(
    `  - { name: web, transport: http, url: ${JSON.stringify(web.url)}, tools: { slow: { class: READ }, echo: { class: READ }, ask: { class: READ } } }\n`,
    {
      gateway: '  maxHeldCallsPerPrincipal: 2\n  maxHeldCallsPerTenant: 3\n',
      top: 'identity: { apiKeys: true }\ninventory: { newTools: accept }\n',
    },
  );
  for (const tenant of ['acme', 'globex']) keys[tenant] = await createKey(t.file, { name: tenant, tenant });
});
after(async () => {
  await t?.close();
  await web?.close();
});

/** A modern call of `web__<tool>` as `tenant`: its status and reply. */
async function call(
  tenant: string,
  tool: string,
  args: Record<string, unknown>,
  capabilities?: Record<string, unknown>,
) {
  const r = await postModernCall(t.url, `web__${tool}`, args, { token: keys[tenant], capabilities });
  return { status: r.status, body: await replyOf(r) };
}

test('a modern caller that leaves mid-call frees its held place and its request bytes at once; one given a request state keeps its hold', async () => {
  // Five calls of acme's (more than its principal's cap of 2 and its tenant's 3), each left 150 ms
  // into a two-second tool, with 20 KiB of padding in its arguments.
  const pad = 'x'.repeat(20 * KIB);
  for (let i = 0; i < 5; i++) {
    const ac = new AbortController();
    const sent = postModernCall(t.url, 'web__slow', { steps: 100, pad }, { token: keys.acme, signal: ac.signal });
    await new Promise((resolve) => setTimeout(resolve, 150));
    ac.abort();
    await sent.catch(() => {});
  }
  // The holds went with their callers: no bytes held, and acme's calls are served, asking ones too.
  await eventually(() => t.gw.requestBytes.held === 0, { timeoutMs: 5000 });
  const ok = await call('acme', 'echo', { text: 'still served' });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.match(JSON.stringify(ok.body.result), /still served/);
  const asked = [];
  for (let i = 0; i < 2; i++) asked.push(await call('acme', 'ask', {}, { elicitation: {} }));
  for (const a of asked) assert.equal(a.body.result?.resultType, 'input_required', JSON.stringify(a.body));
  // Those two were given a request state (a retry may come): they stay, and the principal's cap holds.
  const third = await call('acme', 'ask', {}, { elicitation: {} });
  assert.equal(third.status, 429, JSON.stringify(third.body));
  assert.match(String(third.body.error?.message), /too many of your calls are waiting for client input \(at most 2\)/);
  // globex was never in acme's way.
  assert.equal((await call('globex', 'ask', {}, { elicitation: {} })).body.result?.resultType, 'input_required');
});
