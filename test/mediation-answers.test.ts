/**
 * Complete mediation, tried as an attacker would: what an upstream says. Everything it says is
 * scrubbed; what a caller is shown (tools, prompts, resources, their changes, roots, subscriptions)
 * is its own tenant's and the reviewed one; what the inventory records holds no tenant's secret.
 * The gateway and its upstream: test/support/mediation.ts.
 */
import { test } from 'node:test';
import Sqlite from 'better-sqlite3';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CreateMessageRequestSchema,
  EmptyResultSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { createKey, runCli } from './support/gateway.ts';
import { modernMeta, postModern, replyOf } from './support/rpc.ts';
import { eventually } from './support/eventually.ts';
import {
  CANARY,
  count,
  data,
  keys,
  noCanary,
  reached,
  rpc,
  sdk,
  startMediationGateway,
  t,
} from './support/mediation.ts';

startMediationGateway();

test("a subscription hears only its own tenant's updates", async () => {
  const acme = await sdk('acme');
  const globex = await sdk('globex');
  const heard = { acme: [] as string[], globex: [] as string[] };
  acme.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void heard.acme.push(n.params.uri));
  globex.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void heard.globex.push(n.params.uri));
  await acme.subscribeResource({ uri: 'gatehouse:mt/secret://token' });
  await globex.subscribeResource({ uri: 'gatehouse:mt/secret://token' });
  await acme.callTool({ name: 'mt__touch', arguments: { uri: 'secret://token' } });
  await eventually(() => heard.acme.length, { timeoutMs: 10_000, intervalMs: 20 });
  assert.deepEqual(heard.acme, ['gatehouse:mt/secret://token']);
  // globex's own process changed nothing; acme's change is not globex's business.
  await globex.callTool({ name: 'mt__whoami', arguments: {} });
  assert.deepEqual(heard.globex, []);
  await acme.close();
  await globex.close();
});

test("a log message said outside any call reaches only its tenant's sessions that asked for its level, scrubbed", async () => {
  const heard: Record<string, Array<{ level: string; data: unknown }>> = {
    info: [],
    quiet: [],
    critical: [],
    globex: [],
  };
  const clients: Record<string, Client> = {};
  for (const [name, tenant, level] of [
    ['info', 'acme', 'info'],
    ['quiet', 'acme', undefined],
    ['critical', 'acme', 'critical'],
    ['globex', 'globex', 'debug'],
  ] as const) {
    const c = await sdk(tenant);
    c.setNotificationHandler(
      LoggingMessageNotificationSchema,
      (n) => void heard[name].push(n.params as { level: string; data: unknown }),
    );
    if (level) await c.setLoggingLevel(level);
    clients[name] = c;
  }
  // acme's process speaks after the call has been answered: no call is in flight to give it to.
  await clients.quiet.callTool({ name: 'mt__leak', arguments: { how: 'later' } });
  await eventually(() => heard.info.length, { timeoutMs: 10_000, intervalMs: 20 });
  await new Promise((r) => setTimeout(r, 300)); // the debug line (said right after) would have come by now
  assert.deepEqual(
    heard.info.map((m) => m.level),
    ['error'],
    'the session that asked for info hears the error, not the debug line',
  );
  assert.match(String(heard.info[0].data), /^error of acme later with /);
  noCanary(heard, 'log messages');
  assert.deepEqual(heard.quiet, [], 'a session that set no level hears nothing said outside its calls');
  assert.deepEqual(heard.critical, [], 'an error is below critical');
  assert.equal(heard.globex.length, 0, "acme's process is not globex's business, at any level");
  // And the other way: globex's process speaks; no acme session hears it, globex's hears both lines.
  await clients.globex.callTool({ name: 'mt__leak', arguments: { how: 'later' } });
  await eventually(() => heard.globex.length === 2, { timeoutMs: 10_000, intervalMs: 20 });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(heard.info.length, 1, "globex's lines never reach acme");
  assert.match(String(heard.globex[0].data), /^error of globex later with /);
  noCanary(heard, 'log messages');
  for (const c of Object.values(clients)) await c.close();
});

