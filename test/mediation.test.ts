/**
 * Complete mediation, tried as an attacker would: every method that reaches an upstream passes its
 * row of the method table, on the caller's own tenant's connection; everything an upstream says is
 * scrubbed; what a caller may not use looks like what does not exist; what policy checked is what the
 * upstream receives. Two tenants (acme, globex) with canary secrets, a third (nobody) that no rule
 * allows, and a stateful upstream (test/fixtures/upstreams/tenant-server.ts) that records every
 * message it receives, tagged with the tenant whose process received it.
 */
import { after, before, test } from 'node:test';
import Sqlite from 'better-sqlite3';
import assert from 'node:assert/strict';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { ROOT, createKey, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { localSecrets } from './support/secrets.ts';
import { openLegacySession, postLegacy, postModernCall, type Reply } from './support/rpc.ts';
import { withLoopDelay } from './support/loop-delay.ts';
import { eventually } from './support/eventually.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-mediation-'));
const data = join(tmp, 'data');
const CANARY = { acme: `canary-acme-${randomUUID()}`, globex: `canary-globex-${randomUUID()}` };
/** Secrets of tenants that never call here (noread has no scope to): no connection ever holds them. */
const UNUSED = { nobody: `canary-nobody-${randomUUID()}`, noread: `canary-noread-${randomUUID()}` };
const record = join(tmp, 'record.jsonl');
const twinRecord = join(tmp, 'twin.jsonl');
const keys: Record<string, string> = {};
let t: TestGateway;

const SERVER = join(ROOT, 'test/fixtures/upstreams/tenant-server.ts');
const READ_TOOLS = ['whoami', 'read_file', 'fetch', 'strict', 'leak', 'roots', 'touch', 'relist', 'report'];
const classes = `    tools: { ${READ_TOOLS.map((n) => `${n}: { class: READ }`).join(', ')} }\n`;

