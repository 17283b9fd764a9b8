import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dispatch, type DispatchDeps } from './dispatch.ts';
import { viewDiffers } from './listings.ts';
import { catalogOf, ctx, deps as baseDeps, policyOf, principal } from './stages/fakes.test-util.ts';
import { SecretScrubber } from '../credentials/scrub.ts';
import type { Principal } from '../identity/principal.ts';
import type { Inventory } from '../inventory/inventory.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type { Modes } from '../policy/model.ts';

const tool = (name: string, description = `${name} does one thing`): JsonObject => ({
  name,
  description,
  inputSchema: { type: 'object' },
});

// Two tenants, each allowed the tools of its own server only.
const POLICY = `
rules:
  - { id: acme, subjects: { tenants: [acme] }, tools: ['a__*'], classes: [READ], effect: allow }
  - { id: beta, subjects: { tenants: [beta] }, tools: ['b__*'], classes: [READ], effect: allow }
`;

async function setup(servers: Record<string, JsonObject[]> = { a: [tool('one'), tool('two')], b: [tool('three')] }) {
  const lists = Object.fromEntries(Object.entries(servers).map(([name, tools]) => [name, { tools }]));
  const { catalog, upstreams } = await catalogOf(lists);
  // As the inventory does it: one object whose views (and generation) move.
  const classes = new Map<string, string>();
  const inventory = { generation: 0, tool: (_s: string, name: string) => ({ class: classes.get(name) ?? 'READ' }) };
  const scrubber = new SecretScrubber();
  const d = {
    ...baseDeps({
      catalog,
      upstreams,
      inventory: inventory as unknown as Inventory,
      policy: policyOf(POLICY),
      identity: { classScopes: () => [], recheck: async () => {}, revokedWithoutCredential: () => undefined } as never,
      credentials: { scrubber, configOf: () => undefined } as never,
    }),
    pageSize: 2,
  } as DispatchDeps;
  return { d, catalog, upstreams, scrubber, lists, inventory, classes };
}

const acme = principal({ tenant: 'acme', subject: 'alice' });
// The same subject and client in two tenants: only the tenant tells them apart.
const beta = principal({ tenant: 'beta', subject: 'alice' });

/** Every page of tools/list as `who` sees it. */
async function names(d: DispatchDeps, who: Principal): Promise<string[]> {
  const out: string[] = [];
  let cursor: unknown;
  for (let i = 0; i < 100; i++) {
    const r = await dispatch(ctx({ principal: who }), 'tools/list', cursor ? { cursor } : {}, d);
    out.push(...(r.tools as JsonObject[]).map((t) => String(t.name)));
    cursor = r.nextCursor;
    if (!cursor) return out;
  }
  throw new Error('no end to the listing');
}

test('two tenants listing in turn each see only their own tools, however often they list', async () => {
  const { d } = await setup();
  for (let round = 0; round < 3; round++) {
    assert.deepEqual(await names(d, acme), ['a__one', 'a__two']);
    assert.deepEqual(await names(d, beta), ['b__three']);
  }
  // A second caller of a tenant with the same attributes shares nothing it should not: same view.
  assert.deepEqual(await names(d, principal({ tenant: 'acme', subject: 'alice', key: 'other' })), ['a__one', 'a__two']);
  // A caller of no tenant the policy names sees nothing.
  assert.deepEqual(await names(d, principal({ tenant: 'gamma' })), []);
});

test("one tenant's cursor is refused to the other", async () => {
  const { d } = await setup({ a: [tool('one'), tool('two'), tool('four')], b: [tool('three')] });
  const first = await dispatch(ctx({ principal: acme }), 'tools/list', {}, d);
  assert.ok(first.nextCursor);
  await assert.rejects(dispatch(ctx({ principal: beta }), 'tools/list', { cursor: first.nextCursor }, d), {
    code: 'E_INVALID_PARAMS',
  });
});