test('logging/setLevel with no MCP log level is -32602 naming the levels, and leaves the session hearing nothing', async () => {
  const c = await sdk('acme');
  const heard: unknown[] = [];
  c.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void heard.push(n.params));
  for (const params of [{ level: 'verbose' }, { level: 'DEBUG' }, { level: 3 }, {}]) {
    const err = await c
      .request({ method: 'logging/setLevel', params } as never, EmptyResultSchema)
      .catch((e: Error) => e);
    assert.ok(err instanceof Error, JSON.stringify(params));
    assert.match(
      err.message,
      /-32602.*`level` (is .*, not a log level|is required) \(one of debug, info, notice, warning, error, critical, alert, emergency\)/,
      JSON.stringify(params),
    );
  }
  // Before, `verbose` was kept, and an unknown minimum let every level through to this session.
  const other = await sdk('acme');
  await other.callTool({ name: 'mt__leak', arguments: { how: 'later' } });
  await new Promise((r) => setTimeout(r, 600));
  assert.deepEqual(heard, [], 'a refused level is no level: nothing said outside its calls');
  await c.setLoggingLevel('error');
  await other.callTool({ name: 'mt__leak', arguments: { how: 'later' } });
  await eventually(() => heard.length, { timeoutMs: 10_000, intervalMs: 20 });
  assert.deepEqual(
    heard.map((m) => (m as { level: string }).level),
    ['error'],
  );
  await c.close();
  await other.close();
});

test("server/discover on a server's own endpoint: its instructions, scrubbed as initialize scrubs them", async () => {
  const r = await postModern(`${t.url}/servers/mt`, 'server/discover', { _meta: modernMeta() }, { token: keys.globex });
  const result = (await replyOf(r)).result as unknown as {
    _meta: { 'io.modelcontextprotocol/serverInfo': { name: string } };
    instructions: string;
  };
  // Who answers is in `_meta`, as on every 2026-07-28 result (DiscoverResult has no serverInfo of its own).
  assert.equal(result._meta['io.modelcontextprotocol/serverInfo'].name, 'tenant-server');
  assert.match(result.instructions, /^This server connects with \[REDACTED:credential\]/);
  noCanary(result, 'server/discover');
});

test('everything an upstream says is scrubbed: descriptions, instructions, prompts, contents, progress, logs, sampling, deep and split results', async () => {
  const client = await sdk('globex', { sampling: {} });
  const asked: unknown[] = [];
  client.setRequestHandler(CreateMessageRequestSchema, async (r) => {
    asked.push(r.params);
    return { model: 'm', role: 'assistant', content: { type: 'text', text: 'ok' } };
  });
  const logs: unknown[] = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params));
  // Listings come from acme's (the discovery tenant's) process: its canary is in the descriptions.
  noCanary(await client.listTools(), 'tools/list');
  noCanary(await client.listPrompts(), 'prompts/list');
  noCanary(await client.listResources(), 'resources/list');
  const progress: unknown[] = [];
  noCanary(
    await client.callTool({ name: 'mt__leak', arguments: { how: 'progress' } }, undefined, {
      onprogress: (p) => void progress.push(p),
    }),
    'progress result',
  );
  assert.equal(progress.length, 1);
  noCanary(progress, 'progress');
  // The token the server was given is the gateway's own, and tells it nothing of the gateway's process.
  const given = reached()
    .filter((r) => r.msg.method === 'tools/call' && (r.msg.params?.arguments as { how?: string })?.how === 'progress')
    .map((r) => String((r.msg.params?._meta as { progressToken?: unknown })?.progressToken))
    .at(-1);
  assert.match(given ?? '', /^gh-[A-Za-z0-9_-]{12}-\d+$/);
  noCanary(await client.callTool({ name: 'mt__leak', arguments: { how: 'log' } }), 'log result');
  assert.ok(logs.length >= 1);
  noCanary(logs, 'log messages');
  noCanary(await client.callTool({ name: 'mt__leak', arguments: { how: 'sample' } }), 'sample result');
  assert.equal(asked.length, 1);
  noCanary(asked, 'the sampling request');
  noCanary(await client.callTool({ name: 'mt__leak', arguments: { how: 'deep' } }), 'deep structured content');
  const split = await client.callTool({ name: 'mt__leak', arguments: { how: 'split' } });
  noCanary((split.content as Array<{ text: string }>).map((c) => c.text).join(''), 'split content');
  await client.close();
  // The per-server endpoint's instructions are the upstream's own, scrubbed.
  const direct = await sdk('globex', {}, '/servers/mt/mcp');
  assert.match(direct.getInstructions() ?? '', /This server connects with/);
  noCanary(direct.getInstructions(), 'instructions');
  await direct.close();
});

