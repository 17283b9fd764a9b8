/**
 * Complete mediation, tried as an attacker would: what a caller sends. Every method that reaches an
 * upstream passes its row of the method table, on the caller's own tenant's connection; what a caller
 * may not use looks like what does not exist; what policy checked is what the upstream receives; no
 * tenant's secret goes out in another's request; a tenant's connection is its own, stopped when idle.
 * The gateway and its upstream: test/support/mediation.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { createKey, runCli } from './support/gateway.ts';
import { postModernCall, type Reply } from './support/rpc.ts';
import { withLoopDelay } from './support/loop-delay.ts';
import { eventually } from './support/eventually.ts';
import {
  CANARY,
  count,
  data,
  keys,
  nextSeq,
  noCanary,
  reached,
  record,
  rpc,
  startMediationGateway,
  t,
  twinRecord,
  UNUSED,
} from './support/mediation.ts';

startMediationGateway();

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
  assert.equal(bad.result?.isError, true, JSON.stringify(bad));
  assert.match(bad.result.content[0].text, /^- `(repo|n)` /m);
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
      { token: keys[who], id: nextSeq(), capabilities: { sampling: {} }, extra },
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

test('a 60 kB URI against a resource template is refused without stalling the gateway; nothing upstream', async () => {
  const before = reached().length;
  for (const uri of [`gatehouse:mt/file:///${'a/'.repeat(30_000)}x`, `gatehouse:mt/file:///${'a'.repeat(60_000)}`]) {
    const { value: r, maxDelayMs } = await withLoopDelay(() => rpc('acme', 'resources/read', { uri }));
    assert.ok(r.error, JSON.stringify(r).slice(0, 200));
    assert.ok(maxDelayMs < 1000, `the event loop stalled for ${maxDelayMs} ms`);
  }
  assert.equal(reached().length, before);
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