test('a listing follows a policy or a modes change at once (a reload replaces them)', async () => {
  const { d } = await setup();
  assert.deepEqual(await names(d, acme), ['a__one', 'a__two']);
  d.policy = policyOf(`${POLICY}  - { id: acme-b, subjects: { tenants: [acme] }, tools: ['b__*'], effect: allow }\n`);
  assert.deepEqual(await names(d, acme), ['a__one', 'a__two', 'b__three']);
  assert.deepEqual(await names(d, beta), ['b__three']);
  d.policy = policyOf(`modes:\n  tools: { a__two: disabled }\n${POLICY}`);
  assert.deepEqual(await names(d, acme), ['a__one']);
  d.policy = undefined;
  assert.deepEqual(await names(d, beta), ['a__one', 'a__two', 'b__three']);
  d.modes = { tenants: { beta: 'disabled' }, servers: {}, tools: {} };
  assert.deepEqual(await names(d, acme), ['a__one', 'a__two', 'b__three']);
  assert.deepEqual(await names(d, beta), []);
});

test('a listing follows what the caller may use: scopes, roles and the identity settings', async () => {
  const { d } = await setup();
  assert.deepEqual(await names(d, principal({ tenant: 'acme', scopes: [] })), ['a__one', 'a__two']);
  d.identity = { classScopes: () => ['mcp:read'] } as never;
  assert.deepEqual(await names(d, principal({ tenant: 'acme', scopes: [] })), []);
  assert.deepEqual(await names(d, principal({ tenant: 'acme', scopes: ['mcp:read'] })), ['a__one', 'a__two']);
  d.policy = policyOf(`
rules:
  - { id: ops, subjects: { roles: [ops] }, tools: ['*'], classes: [READ], effect: allow }
`);
  d.identity = { classScopes: () => [], recheck: async () => {}, revokedWithoutCredential: () => undefined } as never;
  assert.deepEqual(await names(d, principal({ tenant: 'acme', roles: ['dev'] })), []);
  assert.deepEqual(await names(d, principal({ tenant: 'acme', roles: ['ops'] })), ['a__one', 'a__two', 'b__three']);
  assert.deepEqual(await names(d, principal({ tenant: 'acme', roles: ['dev'] })), []);
});

test('a listing follows the catalogue and the inventory', async () => {
  const { d, catalog, lists, inventory, classes } = await setup();
  assert.deepEqual(await names(d, acme), ['a__one', 'a__two']);
  lists.a.tools.push(tool('five'));
  await catalog.refresh('a');
  assert.deepEqual(await names(d, acme), ['a__one', 'a__two', 'a__five']);
  catalog.drop('a');
  assert.deepEqual(await names(d, acme), []);
  await catalog.refresh('a');
  assert.deepEqual(await names(d, acme), ['a__one', 'a__two', 'a__five']);
  // The inventory calls a tool WRITE now (an operator's review): the READ-only allow no longer shows it.
  classes.set('one', 'WRITE');
  inventory.generation++;
  assert.deepEqual(await names(d, acme), ['a__two', 'a__five']);
});

test('a secret the scrubber learns later is scrubbed from a listing already served', async () => {
  const { d, scrubber } = await setup({ a: [tool('one', 'token s3cr3t-value inside')], b: [] });
  assert.match(JSON.stringify(await dispatch(ctx({ principal: acme }), 'tools/list', {}, d)), /s3cr3t-value/);
  scrubber.update(['s3cr3t-value']);
  const r = JSON.stringify(await dispatch(ctx({ principal: acme }), 'tools/list', {}, d));
  assert.doesNotMatch(r, /s3cr3t-value/);
  assert.match(r, /a__one/);
});

