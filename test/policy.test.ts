/**
 * Policy end to end: API-key principals of three tenants -> Gatehouse with a policy -> a recording
 * upstream that proves what reached it. Listings follow policy; forbidden looks like unknown;
 * hostile resource values and malformed arguments are refused with nothing upstream; shadow mode runs
 * nothing and says so; read-only mode; approvals fail closed; rate limits and concurrency caps, in
 * memory and shared through Redis by two gateways; `gatehouse policy explain|test`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ROOT, createKey, runCli, startCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { linesWith } from './support/lines.ts';
import { modernMeta, postModern, replyOf, type Reply } from './support/rpc.ts';
import { requireService } from './support/services.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-policy-'));
const rec = join(tmp, 'rec.jsonl');
const POLICY = join(ROOT, 'test/fixtures/policy/policy.yaml');
const servers = (file: string) =>
  stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
  `    env: { RECORD_FILE: ${JSON.stringify(file)} }\n` +
  '    tools: { record: { class: READ }, slow: { class: READ }, read_path: { class: READ }, other: { class: WRITE }, open_issue: { class: WRITE } }\n';
const top = (extra = '') => `identity: { apiKeys: true }\npolicy: { files: [${JSON.stringify(POLICY)}] }\n${extra}`;

let t: TestGateway;
const keys: Record<string, string> = {};
const upstreamCalls = (file = rec) => linesWith(file, '"tools/call"');

function key(g: TestGateway, name: string, tenant: string, roles: string): Promise<string> {
  return createKey(g.file, { name, tenant, roles, scopes: 'x' });
}

before(async () => {
  t = await startGateway(servers(rec), {
    top: top(
      'limits:\n  rules:\n    - { id: three-reads, scope: principal_tool, tools: [rec__record], rate: { points: 3, perSeconds: 3600 } }\n' +
        '    - { id: two-slow-each, scope: tenant_tool, tools: [rec__slow], rate: { points: 2, perSeconds: 3600 } }\n',
    ),
  });
  for (const [name, tenant, roles] of [
    ['dev', 'acme', 'dev'],
    ['ops', 'acme', 'ops'],
    ['trial', 'trial', 'dev'],
    ['frozen', 'frozen', 'dev'],
    ['limited', 'acme', 'dev'],
  ])
    keys[name] = await key(t, name, tenant, roles);
});
after(async () => {
  await t?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function rpc(
  g: TestGateway,
  k: string | undefined,
  method: string,
  params: Record<string, unknown> = {},
): Promise<{ status: number; headers: Headers; body: Reply }> {
  const name = typeof params.name === 'string' ? params.name : undefined;
  const r = await postModern(g.url, method, { ...params, _meta: modernMeta() }, { token: k || undefined, name });
  return { status: r.status, headers: r.headers, body: await replyOf(r) };
}
const call = (k: string | undefined, name: string, args: Record<string, unknown> = {}, g = t) =>
  rpc(g, k, 'tools/call', { name, arguments: args });

test('listings follow policy, and a forbidden tool is refused exactly like one that does not exist', async () => {
  const names = (await rpc(t, keys.dev, 'tools/list')).body.result.tools.map((x: { name: string }) => x.name).sort();
  assert.deepEqual(names, ['rec__open_issue', 'rec__other', 'rec__read_path', 'rec__record', 'rec__slow']);
  const before = upstreamCalls();
  const forbidden = await call(keys.dev, 'rec__log');
  const missing = await call(keys.dev, 'rec__nope');
  assert.deepEqual(forbidden.body.error.code, missing.body.error.code);
  assert.equal(
    forbidden.body.error.message.replace('rec__log', 'X'),
    missing.body.error.message.replace('rec__nope', 'X'),
  );
  assert.equal(upstreamCalls(), before);
});

test('hostile resource values are refused and nothing reaches the upstream', async () => {
  const ok = await call(keys.dev, 'rec__open_issue', { owner: 'acme', repo: 'widgets', title: 't' });
  assert.ok(ok.body.result, JSON.stringify(ok.body));
  const before = upstreamCalls();
  const hostile: Array<[string, Record<string, unknown>]> = [
    ['traversal in a repo', { owner: 'acme', repo: 'widgets/../secrets', title: 't' }],
    ['encoded traversal', { owner: 'acme', repo: '%2e%2e%2fsecrets', title: 't' }],
    ['double encoding', { owner: 'acme', repo: '%252e%252e%252fsecrets', title: 't' }],
    ['Cyrillic look-alike owner', { owner: '\u0430cme', repo: 'widgets', title: 't' }],
    ['trailing slash', { owner: 'acme', repo: 'widgets/', title: 't' }],
    ['case variant', { owner: 'ACME', repo: 'widgets', title: 't' }],
    ['an array of two repos', { owner: 'acme', repo: ['widgets', 'secrets'], title: 't' }],
    ['a denied repo', { owner: 'acme', repo: 'secrets', title: 't' }],
    ['a zero-width character', { owner: 'acme', repo: 'wid\u200bgets', title: 't' }],
  ];
  for (const [what, args] of hostile) {
    const r = await call(keys.dev, 'rec__open_issue', args);
    // Refused by policy for the resource (or, for the array, by the schema: a tool result with
    // isError), never for another reason.
    const said = r.body.error?.message ?? (r.body.result?.isError === true ? r.body.result.content[0].text : '');
    assert.match(said, /denied by policy|`repo` must be string/, `${what}: ${JSON.stringify(r.body)}`);
    if (process.env.SHOW_REASONS) process.stderr.write(`${what}: ${said}\n`);
  }
  const paths: Array<[string, string]> = [
    ['a sibling with the root as prefix', '/srv/data/tenant1_secrets/a.txt'],
    ['dot-dot out of the root', '/srv/data/tenant1/../tenant2/a.txt'],
    ['encoded dot-dot', '/srv/data/tenant1/%2e%2e/tenant2/a.txt'],
    ['a NUL byte', '/srv/data/tenant1/a\u0000.txt'],
    ['a backslash', '/srv/data/tenant1\\..\\tenant2'],
  ];
  for (const [what, path] of paths) {
    const r = await call(keys.dev, 'rec__read_path', { path });
    assert.match(r.body.error?.message ?? '', /denied by policy/, what);
    if (process.env.SHOW_REASONS) process.stderr.write(`${what}: ${r.body.error.message}\n`);
  }
  const proto = await call(
    keys.dev,
    'rec__open_issue',
    JSON.parse('{"owner":"acme","repo":"widgets","title":"t","__proto__":{"admin":true}}'),
  );
  assert.equal(proto.body.error.code, -32602);
  assert.equal(upstreamCalls(), before, 'nothing reached the upstream');
  assert.ok(
    (await call(keys.dev, 'rec__read_path', { path: '/srv/data/tenant1/a.txt' })).body.result,
    'the allowed path still works',
  );
});

test('arguments are validated against the input schema: a tool result with isError naming every problem, recorded as refused, nothing upstream', async () => {
  const before = upstreamCalls();
  const refusals = async () =>
    (await t.gw.store.audit.read({ kind: 'call.refused', limit: 1000 }))
      .map((x) => x.event)
      .filter((e) => e.tool === 'rec__open_issue' && e.error === 'E_INVALID_ARGUMENTS');
  const earlier = (await refusals()).length;
  const r = await call(keys.dev, 'rec__open_issue', { owner: 'acme', title: 42 });
  assert.equal(r.body.error, undefined, JSON.stringify(r.body));
  assert.equal(r.body.result.isError, true);
  assert.equal(r.body.result.resultType, 'complete');
  const text: string = r.body.result.content[0].text;
  assert.match(text, /^the arguments do not match the input schema of `rec__open_issue`; nothing was sent/);
  assert.match(text, /^- `repo` is required$/m);
  assert.match(text, /^- `title` must be string$/m);
  const refused = await refusals();
  assert.equal(refused.length, earlier + 1, 'the refusal is recorded');
  assert.deepEqual(new Set(refused.map((e) => `${e.stage} ${e.outcome}`)), new Set(['validate refused']));
  // Past the global bounds is a malformed request, not a tool execution error: -32602 naming where.
  const deep = await call(keys.dev, 'rec__record', { note: 'x', x: JSON.parse(`${'['.repeat(40)}${']'.repeat(40)}`) });
  assert.equal(deep.body.error.code, -32602);
  assert.match(deep.body.error.message, /nested deeper than 32 levels/);
  assert.equal(upstreamCalls(), before);
});

test('approvals: a WRITE call that policy sends for approval waits for a person; nothing runs meanwhile', async () => {
  const before = upstreamCalls();
  const r = await call(keys.dev, 'rec__other', { note: 'w' });
  assert.equal(r.body.result.resultType, 'input_required');
  const [req] = Object.values(r.body.result.inputRequests) as Array<{ params: { mode: string; url: string } }>;
  assert.equal(req.params.mode, 'url');
  const stored = (await t.gw.store.approvals.get(req.params.url.split('/').at(-1)!))!;
  assert.deepEqual([stored.rule, stored.status, stored.approversRule.roles], ['writes-need-ops', 'pending', ['ops']]);
  assert.equal(upstreamCalls(), before);
});

test('shadow mode: a WRITE call runs nothing and says so; the audit records it as proposed; authentication still applies', async () => {
  const before = upstreamCalls();
  const r = await call(keys.trial, 'rec__other', { note: 'shadowed' });
  assert.match(
    r.body.result.content[0].text,
    /Shadow mode: Gatehouse recorded this call to rec__other as proposed and did NOT run it/,
  );
  assert.equal(r.body.result._meta['io.gatehouse/shadow'], true);
  assert.equal(upstreamCalls(), before, 'nothing ran');
  const rows = (await t.gw.store.audit.read({ tool: 'rec__other', limit: 1000 }))
    .map((x) => x.event)
    .filter((e) => e.actor?.tenant === 'trial');
  assert.deepEqual(
    rows.map((e) => [e.kind, e.decision?.effect, e.outcome ?? null]),
    [
      ['call.intent', 'shadow', null],
      ['call.outcome', 'shadow', 'shadow'],
    ],
  );
  assert.equal((await call(undefined, 'rec__other', { note: 'x' })).status, 401, 'shadow never relaxes authentication');
  const read = await call(keys.trial, 'rec__record', { note: 'reads run in shadow mode' });
  assert.ok(read.body.result);
  assert.equal(upstreamCalls(), before + 1);
});

test('read-only mode: only READ tools run', async () => {
  const before = upstreamCalls();
  assert.ok((await call(keys.frozen, 'rec__other', { note: 'w' })).body.error);
  assert.ok((await call(keys.frozen, 'rec__record', { note: 'r' })).body.result);
  assert.equal(upstreamCalls(), before + 1);
  const names = (await rpc(t, keys.frozen, 'tools/list')).body.result.tools.map((x: { name: string }) => x.name);
  assert.ok(!names.includes('rec__other'), 'and WRITE tools are not listed');
});

test("a per-tenant tool budget (scope tenant_tool) is each tenant's own: one tenant spending it leaves the other's whole", async () => {
  for (const k of [keys.dev, keys.ops]) assert.ok((await call(k, 'rec__slow', { ms: 1 })).body.result);
  const before = upstreamCalls();
  const r = await call(keys.limited, 'rec__slow', { ms: 1 });
  assert.match(r.body.error?.message ?? '', /rate limited \(two-slow-each\)/, 'acme spent its two, whoever called');
  assert.equal(upstreamCalls(), before);
  for (let i = 0; i < 2; i++)
    assert.ok((await call(keys.frozen, 'rec__slow', { ms: 1 })).body.result, 'frozen has its own two');
  assert.equal(upstreamCalls(), before + 2);
});

test('a rate limit refuses the call after the budget, with a retry-after; other principals keep theirs', async () => {
  for (let i = 0; i < 3; i++) assert.ok((await call(keys.limited, 'rec__record', { note: `n${i}` })).body.result);
  const before = upstreamCalls();
  const r = await call(keys.limited, 'rec__record', { note: 'n4' });
  assert.equal(r.status, 429);
  assert.match(r.body.error.message, /rate limited \(three-reads\)/);
  assert.ok(r.body.error.data.retryAfterMs > 0);
  assert.ok(Number(r.headers.get('retry-after')) >= 1);
  assert.equal(upstreamCalls(), before);
  assert.ok((await call(keys.ops, 'rec__record', { note: 'other principal' })).body.result);
});

test('two gateway processes sharing Redis enforce one budget; a concurrency cap of 3 holds exactly under 100 parallel calls', async (tc) => {
  if (!(await requireService(tc, 'redis'))) return;
  const prefix = `gatehouse:test:${randomUUID()}:`;
  // 100 calls at once on two cores can hold a gateway's event loop past the default 200 ms command
  // timeout; that gateway would then rightly fall back to its local share of the limits (the next
  // test), which is not what this one measures. A generous timeout keeps both on the shared budget.
  const limits = `limits:\n  redis: { url: "redis://127.0.0.1:6379", keyPrefix: "${prefix}", commandTimeoutMs: 3000 }\n  rules:\n    - { id: shared-five, scope: tenant, tools: [rec__record], rate: { points: 5, perSeconds: 3600 } }\n    - { id: three-at-once, scope: tool, tools: [rec__slow], concurrency: 3 }\n`;
  const dir = mkdtempSync(join(tmp, 'redis-'));
  const db = `storage: { sqlitePath: ${JSON.stringify(join(dir, 'shared.db'))} }\n`;
  const a = await startGateway(servers(join(dir, 'a.jsonl')), { top: top(limits), storage: db });
  // The second gateway is another process, started through the CLI on the same store and Redis.
  const yaml = `version: 1\ngateway: { listen: { host: 127.0.0.1, port: 0 }, stateDir: ${JSON.stringify(join(dir, 'b-state'))} }\n${db}${top(limits)}servers:\n${servers(join(dir, 'b.jsonl'))}`;
  const child = await startCli(yaml, dir);
  const b = { url: child.url } as TestGateway;
  try {
    const k = await key(a, 'shared', 'acme', 'dev');
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => call(k, 'rec__record', { note: `r${i}` }, i % 2 ? a : b)),
    );
    assert.equal(results.filter((r) => r.body.result).length, 5, 'one budget across both processes');
    // The cap counts calls at once: each of the three holds its slot for 3 s, so every one of the 100
    // reaches a gateway while they hold it (with 600 ms, a call that reached a gateway late on a busy
    // two-core machine found a slot free again, and rightly ran as a fourth).
    const slow = await Promise.all(
      Array.from({ length: 100 }, (_, i) => call(k, 'rec__slow', { ms: 3000 }, i % 2 ? a : b)),
    );
    assert.equal(slow.filter((r) => r.body.result).length, 3, 'exactly three ran at once');
    assert.ok(slow.filter((r) => r.body.error).every((r) => /three-at-once/.test(r.body.error.message)));
  } finally {
    await Promise.all([a.close(), child.stop()]);
  }
});

test('Redis unreachable: each gateway enforces the stricter local limits, never none', async () => {
  const limits =
    'limits:\n  redis: { url: "redis://127.0.0.1:9", fallbackDivisor: 2, commandTimeoutMs: 100 }\n  rules:\n    - { id: four, scope: tool, tools: [rec__record], rate: { points: 4, perSeconds: 3600 } }\n';
  const dir = mkdtempSync(join(tmp, 'redis-down-'));
  const g = await startGateway(servers(join(dir, 'rec.jsonl')), { top: top(limits) });
  try {
    const k = await key(g, 'down', 'acme', 'dev');
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await call(k, 'rec__record', { note: `d${i}` }, g));
    assert.equal(results.filter((r) => r.body.result).length, 2, '4 points divided by 2');
    assert.match(results.at(-1)!.body.error.message, /rate limited \(four\)/);
  } finally {
    await g.close();
  }
});

test('gatehouse policy explain and gatehouse policy test', async () => {
  const ex = await runCli([
    'policy',
    'explain',
    '--subject',
    'dev',
    '--tenant',
    'acme',
    '--roles',
    'dev',
    '--tool',
    'rec__open_issue',
    '--class',
    'WRITE',
    '--args',
    '{"owner":"acme","repo":"widgets","title":"x"}',
    '-c',
    t.file,
  ]);
  assert.equal(ex.code, 0, ex.stderr);
  assert.match(ex.stdout, /rule `dev-issues-widgets` \(allow, .*policy\.yaml:\d+\): matched/);
  assert.match(ex.stdout, /=> ALLOW \(dev-issues-widgets\)\n$/);
  const ok = await runCli(['policy', 'test', join(ROOT, 'test/fixtures/policy/cases.yaml'), '-c', t.file]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /3 passed, 0 failed/);
});

const explainCall = (tool: string, ...extra: string[]) =>
  runCli([
    'policy',
    'explain',
    '--subject',
    'dev',
    '--tenant',
    'acme',
    '--roles',
    'dev',
    '--tool',
    tool,
    ...extra,
    '-c',
    t.file,
  ]);

test('policy explain reads the modes set at run time, as the gateway does: a tool switched off is explained as denied', async () => {
  const before = await explainCall('rec__record');
  assert.equal(before.code, 0, before.stderr);
  assert.match(before.stdout, /^mode: enforce \(default\)$/m);
  assert.match(before.stdout, /=> ALLOW \(acme-reads\)\n$/);
  const set = await runCli([
    'mode',
    'set',
    'disabled',
    '--tool',
    'rec__record',
    '--reason',
    'walk',
    '--by',
    'ops-1',
    '-c',
    t.file,
  ]);
  assert.equal(set.code, 0, set.stderr);
  try {
    const after = await explainCall('rec__record');
    assert.equal(after.code, 0, after.stderr);
    assert.match(after.stdout, /^mode: disabled \(tool:rec__record, set at run time by ops-1 at [0-9T:.-]+Z: walk\)$/m);
    assert.match(after.stdout, /=> DENY \(mode:disabled\)\n$/);
    // The gateway refuses the call, as explained, and nothing reaches the upstream.
    const calls = upstreamCalls();
    const refused = await call(keys.dev, 'rec__record', { note: 'x' });
    assert.ok(refused.body.error || refused.body.result?.isError, JSON.stringify(refused.body));
    assert.equal(upstreamCalls(), calls);
    const json = JSON.parse((await explainCall('rec__record', '--json')).stdout);
    assert.equal(json.decision.rule, 'mode:disabled');
  } finally {
    assert.equal((await runCli(['mode', 'clear', '--tool', 'rec__record', '-c', t.file])).code, 0);
  }
});

test('policy explain of a tool its server has not listed says so, with "did you mean" (exit 2); --allow-unknown explains it anyway', async () => {
  const typo = await explainCall('rec__open_isue');
  assert.equal(typo.code, 2, typo.stdout);
  assert.equal(typo.stdout, '');
  assert.equal(
    typo.stderr,
    'gatehouse: server `rec` has listed no tool `open_isue`: did you mean `rec__open_issue`? (a tool it has not listed yet: --allow-unknown)\n',
  );
  const json = await explainCall('rec__open_isue', '--json');
  assert.equal(json.code, 2);
  assert.equal(JSON.parse(json.stdout).exitCode, 2);
  const server = await explainCall('recc__open_issue');
  assert.equal(server.code, 2, server.stdout);
  assert.match(server.stderr, /`recc__open_issue` names no configured server/);
  const allowed = await explainCall('rec__not_yet', '--allow-unknown');
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.match(allowed.stdout, /call: `rec__not_yet` \(DESTRUCTIVE\)/);
  assert.match(allowed.stdout, /^tool: not listed by its server yet: until it is, the gateway refuses it as unknown$/m);
  assert.match(allowed.stdout, /=> DENY \(default:deny\)\n$/);
});

test('config validate warns, at file:line, about a mode naming a server or tool that is not configured', async () => {
  const dir = mkdtempSync(join(tmp, 'modes-'));
  writeFileSync(
    join(dir, 'policy.yaml'),
    'modes:\n  servers:\n    nosuch: disabled\n  tools:\n    rec__record: shadow\n    recc__record: disabled\nrules: []\n',
  );
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(
    file,
    `version: 1\ngateway: { stateDir: ${JSON.stringify(join(dir, 'state'))} }\npolicy: { files: [policy.yaml] }\nservers:\n${servers(join(dir, 'rec.jsonl'))}`,
  );
  const r = await runCli(['config', 'validate', file]);
  assert.equal(r.code, 0, r.stderr);
  const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning:'));
  assert.deepEqual(warnings, [
    `warning: ${join(dir, 'policy.yaml')}:3: the mode for server \`nosuch\` switches nothing: no server \`nosuch\` is configured`,
    `warning: ${join(dir, 'policy.yaml')}:6: the mode for tool \`recc__record\` switches nothing: no server \`recc\` is configured (did you mean \`rec\`?)`,
  ]);
});

test('config validate checks policy tools against the inventory, with "did you mean"; --json carries the warnings and leaves stderr quiet', async () => {
  const dir = mkdtempSync(join(tmp, 'listed-'));
  const policy = join(dir, 'policy.yaml');
  writeFileSync(
    policy,
    'rules:\n  - id: typo\n    effect: allow\n    tools: [rec__recrod, rec__record, rec__*]\n  - id: server\n    effect: allow\n    tools: [recc__record]\n',
  );
  // The running gateway's store: its inventory lists rec's tools.
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(
    file,
    `version: 1\ngateway: { stateDir: ${JSON.stringify(join(t.dir, 'state'))} }\npolicy: { files: [policy.yaml] }\nservers:\n${servers(rec)}`,
  );
  const typo =
    'rule `typo` names tool `rec__recrod`, but server `rec` has listed no tool `recrod` (did you mean `rec__record`?); a warning, not an error: it may not be discovered yet';
  const server = 'rule `server` names tool `recc__record`, but no server `recc` is configured (did you mean `rec`?)';
  const text = await runCli(['config', 'validate', file]);
  assert.equal(text.code, 0, text.stderr);
  assert.deepEqual(
    text.stderr.split('\n').filter((l) => l.startsWith('warning:')),
    [`warning: ${policy}:2: ${typo}`, `warning: ${policy}:5: ${server}`],
  );
  const json = await runCli(['config', 'validate', file, '--json']);
  assert.equal(json.code, 0, json.stderr);
  assert.equal(json.stderr, '');
  assert.deepEqual(JSON.parse(json.stdout), {
    valid: true,
    file,
    servers: 1,
    warnings: [
      { file: policy, line: 2, column: 1, path: 'policy', message: typo },
      { file: policy, line: 5, column: 1, path: 'policy', message: server },
    ],
  });
});