before(async () => {
  mkdirSync(join(data, 'acme'), { recursive: true });
  mkdirSync(join(data, 'globex'), { recursive: true });
  writeFileSync(join(data, 'acme', 'notes.txt'), 'acme notes');
  writeFileSync(join(data, 'globex', 'plans.txt'), 'globex plans');
  writeFileSync(join(tmp, 'outside.txt'), 'outside the allowed folder');
  symlinkSync(join(tmp, 'outside.txt'), join(data, 'acme', 'link.txt'));
  const policy = join(tmp, 'policy.yaml');
  writeFileSync(
    policy,
    `
resources:
  - { tool: mt__read_file, resource: { kind: path, arg: path } }
  - { tool: mt__fetch, resource: { kind: url, arg: url } }
rules:
  - id: tenants-read
    subjects: { tenants: [acme, globex] }
    tools: [mt__whoami, mt__strict, mt__leak, mt__roots, mt__touch, mt__relist, mt__report, mt__extra, 'twin__*']
    classes: [READ]
    effect: allow
  - id: tenants-prompts
    subjects: { tenants: [acme, globex] }
    prompts: ['mt__*', 'twin__*']
    effect: allow
  - id: own-files
    subjects: { tenants: [acme] }
    tools: [mt__read_file]
    resources: ['${data}/acme/*']
    effect: allow
  - id: own-file-resources
    subjects: { tenants: [acme] }
    resources: ['${data}/acme/*', 'secret://token']
    effect: allow
  - id: globex-token
    subjects: { tenants: [globex] }
    resources: ['secret://token']
    effect: allow
  - id: tenant-notes
    subjects: { tenants: [acme, globex] }
    resources: ['tenant://*/notes', 'tenant://*/evil']
    effect: allow
  - id: docs
    subjects: { tenants: [acme] }
    tools: [mt__fetch]
    resources: ['https://docs.allowed.test/*']
    effect: allow
`,
  );
  const creds = '    credentials: { env: { TENANT_TOKEN: "local:canary-{tenant}" }, discoveryTenant: acme }\n';
  t = await startGateway(
    stdioServer('mt', SERVER) +
      `    env: { RECORD_FILE: ${JSON.stringify(record)} }\n` +
      creds +
      classes +
      stdioServer('twin', SERVER) +
      `    env: { RECORD_FILE: ${JSON.stringify(twinRecord)} }\n` +
      '    connections: per-user\n' +
      creds +
      classes,
    {
      top: `identity: { apiKeys: true, requiredScopes: { READ: [mcp:read] } }\npolicy: { files: [${JSON.stringify(policy)}] }\ninventory: { newTools: quarantine }\nsecrets: { results: redact }\n`,
      before: async (stateDir: string) => {
        const store = await localSecrets(stateDir);
        await store.set('canary-acme', CANARY.acme);
        await store.set('canary-globex', CANARY.globex);
        await store.set('canary-nobody', UNUSED.nobody);
        await store.set('canary-noread', UNUSED.noread);
      },
    },
  );
  for (const [tenant, scopes] of [
    ['acme', 'mcp:read'],
    ['globex', 'mcp:read'],
    ['nobody', 'mcp:read'],
    ['noread', 'mcp:other'],
  ] as const) {
    keys[tenant] = await createKey(t.file, { name: tenant, tenant, scopes });
  }
  keys.acme2 = await createKey(t.file, { name: 'acme-two', tenant: 'acme', scopes: 'mcp:read' });
});
after(async () => {
  await t?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** What reached the upstream processes: each message with the tenant whose process received it. */
function reached(file = record): Array<{ tenant: string; msg: { method?: string; params?: Record<string, unknown> } }> {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}
const count = (method: string, file = record) => reached(file).filter((r) => r.msg.method === method).length;

let seq = 0;
/** A raw 2025-11-25 request on a fresh session of `tenant`; the JSON-RPC response. */
async function rpc(tenant: string, method: string, params: Record<string, unknown>, path = '/mcp'): Promise<Reply> {
  const sid = await session(tenant, path);
  const r = await postLegacy(t.url, { jsonrpc: '2.0', id: ++seq, method, params }, { sid, token: keys[tenant], path });
  const text = await r.text();
  const line = text.startsWith('{')
    ? text
    : text
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .find((l) => l.includes(`"id":${seq}`));
  return JSON.parse(line ?? text) as Reply;
}
const sessions = new Map<string, string>();
async function session(tenant: string, path: string): Promise<string> {
  const key = `${tenant} ${path}`;
  if (sessions.has(key)) return sessions.get(key)!;
  sessions.set(key, await openLegacySession(t.url, 'raw', { id: 0, token: keys[tenant], path }));
  return sessions.get(key)!;
}

async function sdk(tenant: string, capabilities: Record<string, unknown> = {}, path = '/mcp'): Promise<Client> {
  const c = new Client({ name: `mediation-${tenant}`, version: '1.0.0' }, { capabilities });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(`${t.url}${path}`), {
      requestInit: { headers: { authorization: `Bearer ${keys[tenant]}` } },
    }),
  );
  return c;
}

const noCanary = (what: unknown, label: string) => {
  const s = typeof what === 'string' ? what : JSON.stringify(what);
  for (const c of Object.values(CANARY)) {
    for (const enc of [c, Buffer.from(c).toString('base64'), Buffer.from(c).toString('hex')])
      assert.ok(!s.includes(enc), `${label} carries a canary: ${s.slice(0, 300)}`);
    assert.ok(!s.includes(c.slice(0, 18)) || !s.includes(c.slice(18)), `${label} carries a split canary`);
  }
};

test('a method outside the method table is refused; tasks/list is not answered with an empty list', async () => {
  for (const m of ['tasks/list', 'sampling/createMessage', 'roots/list', 'admin/anything']) {
    const r = await rpc('acme', m, {});
    assert.equal(r.error?.code, -32601, `${m}: ${JSON.stringify(r)}`);
  }
});