test('a secret split across the texts of two listed items is still cut', async () => {
  const { d, scrubber } = await setup({
    a: [
      { ...tool('one'), text: 'first half s3cr3t' },
      { ...tool('two'), text: '-value second half' },
    ],
    b: [],
  });
  scrubber.update(['s3cr3t-value']);
  const r = JSON.stringify(await dispatch(ctx({ principal: acme }), 'tools/list', {}, d));
  assert.doesNotMatch(r, /s3cr3t/);
  assert.doesNotMatch(r, /-value second/);
});

test('a rule that expires stops showing its tools then, though nothing else changed', async (t) => {
  const until = Date.parse('2030-01-01T00:00:00Z');
  t.mock.timers.enable({ apis: ['Date'], now: until - 60_000 });
  const { d } = await setup();
  d.policy = policyOf(
    `${POLICY}  - { id: beta-a, subjects: { tenants: [beta] }, tools: ['a__one'], effect: allow, validUntil: '2030-01-01T00:00:00Z' }\n`,
  );
  assert.deepEqual(await names(d, beta), ['a__one', 'b__three']);
  t.mock.timers.tick(59_999);
  assert.deepEqual(await names(d, beta), ['a__one', 'b__three']);
  t.mock.timers.tick(1);
  assert.deepEqual(await names(d, beta), ['b__three']);
});

test('callers who see the same items share pages; a tenant that sees others never gets them', async () => {
  const { d } = await setup({ a: [tool('one'), tool('two')], b: [tool('three'), tool('four')] });
  const first = await dispatch(ctx({ principal: acme }), 'tools/list', {}, d);
  const colleague = await dispatch(
    ctx({ principal: principal({ tenant: 'acme', subject: 'carol' }) }),
    'tools/list',
    {},
    d,
  );
  assert.equal(colleague.tools, first.tools);
  const other = await dispatch(ctx({ principal: beta }), 'tools/list', {}, d);
  assert.notEqual(other.tools, first.tools);
  assert.deepEqual(
    (other.tools as JsonObject[]).map((t) => t.name),
    ['b__three', 'b__four'],
  );
  assert.deepEqual(
    (first.tools as JsonObject[]).map((t) => t.name),
    ['a__one', 'a__two'],
  );
  // A page is frozen: no caller's answer can change what another is served.
  assert.throws(() => (first.tools as JsonObject[]).push({ name: 'b__three' }), TypeError);
});

test('subject and client are part of the key: one tenant, two people, two clients', async () => {
  const { d } = await setup();
  d.policy = policyOf(`
rules:
  - { id: alice, subjects: { subjects: [alice] }, tools: ['a__*'], classes: [READ], effect: allow }
  - { id: ide, subjects: { clients: [ide] }, tools: ['b__*'], classes: [READ], effect: allow }
`);
  // People signed in at an identity provider: a bare subject in a rule never names an API key's person.
  const as = (subject: string, client: string) =>
    principal({ tenant: 'acme', subject, client, via: 'jwt', issuer: 'https://idp.example.com' });
  assert.deepEqual(await names(d, as('alice', 'claude')), ['a__one', 'a__two']);
  assert.deepEqual(await names(d, as('bob', 'claude')), []);
  assert.deepEqual(await names(d, as('bob', 'ide')), ['b__three']);
  assert.deepEqual(await names(d, as('alice', 'ide')), ['a__one', 'a__two', 'b__three']);
  assert.deepEqual(await names(d, as('alice', 'claude')), ['a__one', 'a__two']);
});

test("the aggregate and a server's own endpoint keep their listings apart", async () => {
  const { d } = await setup();
  d.policy = undefined;
  const list = async (scope: string) =>
    ((await dispatch(ctx({ principal: acme, scope }), 'tools/list', {}, d)).tools as JsonObject[]).map((t) => t.name);
  assert.deepEqual(await list(''), ['a__one', 'a__two']);
  assert.deepEqual(await list('a'), ['one', 'two']);
  assert.deepEqual(await list('b'), ['three']);
  assert.deepEqual(await list(''), ['a__one', 'a__two']);
});