test("roots: a caller never gets another tenant's roots from a stateful upstream", async () => {
  const acme = await sdk('acme', { roots: { listChanged: true } });
  acme.setRequestHandler(ListRootsRequestSchema, async () => ({
    roots: [{ uri: 'file:///home/acme/secret-project', name: 'acme' }],
  }));
  const a = await acme.callTool({ name: 'mt__roots', arguments: {} });
  assert.match(JSON.stringify(a.content), /secret-project/);
  const globex = await sdk('globex');
  const g = await globex.callTool({ name: 'mt__roots', arguments: {} });
  assert.doesNotMatch(JSON.stringify(g.content), /secret-project/);
  await acme.close();
  await globex.close();
});

test("roots: with `connections: per-user` a caller never gets another user's roots, even of its own tenant", async () => {
  const first = await sdk('acme', { roots: { listChanged: true } });
  first.setRequestHandler(ListRootsRequestSchema, async () => ({
    roots: [{ uri: 'file:///home/alice/private', name: 'alice' }],
  }));
  const second = await sdk('acme2');
  const roots = async (c: Client, tool: string) =>
    JSON.stringify((await c.callTool({ name: tool, arguments: {} })).content);
  // twin keeps a connection per user: what its process remembers of the first caller stays with it.
  assert.match(await roots(first, 'twin__roots'), /alice\/private/);
  assert.doesNotMatch(await roots(second, 'twin__roots'), /alice/);
  // mt keeps the default, a connection per tenant: both callers reach one process, which remembers
  // whichever roots it was given first (the trade-off `per-user` exists for).
  const mtFirst = await roots(first, 'mt__roots');
  assert.notEqual(mtFirst, JSON.stringify([{ type: 'text', text: '[]' }]));
  assert.equal(await roots(second, 'mt__roots'), mtFirst);
  await first.close();
  await second.close();
});

test("listed resources are the caller's own tenant's: another tenant's never appear, on either endpoint", async () => {
  const uris = async (tenant: string, path = '/mcp') =>
    ((await rpc(tenant, 'resources/list', {}, path)).result?.resources ?? []).map((r: { uri: string }) => r.uri);
  const asked = (tenant: string) =>
    reached().filter((r) => r.tenant === tenant && r.msg.method === 'resources/list').length;
  const globexAsked = asked('globex');
  // acme is the servers' discovery tenant: its listing is the catalogue's.
  const acme = await uris('acme');
  assert.ok(acme.includes('gatehouse:mt/tenant://acme/notes'), acme.join(' '));
  assert.ok(acme.includes('gatehouse:twin/tenant://acme/notes'), acme.join(' '));
  assert.ok(!acme.some((u: string) => u.includes('globex')), acme.join(' '));
  // globex's comes from globex's own processes, listed once and kept.
  for (let i = 0; i < 2; i++) {
    const globex = await uris('globex');
    assert.ok(globex.includes('gatehouse:mt/tenant://globex/notes'), globex.join(' '));
    assert.ok(globex.includes('gatehouse:twin/tenant://globex/notes'), globex.join(' '));
    assert.ok(globex.includes('gatehouse:mt/secret://token'), globex.join(' '));
    assert.ok(!globex.some((u: string) => u.includes('acme')), globex.join(' '));
    assert.ok(!globex.some((u: string) => u.includes('evil')), `a poisoned resource is not shown: ${globex.join(' ')}`);
  }
  const perServer = await uris('globex', '/servers/mt/mcp');
  assert.deepEqual(
    perServer.filter((u: string) => u.startsWith('tenant://')),
    ['tenant://globex/notes'],
    perServer.join(' '),
  );
  // Three listings, one question at most (an earlier test's listing may have asked it already).
  assert.ok(asked('globex') - globexAsked <= 1, `globex's process was asked ${asked('globex') - globexAsked} times`);
  const list = await rpc('globex', 'resources/list', {});
  noCanary(list, "globex's resources/list");
  // What globex is shown, it can read, on its own process.
  const read = await rpc('globex', 'resources/read', { uri: 'gatehouse:mt/tenant://globex/notes' });
  assert.equal(read.result?.contents?.[0]?.text, 'globex notes', JSON.stringify(read));
  // acme's quarantined resource is acme's: to globex its URI is one nothing lists, read on its own process.
  const globexReads = reached().filter((r) => r.tenant === 'globex' && r.msg.method === 'resources/read').length;
  const other = await rpc('globex', 'resources/read', { uri: 'gatehouse:mt/tenant://acme/evil' });
  assert.doesNotMatch(JSON.stringify(other), /quarantine/);
  assert.equal(
    reached().filter((r) => r.tenant === 'globex' && r.msg.method === 'resources/read').length,
    globexReads + 1,
  );
  // A principal no rule allows any resource makes no connection and asks nothing.
  const before = reached().length;
  assert.deepEqual((await rpc('nobody', 'resources/list', {})).result.resources, []);
  assert.equal(reached().length, before);
});

