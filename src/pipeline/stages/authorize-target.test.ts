import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Authenticator } from '../../identity/authenticator.ts';
import type { Modes } from '../../policy/model.ts';
import type { ToolClass } from '../types.ts';
import { authorizeTarget, usable } from './authorize-target.ts';
import { routeTool } from './route-tool.ts';
import { catalogOf, deps, policyOf, principal, state, thrown } from './fakes.test-util.ts';

const POLICY = policyOf(`
modes:
  tools: { mt__off: disabled }
  tenants: { frozen: read_only }
rules:
  - { id: acme-reads, subjects: { tenants: [acme, frozen] }, tools: ['mt__*'], classes: [READ], effect: allow }
  - { id: acme-writes, subjects: { tenants: [acme, frozen] }, tools: [mt__write], effect: allow }
  - { id: no-drop, subjects: { tenants: [acme] }, tools: [mt__drop], effect: deny }
  - { id: prompts, subjects: { tenants: [acme] }, prompts: ['mt__*'], effect: allow }
  - { id: files, subjects: { tenants: [acme] }, resources: ['/srv/acme/*'], effect: allow }
`);
const NO_MODES: Modes = { tenants: {}, servers: {}, tools: {} };
const identity = (scopes: Partial<Record<ToolClass, string[]>> = {}) =>
  ({ classScopes: (c: ToolClass) => scopes[c] ?? [] }) as Partial<Authenticator> as Authenticator;

function call(
  name: string,
  cls: ToolClass,
  over: { tenant?: string; scopes?: string[]; quarantine?: string | null; kind?: 'tool' | 'prompt' | 'resource' } = {},
) {
  const s = state({
    kind: over.kind ?? 'tool',
    requested: name,
    params: { name, arguments: { bad: 1 } },
    ctx: { principal: principal({ tenant: over.tenant ?? 'acme', scopes: over.scopes ?? ['mcp:read'] }) },
  });
  s.route = { server: 'mt', tool: name.replace(/^mt__/, ''), def: {}, qualified: name, item: name };
  s.toolClass = cls;
  s.quarantine = over.quarantine ?? null;
  return s;
}

/** What the route stage says of a tool that does not exist: the answer every hidden tool must give. */
async function unknownAnswer(name: string) {
  const { catalog, upstreams } = await catalogOf({ mt: { tools: [] } });
  const err = await thrown(() => routeTool(state({ requested: name, params: { name } }), deps({ catalog, upstreams })));
  return { code: err.code, message: err.message, data: err.data, rpc: err.rpc };
}

const sameAsUnknown = async (err: Awaited<ReturnType<typeof thrown>>, name: string, label: string) => {
  assert.deepEqual(
    { code: err.code, message: err.message, data: err.data, rpc: err.rpc },
    await unknownAnswer(name),
    label,
  );
};

test('a usable tool passes', async () => {
  const d = deps({ policy: POLICY, modes: POLICY.modes, identity: identity({ READ: ['mcp:read'] }) });
  await authorizeTarget(call('mt__read', 'READ'), d);
  await authorizeTarget(call('mt__write', 'WRITE'), d);
});

test('denied by policy, disabled by a mode, read-only for a writer, or needing a scope the caller lacks: exactly the unknown-tool answer', async () => {
  const d = deps({
    policy: POLICY,
    modes: POLICY.modes,
    identity: identity({ READ: ['mcp:read'], WRITE: ['mcp:write'] }),
  });
  const cases: Array<[string, ReturnType<typeof call>]> = [
    ['no rule for the tenant', call('mt__read', 'READ', { tenant: 'globex' })],
    ['a deny rule', call('mt__drop', 'READ')],
    ['a mode disables the tool', call('mt__off', 'READ')],
    [
      'a read-only tenant and a WRITE tool',
      call('mt__write', 'WRITE', { tenant: 'frozen', scopes: ['mcp:read', 'mcp:write'] }),
    ],
    ['a WRITE tool no rule allows for this class', call('mt__other', 'WRITE', { scopes: ['mcp:read', 'mcp:write'] })],
    ['the READ scope missing', call('mt__read', 'READ', { scopes: [] })],
    ['the WRITE scope missing', call('mt__write', 'WRITE', { scopes: ['mcp:read'] })],
    [
      'quarantined and forbidden: no quarantine notice either',
      call('mt__read', 'READ', { tenant: 'globex', quarantine: 'definition changed' }),
    ],
  ];
  for (const [label, s] of cases) {
    const err = await thrown(() => authorizeTarget(s, d));
    await sameAsUnknown(err, s.requested, label);
  }
});

test('an unclassified target counts as DESTRUCTIVE', async () => {
  const s = call('mt__read', 'READ');
  s.toolClass = undefined;
  // acme may use READ tools under mt__* only: a target of unknown class is not one of them.
  const err = await thrown(() =>
    authorizeTarget(s, deps({ policy: POLICY, modes: POLICY.modes, identity: identity() })),
  );
  assert.equal(err.code, 'E_UNKNOWN_TOOL');
});