test('a change of modes or policy is told to exactly the callers whose own listing changed', async () => {
  const { d, classes } = await setup({ a: [tool('one'), tool('two')], b: [tool('three')] });
  classes.set('two', 'WRITE'); // as the inventory is asked: by the server's own name
  const policy = d.policy as NonNullable<DispatchDeps['policy']>;
  // Each as the gateway builds them: the policy files' rules with the run-time modes merged in.
  const settings = (m: Partial<Modes>, base = policy): DispatchDeps => {
    const modes = { tenants: {}, servers: {}, tools: {}, ...m };
    return { ...d, modes, policy: { ...base, modes } };
  };
  const WRITE_TOO = policyOf(`
rules:
  - { id: acme, subjects: { tenants: [acme] }, tools: ['a__*'], effect: allow }
  - { id: beta, subjects: { tenants: [beta] }, tools: ['b__*'], classes: [READ], effect: allow }
`);
  const variants: DispatchDeps[] = [
    settings({}),
    settings({ tenants: { beta: 'disabled' } }),
    settings({ tenants: { acme: 'read_only' } }),
    settings({ servers: { a: 'disabled' } }),
    settings({ tools: { a__one: 'disabled' } }),
    settings({ gateway: 'read_only' }),
    settings({}, WRITE_TOO), // the rules change: every item is tested
    settings({}, policyOf(POLICY)), // the same policy compiled again: new objects, the same revision
    settings({ tenants: { acme: 'read_only' } }, WRITE_TOO),
  ];
  const gamma = principal({ tenant: 'gamma' });
  let told = 0;
  for (const x of variants)
    for (const y of variants)
      for (const who of [acme, beta, gamma])
        for (const scope of ['', 'a']) {
          const list = async (deps: DispatchDeps) =>
            (await dispatch(ctx({ principal: who, scope }), 'tools/list', {}, { ...deps, pageSize: 10 })).tools;
          const differs = JSON.stringify(await list(x)) !== JSON.stringify(await list(y));
          assert.equal(viewDiffers(x, y, who, scope, 'tools'), differs, `${who.tenant} on '${scope}'`);
          if (differs) told++;
        }
  assert.ok(told > 20, 'the variants change some listings');
  // beta's switch-off is heard by beta only.
  const [none, betaOff] = variants;
  assert.deepEqual(
    [acme, beta, gamma].map((who) => viewDiffers(none, betaOff, who, '', 'tools')),
    [false, true, false],
  );
});

test('a rule that names only resources lists no prompt and only templates of its kind', async () => {
  const { catalog, upstreams } = await catalogOf({
    ev: {
      prompts: [{ name: 'simple', description: 'a prompt' }],
      resourceTemplates: [
        { uriTemplate: 'file:///srv/{+path}', name: 'files' },
        { uriTemplate: 'demo://resource/{id}', name: 'demo' },
      ],
    },
  });
  const d = {
    ...baseDeps({
      catalog,
      upstreams,
      inventory: { generation: 0, tool: () => ({ class: 'READ' }), item: () => ({}) } as unknown as Inventory,
      policy: policyOf(`
rules:
  - { id: files, subjects: { tenants: [acme] }, resources: ['/srv/acme/*'], effect: allow }
`),
      identity: { classScopes: () => [], recheck: async () => {}, revokedWithoutCredential: () => undefined } as never,
      credentials: { scrubber: new SecretScrubber(), configOf: () => undefined } as never,
    }),
    pageSize: 50,
  } as DispatchDeps;
  const list = async (method: string, field: string, key: string) =>
    ((await dispatch(ctx({ principal: acme }), method, {}, d))[field] as JsonObject[]).map((x) => String(x[key]));
  assert.deepEqual(await list('prompts/list', 'prompts', 'name'), []);
  assert.deepEqual(await list('resources/templates/list', 'resourceTemplates', 'uriTemplate'), [
    'gatehouse:ev/file:///srv/{+path}',
  ]);
});