test("a change of one tenant's listed resources is told to that tenant's sessions only, and its next listing asks again", async () => {
  const asked = () => reached().filter((r) => r.tenant === 'globex' && r.msg.method === 'resources/list').length;
  const heard = { acme: 0, globex: 0 };
  const clients: Client[] = [];
  for (const tenant of ['acme', 'globex'] as const) {
    const c = await sdk(tenant);
    c.setNotificationHandler(ResourceListChangedNotificationSchema, () => void heard[tenant]++);
    await c.listResources(); // opens the GET stream and fills globex's own listing
    clients.push(c);
  }
  const before = asked();
  const r = await clients[1].callTool({ name: 'mt__relist', arguments: {} });
  assert.match(JSON.stringify(r.content), /relisted/);
  await eventually(() => heard.globex > 0);
  await new Promise((res) => setTimeout(res, 300)); // what acme would hear has had its time
  assert.equal(heard.acme, 0, "acme heard of globex's change");
  await clients[1].listResources();
  assert.equal(asked(), before + 1, "globex's process was asked for its list again");
  // Said 300 times at once, it is told at most twice a second: at once, then once at the window's end.
  await new Promise((res) => setTimeout(res, 600)); // past the window of the first change
  const told = heard.globex;
  await clients[1].callTool({ name: 'mt__relist', arguments: { times: 300 } });
  await new Promise((res) => setTimeout(res, 1200));
  assert.ok(heard.globex - told >= 1 && heard.globex - told <= 3, `told ${heard.globex - told} times`);
  assert.equal(heard.acme, 0);
  for (const c of clients) await c.close();
});