test('without a policy, modes still hide: disabled, and read-only for anything but READ', async () => {
  const modes: Modes = { tenants: { frozen: 'read_only' }, servers: {}, tools: { mt__off: 'disabled' } };
  const d = deps({ policy: undefined, modes, identity: identity() });
  await authorizeTarget(call('mt__any', 'DESTRUCTIVE'), d);
  await authorizeTarget(call('mt__read', 'READ', { tenant: 'frozen' }), d);
  await sameAsUnknown(await thrown(() => authorizeTarget(call('mt__off', 'READ'), d)), 'mt__off', 'disabled');
  await sameAsUnknown(
    await thrown(() => authorizeTarget(call('mt__any', 'WRITE', { tenant: 'frozen' }), d)),
    'mt__any',
    'read-only',
  );
  await sameAsUnknown(
    await thrown(() =>
      authorizeTarget(
        call('mt__any', 'READ', { tenant: 'frozen' }),
        deps({ policy: undefined, modes: { ...NO_MODES, gateway: 'disabled' }, identity: identity() }),
      ),
    ),
    'mt__any',
    'gateway off',
  );
});

test('a quarantined tool the caller may use is refused as quarantined', async () => {
  const d = deps({ policy: POLICY, modes: POLICY.modes, identity: identity() });
  const err = await thrown(() =>
    authorizeTarget(call('mt__read', 'READ', { quarantine: 'definition changed since it was accepted' }), d),
  );
  assert.deepEqual(
    [err.code, err.message],
    ['E_TOOL_QUARANTINED', 'tool `mt__read` is quarantined until an operator reviews it'],
  );
  const prompt = await thrown(() =>
    authorizeTarget(call('mt__evil', 'READ', { kind: 'prompt', quarantine: 'failed the poisoning scan' }), d),
  );
  assert.deepEqual(
    [prompt.code, prompt.message],
    ['E_TOOL_QUARANTINED', 'prompt `mt__evil` is quarantined until an operator reviews it'],
  );
});

test('prompts and resources hide the same way, with their own unknown answer', async () => {
  const d = deps({ policy: POLICY, modes: POLICY.modes, identity: identity() });
  await authorizeTarget(call('mt__greet', 'READ', { kind: 'prompt' }), d);
  const prompt = await thrown(() =>
    authorizeTarget(call('mt__greet', 'READ', { kind: 'prompt', tenant: 'globex', quarantine: 'x' }), d),
  );
  assert.deepEqual([prompt.code, prompt.message], ['E_UNKNOWN_PROMPT', 'unknown prompt `mt__greet`']);
  // A resource rule is visible to its tenant whatever the URI (the URI is judged at decide)...
  await authorizeTarget(call('gatehouse:mt/file:///srv/acme/a', 'READ', { kind: 'resource' }), d);
  // ...and to nobody else.
  const resource = await thrown(() =>
    authorizeTarget(
      call('gatehouse:mt/file:///srv/acme/a', 'READ', { kind: 'resource', tenant: 'globex', quarantine: 'x' }),
      d,
    ),
  );
  assert.deepEqual(
    [resource.code, resource.message],
    ['E_UNKNOWN_RESOURCE', 'unknown resource `gatehouse:mt/file:///srv/acme/a`'],
  );
});

test("usable() is the listings' test too: it agrees with authorize", () => {
  const d = { policy: POLICY, modes: POLICY.modes, identity: identity({ READ: ['mcp:read'] }) };
  const t = (name: string, cls: ToolClass) => ({ server: 'mt', name, kind: 'tool' as const, class: cls });
  assert.equal(usable(d, principal(), t('mt__read', 'READ')), true);
  assert.equal(usable(d, principal({ scopes: [] }), t('mt__read', 'READ')), false);
  assert.equal(usable(d, principal({ tenant: 'globex' }), t('mt__read', 'READ')), false);
  assert.equal(usable(d, principal(), t('mt__off', 'READ')), false);
});

test('a server that never connected: a caller who may see the name is told so, one who may not gets unknown tool', async () => {
  const d = deps({ policy: POLICY, modes: POLICY.modes, identity: identity() });
  const unconnected = (tenant: string, name: string, cls: ToolClass = 'READ') => {
    const s = call(name, cls, { tenant, quarantine: 'not in the inventory' });
    s.route = { ...s.route!, unconnected: true };
    return s;
  };
  const seen = await thrown(() => authorizeTarget(unconnected('acme', 'mt__get-sum'), d));
  assert.equal(seen.code, 'E_UPSTREAM_UNAVAILABLE');
  assert.equal(seen.rpc, -32603);
  assert.match(seen.message, /^upstream `mt` is not connected: /);
  // Another tenant, a tool policy denies, one a mode switched off: exactly what a name of no server gets.
  for (const [tenant, name, cls] of [
    ['globex', 'mt__get-sum', 'READ'],
    ['acme', 'mt__drop', 'READ'],
    ['acme', 'mt__off', 'READ'],
    ['frozen', 'mt__write', 'WRITE'],
  ] as const)
    await sameAsUnknown(
      await thrown(() => authorizeTarget(unconnected(tenant, name, cls), d)),
      name,
      `${tenant} ${name}`,
    );
});