test('prompts, resources, completions and subscriptions of a principal no rule allows look like nothing; nothing reaches the upstream', async () => {
  const before = reached().length;
  const prompt = await rpc('nobody', 'prompts/get', { name: 'mt__greet', arguments: { name: 'x' } });
  const noPrompt = await rpc('nobody', 'prompts/get', { name: 'mt__no_such_prompt' });
  assert.equal(prompt.error.code, noPrompt.error.code);
  assert.equal(
    prompt.error.message.replace('mt__greet', 'X'),
    noPrompt.error.message.replace('mt__no_such_prompt', 'X'),
  );
  const read = await rpc('nobody', 'resources/read', { uri: 'gatehouse:mt/secret://token' });
  const noRead = await rpc('nobody', 'resources/read', { uri: 'gatehouse:mt/secret://none' });
  assert.equal(read.error.code, noRead.error.code);
  assert.equal(read.error.message.replace('token', 'X'), noRead.error.message.replace('none', 'X'));
  const passwd = await rpc('nobody', 'resources/read', { uri: `gatehouse:mt/file://${data}/globex/plans.txt` });
  assert.ok(passwd.error, JSON.stringify(passwd));
  const complete = await rpc('nobody', 'completion/complete', {
    ref: { type: 'ref/prompt', name: 'mt__greet' },
    argument: { name: 'name', value: 'a' },
  });
  assert.ok(complete.error, JSON.stringify(complete));
  const sub = await rpc('nobody', 'resources/subscribe', { uri: 'gatehouse:mt/secret://token' });
  assert.ok(sub.error, JSON.stringify(sub));
  // Listings agree: the principal is shown nothing it cannot use.
  for (const [m, f] of [
    ['tools/list', 'tools'],
    ['prompts/list', 'prompts'],
    ['resources/list', 'resources'],
    ['resources/templates/list', 'resourceTemplates'],
  ] as const) {
    const l = await rpc('nobody', m, {});
    assert.deepEqual(l.result[f], [], `${m} for nobody: ${JSON.stringify(l.result[f]).slice(0, 200)}`);
  }
  assert.equal(reached().length, before, 'nothing reached any upstream process');
  // Each refusal is recorded.
  const mine = (await t.gw.store.audit.read({ kind: 'call.refused', tenant: 'nobody', limit: 500 })).map(
    (r) => r.event,
  );
  for (const m of ['prompts/get', 'resources/read', 'completion/complete', 'resources/subscribe'])
    assert.ok(
      mine.some((r) => r.method === m),
      `a refusal record for ${m}`,
    );
});

test("each tenant's requests are answered by its own process, with its own secret, for every method", async () => {
  const before = reached().length;
  const a = await rpc('acme', 'resources/read', { uri: 'gatehouse:mt/secret://token' });
  const g = await rpc('globex', 'resources/read', { uri: 'gatehouse:mt/secret://token' });
  for (const [r, label] of [
    [a, 'acme'],
    [g, 'globex'],
  ] as const) {
    assert.ok(r.result, JSON.stringify(r));
    noCanary(r, `${label}'s read`);
  }
  const p = await rpc('globex', 'prompts/get', { name: 'mt__greet', arguments: { name: 'Ada' } });
  assert.match(JSON.stringify(p.result.messages), /Hello Ada/);
  noCanary(p, "globex's prompt");
  const c = await rpc('globex', 'completion/complete', {
    ref: { type: 'ref/prompt', name: 'mt__greet' },
    argument: { name: 'name', value: 'bo' },
  });
  assert.ok(c.result.completion.values.includes('bo-alice'), JSON.stringify(c));
  noCanary(c, "globex's completion");
  const got = reached().slice(before);
  const byMethod = (m: string) => got.filter((r) => r.msg.method === m).map((r) => r.tenant);
  assert.deepEqual(byMethod('resources/read').sort(), ['acme', 'globex']);
  assert.deepEqual(byMethod('prompts/get'), ['globex']);
  assert.deepEqual(byMethod('completion/complete'), ['globex']);
  assert.ok(
    !got.some((r) => r.msg.params?.uri !== undefined && String(r.msg.params.uri).startsWith('gatehouse:')),
    'the upstream gets its own URIs',
  );
  // Each request has its write-ahead intent and its outcome, naming the method and the target.
  const recs = (await t.gw.store.audit.read({ tenant: 'globex', limit: 1000 })).map((r) => r.event);
  for (const [method, target] of [
    ['resources/read', 'gatehouse:mt/secret://token'],
    ['prompts/get', 'mt__greet'],
    ['completion/complete', 'mt__greet'],
  ]) {
    const intent = recs.find((e) => e.kind === 'call.intent' && e.method === method && e.tool === target);
    assert.ok(intent, `an intent for ${method}`);
    assert.ok(
      recs.some((e) => e.kind === 'call.outcome' && e.intent === intent.id && e.outcome === 'ok'),
      `an outcome for ${method}`,
    );
  }
});