test("tools and prompts are the reviewed ones on the caller's own connection: what it lists otherwise, or only it lists, is neither shown nor called", async () => {
  const names = async (tenant: string, method: 'tools/list' | 'prompts/list', path = '/mcp') => {
    const r = await rpc(tenant, method, {}, path);
    return ((r.result?.tools ?? r.result?.prompts ?? []) as Array<{ name: string }>).map((x) => x.name);
  };
  const sent = (tenant: string, method: string, name: string) =>
    reached().filter((r) => r.tenant === tenant && r.msg.method === method && r.msg.params?.name === name).length;
  // acme is the discovery tenant: the catalogue is what its process lists.
  const acmeTools = await names('acme', 'tools/list');
  assert.ok(acmeTools.includes('mt__report') && acmeTools.includes('mt__whoami'), acmeTools.join(' '));
  assert.ok(!acmeTools.includes('mt__extra'), acmeTools.join(' '));
  assert.ok((await names('acme', 'prompts/list')).includes('mt__brief'));
  // globex's process defines `report` and `brief` otherwise and lists `extra`: none of them is shown;
  // `whoami` and `greet`, which differ only by the tenant's own secret, are.
  for (const path of ['/mcp', '/servers/mt/mcp']) {
    const prefix = path === '/mcp' ? 'mt__' : '';
    const tools = await names('globex', 'tools/list', path);
    assert.ok(tools.includes(`${prefix}whoami`) && tools.includes(`${prefix}strict`), `${path}: ${tools.join(' ')}`);
    assert.ok(!tools.includes(`${prefix}report`) && !tools.includes(`${prefix}extra`), `${path}: ${tools.join(' ')}`);
    const prompts = await names('globex', 'prompts/list', path);
    assert.ok(
      prompts.includes(`${prefix}greet`) && !prompts.includes(`${prefix}brief`),
      `${path}: ${prompts.join(' ')}`,
    );
  }
  // Called anyway: refused before anything is forwarded, on either endpoint; acme's call runs.
  for (const [path, name] of [
    ['/mcp', 'mt__report'],
    ['/servers/mt/mcp', 'report'],
  ]) {
    const r = await rpc('globex', 'tools/call', { name, arguments: {} }, path);
    assert.equal(r.error?.code, -32001, JSON.stringify(r)); // refused by the gateway
    assert.match(String(r.error?.message), /defined otherwise on your tenant's connection/);
  }
  const extra = await rpc('globex', 'tools/call', { name: 'mt__extra', arguments: {} });
  assert.match(String(extra.error?.message), /unknown tool/, JSON.stringify(extra));
  const brief = await rpc('globex', 'prompts/get', { name: 'mt__brief' });
  assert.match(String(brief.error?.message), /defined otherwise/, JSON.stringify(brief));
  assert.equal(sent('globex', 'tools/call', 'report'), 0, "globex's process ran a definition nobody reviewed");
  assert.equal(sent('globex', 'tools/call', 'extra'), 0);
  assert.equal(sent('globex', 'prompts/get', 'brief'), 0);
  const ok = await rpc('acme', 'tools/call', { name: 'mt__report', arguments: {} });
  assert.equal(ok.result?.content?.[0]?.text, 'report of acme', JSON.stringify(ok));
  const whoami = await rpc('globex', 'tools/call', { name: 'mt__whoami', arguments: {} });
  assert.equal(whoami.result?.content?.[0]?.text, 'globex', JSON.stringify(whoami));
  // The refusal is recorded, with the reason.
  const found = await runCli(['audit', 'search', '--tool', 'mt__report', '--json', '-c', t.file]);
  assert.match(found.stdout, /E_TOOL_QUARANTINED/);
});

test('prompts and templates are pinned and scanned: a poisoned prompt is quarantined, unlisted and refused', async () => {
  const names = (await rpc('acme', 'prompts/list', {})).result.prompts.map((p: { name: string }) => p.name);
  assert.ok(names.includes('mt__greet') && !names.includes('mt__evil'), names.join(' '));
  const before = count('prompts/get');
  const r = await rpc('acme', 'prompts/get', { name: 'mt__evil' });
  assert.ok(r.error, JSON.stringify(r));
  assert.equal(count('prompts/get'), before);
  const inv = await runCli(['inventory', '--format', 'json', '-c', t.file]);
  const rows = (JSON.parse(inv.stdout) as { rows: Array<{ tool: string; status: string; pin: string }> }).rows;
  assert.equal(rows.find((x) => x.tool === 'mt__prompt:evil')?.status, 'quarantined');
  assert.equal(rows.find((x) => x.tool === 'mt__prompt:greet')?.status, 'active');
  assert.ok(rows.find((x) => x.tool === 'mt__template:file:///{+path}')?.pin.startsWith('sha256:'));
});

test("a tenant admin's inventory holds no other tenant's listed resources of a server whose connections differ by tenant, and no admin's holds an injected secret", async () => {
  keys['globex-admin'] ??= await createKey(t.file, {
    name: 'globex-admin',
    tenant: 'globex',
    person: 'gina',
    roles: 'gatehouse-admin',
    scopes: 'mcp:read',
  });
  keys['platform-admin'] ??= await createKey(t.file, {
    name: 'platform-admin',
    tenant: 'ops',
    person: 'pat',
    roles: 'gatehouse-platform-admin',
    scopes: 'mcp:read',
  });
  const read = async (who: string, path: string) => {
    const r = await fetch(`${t.url}/admin/v1/${path}`, { headers: { authorization: `Bearer ${keys[who]}` } });
    assert.equal(r.status, 200, `${who} ${path}: ${r.status}`);
    return r.text();
  };
  // The discovery tenant's (acme's) listed resources: the platform admin sees them, globex's admin does not.
  assert.match(await read('platform-admin', 'inventory'), /tenant:\/\/acme\/notes/);
  for (const path of ['inventory', 'inventory/diff', 'inventory/events?limit=5000']) {
    const body = await read('globex-admin', path);
    assert.doesNotMatch(body, /tenant:\/\/acme/, path);
  }
  // Tools stay visible to it (definitions, reviewed once per server).
  assert.match(await read('globex-admin', 'inventory'), /mt__whoami/);
  // The server says its (acme's) secret in its instructions and in whoami's description: what the
  // inventory recorded is scrubbed, for every admin, and so is what it stored.
  for (const who of ['globex-admin', 'platform-admin'])
    for (const path of ['inventory', 'inventory/diff', 'inventory/events?limit=5000']) {
      const body = await read(who, path);
      for (const c of Object.values(CANARY)) assert.ok(!body.includes(c), `${who} ${path} holds a canary`);
    }
  const db = new Sqlite(join(t.dir, 'state', 'gatehouse.db'), { readonly: true });
  try {
    const row = db.prepare("select def from inventory_tools where server = 'mt' and tool = 'whoami'").get() as {
      def: string;
    };
    assert.match(row.def, /it holds \[REDACTED:credential\]/);
  } finally {
    db.close();
  }
  const state = join(t.dir, 'state');
  for (const f of readdirSync(state).filter((n) => n.startsWith('gatehouse.db'))) {
    const path = join(state, f);
    const bytes = statSync(path).isDirectory()
      ? readdirSync(path)
          .map((n) => readFileSync(join(path, n), 'latin1'))
          .join('')
      : readFileSync(path, 'latin1');
    for (const c of Object.values(CANARY)) assert.ok(!bytes.includes(c), `${f} holds a canary`);
  }
});

test('results: a well-known secret an upstream found elsewhere is redacted when configured (secrets.results: redact)', async () => {
  const r = await rpc('acme', 'tools/call', { name: 'mt__leak', arguments: { how: 'aws' } });
  const text = r.result.content[0].text as string;
  assert.doesNotMatch(text, /AKIAQ3EGRAB5CDEFGHIJ/);
  assert.match(text, /REDACTED/);
});

test("one tenant's sessions share the upstream subscription: the first makes it, the last ends it", async () => {
  const uri = `gatehouse:mt/file://${data}/acme/notes.txt`;
  const [subs, unsubs] = [count('resources/subscribe'), count('resources/unsubscribe')];
  const a = await sdk('acme');
  const b = await sdk('acme');
  const heard: string[] = [];
  b.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void heard.push(n.params.uri));
  await a.subscribeResource({ uri });
  await b.subscribeResource({ uri });
  assert.equal(count('resources/subscribe'), subs + 1, 'one upstream subscription for the tenant');
  await a.unsubscribeResource({ uri });
  assert.equal(count('resources/unsubscribe'), unsubs, 'b still holds it: nothing ended upstream');
  await a.callTool({ name: 'mt__touch', arguments: { uri: `file://${data}/acme/notes.txt` } });
  await eventually(() => heard.length, { timeoutMs: 10_000, intervalMs: 20 });
  assert.deepEqual(heard, [uri]);
  await b.unsubscribeResource({ uri });
  assert.equal(count('resources/unsubscribe'), unsubs + 1, 'the last one out ends it');
  await a.close();
  await b.close();
});