test('traversal, encodings, look-alikes and symlinks out of an allowed folder are refused with nothing upstream; the canonical form is what goes upstream', async () => {
  const before = reached().length;
  const hostile = [
    `file://${data}/acme/../globex/plans.txt`,
    `file://${data}/acme/%2e%2e/globex/plans.txt`,
    `file://${data}/acme/%252e%252e/globex/plans.txt`,
    `file://${data}/acme/\uff0e\uff0e\uff0fglobex/plans.txt`,
    `file://${data}/acme/link.txt`,
    `file://${data}/acme/notes.txt\u200b`,
    `file://evil.example${data}/acme/notes.txt`,
  ];
  for (const uri of hostile) {
    const r = await rpc('acme', 'resources/read', { uri: `gatehouse:mt/${uri}` });
    assert.ok(r.error, `${uri}: ${JSON.stringify(r).slice(0, 200)}`);
    assert.doesNotMatch(JSON.stringify(r), /globex plans|outside the allowed/);
  }
  for (const path of [
    `${data}/acme/../globex/plans.txt`,
    `${data}/acme/\uff0e\uff0e\uff0fglobex/plans.txt`,
    `${data}/acme/link.txt`,
  ]) {
    const r = await rpc('acme', 'tools/call', { name: 'mt__read_file', arguments: { path } });
    assert.ok(r.error || r.result?.isError, `${path}: ${JSON.stringify(r).slice(0, 200)}`);
    assert.doesNotMatch(JSON.stringify(r), /globex plans|outside the allowed/);
  }
  assert.equal(reached().length, before, 'nothing hostile reached the upstream');
  // Allowed, written non-canonically: the upstream receives exactly the canonical form policy judged.
  const ok = await rpc('acme', 'resources/read', { uri: `gatehouse:mt/file://${data}/acme//notes.txt` });
  assert.equal(ok.result.contents[0].text, 'acme notes');
  const f = await rpc('acme', 'tools/call', {
    name: 'mt__fetch',
    arguments: { url: 'https://DOCS.allowed.test/a/../../@169.254.169.254/' },
  });
  assert.equal(f.result.isError ?? false, false, JSON.stringify(f));
  const sent = reached()
    .slice(before)
    .map((r) => r.msg);
  assert.ok(
    sent.some((m) => m.method === 'resources/read' && m.params?.uri === `file://${data}/acme/notes.txt`),
    JSON.stringify(sent),
  );
  const fetched = sent.find((m) => m.method === 'tools/call')!;
  assert.equal((fetched.params!.arguments as { url: string }).url, 'https://docs.allowed.test/@169.254.169.254/');
});

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

test('visibility before everything: bad arguments or a missing scope never tell a forbidden tool from a missing one', async () => {
  const before = count('tools/call');
  // globex may not use read_file at all (no rule): wrong arguments must not reveal its schema.
  const forbidden = await rpc('globex', 'tools/call', { name: 'mt__read_file', arguments: { nope: 1 } });
  const missing = await rpc('globex', 'tools/call', { name: 'mt__no_such_tool', arguments: { nope: 1 } });
  assert.equal(forbidden.error.code, missing.error.code);
  assert.equal(
    forbidden.error.message.replace('mt__read_file', 'X'),
    missing.error.message.replace('mt__no_such_tool', 'X'),
  );
  // A key without the READ scope: READ tools are unknown and unlisted (no insufficient_scope challenge).
  const noScope = await rpc('noread', 'tools/call', { name: 'mt__whoami', arguments: {} });
  assert.equal(noScope.error.code, missing.error.code);
  assert.match(noScope.error.message, /unknown tool/);
  assert.deepEqual((await rpc('noread', 'tools/list', {})).result.tools, []);
  // A visible tool with bad arguments does say what is wrong.
  const bad = await rpc('acme', 'tools/call', { name: 'mt__strict', arguments: { repo: 1 } });
  assert.match(bad.error.message, /invalid params: `(repo|n)`/);
  assert.equal(count('tools/call'), before);
});

test('resource URIs are namespaced: two servers listing the same URI never capture each other', async () => {
  const list = await rpc('acme', 'resources/list', {});
  const uris = list.result.resources.map((r: { uri: string }) => r.uri);
  assert.ok(
    uris.includes('gatehouse:mt/secret://token') && uris.includes('gatehouse:twin/secret://token'),
    uris.join(' '),
  );
  const templates = (await rpc('acme', 'resources/templates/list', {})).result.resourceTemplates.map(
    (r: { uriTemplate: string }) => r.uriTemplate,
  );
  assert.ok(templates.includes('gatehouse:mt/file:///{+path}'), templates.join(' '));
  const twinBefore = count('resources/read', twinRecord);
  const mtBefore = count('resources/read');
  await rpc('acme', 'resources/read', { uri: 'gatehouse:mt/secret://token' });
  assert.equal(count('resources/read', twinRecord), twinBefore);
  assert.equal(count('resources/read'), mtBefore + 1);
  // A bare URI names no server on the aggregate endpoint.
  const bare = await rpc('acme', 'resources/read', { uri: 'secret://token' });
  assert.ok(bare.error);
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

test("a held call's request state is its caller's: the same person's name in another tenant cannot answer it", async () => {
  // Two keys for a person named `pat`, one per tenant: their subjects are the same word.
  keys['acme-pat'] ??= await createKey(t.file, { name: 'acme-pat', tenant: 'acme', person: 'pat', scopes: 'mcp:read' });
  keys['globex-pat'] ??= await createKey(t.file, {
    name: 'globex-pat',
    tenant: 'globex',
    person: 'pat',
    scopes: 'mcp:read',
  });
  const call = async (who: string, extra: Record<string, unknown> = {}) => {
    const r = await postModernCall(
      t.url,
      'mt__leak',
      { how: 'sample' },
      { token: keys[who], id: ++seq, capabilities: { sampling: {} }, extra },
    );
    return (await r.json()) as Reply;
  };
  const first = await call('acme-pat');
  assert.equal(first.result?.resultType, 'input_required', JSON.stringify(first));
  const [key] = Object.keys(first.result.inputRequests);
  const answer = (text: string) => ({
    requestState: first.result.requestState,
    inputResponses: { [key]: { role: 'assistant', model: 'm', content: { type: 'text', text } } },
  });
  const injected = `injected-by-globex-${randomUUID()}`;
  const stolen = await call('globex-pat', answer(injected));
  assert.equal(stolen.error?.code, -32602, JSON.stringify(stolen));
  assert.match(stolen.error?.message ?? '', /invalid or expired request state/);
  assert.ok(!readFileSync(record, 'utf8').includes(injected), "globex's answer reached acme's process");
  const own = await call('acme-pat', answer('answered by pat of acme'));
  assert.match(JSON.stringify(own.result?.content), /answered by pat of acme/, JSON.stringify(own));
});

test('only the params a method defines go upstream; a bloated `_meta` is refused with nothing upstream', async () => {
  const marker = `extra-${randomUUID()}`;
  const r = await rpc('acme', 'tools/call', {
    name: 'mt__whoami',
    arguments: {},
    foo: marker,
    uri: marker,
    _meta: { 'vendor/note': 'kept' },
  });
  assert.equal(r.result?.content?.[0]?.text, 'acme', JSON.stringify(r));
  const sent = reached()
    .filter((x) => x.tenant === 'acme' && x.msg.method === 'tools/call')
    .at(-1);
  assert.ok(sent && !JSON.stringify(sent).includes(marker), JSON.stringify(sent));
  assert.equal((sent.msg.params?._meta as Record<string, unknown>)?.['vendor/note'], 'kept');
  const before = reached().length;
  const bloated = await rpc('acme', 'tools/call', {
    name: 'mt__whoami',
    arguments: {},
    _meta: { 'vendor/blob': 'x'.repeat(100_000) },
  });
  assert.match(bloated.error?.message ?? '', /`_meta` is larger than 64 KiB/, JSON.stringify(bloated).slice(0, 300));
  const deep = await rpc('acme', 'tools/call', {
    name: 'mt__whoami',
    arguments: {},
    _meta: { constructor: 1 },
  });
  assert.match(deep.error?.message ?? '', /`_meta.constructor` the key `constructor` is not allowed/);
  assert.equal(reached().length, before, 'nothing reached the upstream');
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

test('task handles are sealed for their caller: forged, raw or foreign handles are unknown, nothing upstream', async () => {
  const before = reached().length;
  for (const taskId of [
    'mt__abc',
    'abc',
    `gh1.${Buffer.from(JSON.stringify(['mt', 'mt__whoami', 'abc', 'x'])).toString('base64url')}.forged`,
  ]) {
    const r = await rpc('acme', 'tasks/get', { taskId });
    assert.match(r.error?.message ?? '', /unknown task/, JSON.stringify(r));
  }
  assert.equal(reached().length, before);
});

test("an idle tenant's connection is stopped and started again on its next request; the catalogue's stays", async () => {
  await rpc('globex', 'tools/call', { name: 'mt__whoami', arguments: {} });
  const held = () =>
    t.gw.credentials.pool
      .describe()
      .filter((h) => h.server === 'mt')
      .map((h) => h.tenant)
      .sort();
  assert.deepEqual(held(), ['acme', 'globex']);
  const pid = t.gw.credentials.pool.describe().find((h) => h.server === 'mt' && h.tenant === 'globex')!.pid;
  assert.ok(t.gw.credentials.pool.sweep(Date.now() + 16 * 60_000) >= 1);
  assert.deepEqual(held(), ['acme']);
  const r = await rpc('globex', 'tools/call', { name: 'mt__whoami', arguments: {} });
  assert.equal(r.result.content[0].text, 'globex');
  const again = t.gw.credentials.pool.describe().find((h) => h.server === 'mt' && h.tenant === 'globex')!.pid;
  assert.notEqual(again, pid);
});

test("outbound: another tenant's secret in any encoding, or a well-known token, in arguments or _meta is denied; nothing reaches the upstream", async () => {
  const before = reached().length;
  const c = CANARY.acme;
  const carriers = [
    c,
    Buffer.from(c).toString('base64'),
    Buffer.from(c).toString('hex'),
    encodeURIComponent(`x=${c}`),
    `ghp_${'a1B2'.repeat(9)}`,
  ];
  for (const repo of carriers) {
    const r = await rpc('globex', 'tools/call', { name: 'mt__strict', arguments: { repo, n: 1 } });
    assert.match(r.error?.message ?? '', /secret:outbound/, `${repo.slice(0, 20)}: ${JSON.stringify(r).slice(0, 200)}`);
  }
  const viaMeta = await rpc('globex', 'tools/call', {
    name: 'mt__strict',
    arguments: { repo: 'a/b', n: 1 },
    _meta: { note: c },
  });
  assert.match(viaMeta.error?.message ?? '', /secret:outbound/);
  const viaPrompt = await rpc('globex', 'prompts/get', { name: 'mt__greet', arguments: { name: c } });
  assert.match(viaPrompt.error?.message ?? '', /secret:outbound/);
  assert.equal(reached().length, before, 'nothing reached the upstream');
  // The refusal says what kind of credential, never the value.
  noCanary(viaMeta, 'the refusal');
  // Nor does its record: the arguments are kept redacted of every tenant's secret, and the record
  // names the inspection that refused it, not the policy's allow before it.
  const found = await runCli([
    'audit',
    'search',
    '--kind',
    'call.refused',
    '--tenant',
    'globex',
    '--json',
    '-c',
    t.file,
  ]);
  assert.equal(found.code, 0, found.stderr);
  noCanary(found.stdout, 'the refusal records');
  const { records } = JSON.parse(found.stdout) as {
    records: Array<{ decision?: { effect: string; rule: string }; args?: unknown }>;
  };
  const outbound = records.filter((r) => r.decision?.rule === 'secret:outbound');
  assert.ok(outbound.length >= carriers.length + 2, found.stdout.slice(0, 500));
  for (const r of outbound) assert.equal(r.decision?.effect, 'deny');
  assert.ok(
    outbound.some((r) => JSON.stringify(r.args).includes('[REDACTED')),
    'the arguments are kept, redacted',
  );
});

test("outbound: a tenant's secret no connection holds (its tenant never called, or its connection went idle) is denied too", async () => {
  const before = reached().length;
  assert.ok(!t.gw.credentials.pool.describe().some((h) => h.tenant === 'noread'), 'noread never connected');
  // Its key was made after the gateway started: the gateway learns a new tenant's secrets within seconds.
  await eventually(() => t.gw.credentials.pool.values().includes(UNUSED.noread));
  const r = await rpc('globex', 'tools/call', { name: 'mt__strict', arguments: { repo: UNUSED.noread, n: 1 } });
  assert.match(r.error?.message ?? '', /secret:outbound/, JSON.stringify(r).slice(0, 300));
  // globex's connection stops for being idle: its secret stays one acme may not send.
  await rpc('globex', 'tools/call', { name: 'mt__whoami', arguments: {} });
  t.gw.credentials.pool.sweep(Date.now() + 16 * 60_000);
  assert.ok(!t.gw.credentials.pool.describe().some((h) => h.tenant === 'globex'));
  const idle = await rpc('acme', 'tools/call', { name: 'mt__strict', arguments: { repo: CANARY.globex, n: 1 } });
  assert.match(idle.error?.message ?? '', /secret:outbound/, JSON.stringify(idle).slice(0, 300));
  const sent = JSON.stringify(reached().slice(before));
  assert.ok(!sent.includes(UNUSED.noread) && !sent.includes(CANARY.globex), 'neither secret reached an upstream');
});

test('results: a well-known secret an upstream found elsewhere is redacted when configured (secrets.results: redact)', async () => {
  const r = await rpc('acme', 'tools/call', { name: 'mt__leak', arguments: { how: 'aws' } });
  const text = r.result.content[0].text as string;
  assert.doesNotMatch(text, /AKIAQ3EGRAB5CDEFGHIJ/);
  assert.match(text, /REDACTED/);
});

test('a 60 kB URI against a resource template is refused without stalling the gateway; nothing upstream', async () => {
  const before = reached().length;
  for (const uri of [`gatehouse:mt/file:///${'a/'.repeat(30_000)}x`, `gatehouse:mt/file:///${'a'.repeat(60_000)}`]) {
    const { value: r, maxDelayMs } = await withLoopDelay(() => rpc('acme', 'resources/read', { uri }));
    assert.ok(r.error, JSON.stringify(r).slice(0, 200));
    assert.ok(maxDelayMs < 1000, `the event loop stalled for ${maxDelayMs} ms`);
  }
  assert.equal(reached().length, before);
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

test("a tenant's first requests arriving together start one process, not one each", async () => {
  const starts = () => reached().filter((r) => r.tenant === 'globex' && r.msg.method === 'initialize').length;
  t.gw.credentials.pool.sweep(Date.now() + 16 * 60_000);
  const before = starts();
  const rs = await Promise.all(
    Array.from({ length: 6 }, () => rpc('globex', 'tools/call', { name: 'mt__whoami', arguments: {} })),
  );
  for (const r of rs) assert.equal(r.result?.content?.[0]?.text, 'globex', JSON.stringify(r));
  assert.equal(starts(), before + 1, 'one process for the tenant');
});
