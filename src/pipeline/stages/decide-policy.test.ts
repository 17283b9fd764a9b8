import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Modes, Resource } from '../../policy/model.ts';
import type { ToolClass } from '../types.ts';
import { decidePolicy } from './decide-policy.ts';
import { deps, policyOf, principal, state, thrown } from './fakes.test-util.ts';

const POLICY = policyOf(`
modes:
  tools: { mt__off: disabled }
rules:
  - { id: reads, subjects: { tenants: [acme] }, tools: ['mt__*'], classes: [READ], effect: allow }
  - { id: no-prod, subjects: { tenants: [acme] }, tools: [mt__fetch], resources: ['https://prod.example/*'], effect: deny }
  - { id: writes-approved, subjects: { tenants: [acme] }, tools: [mt__write], effect: approve, approvers: { roles: [lead] } }
  - { id: prompts-approved, subjects: { tenants: [acme] }, prompts: [mt__greet], effect: approve }
  - { id: docs, subjects: { tenants: [acme] }, resources: ['https://docs.example/*'], effect: allow }
  - { id: secrets-approved, subjects: { tenants: [acme] }, resources: ['secret://*'], effect: approve }
  - { id: no-private, subjects: { tenants: [acme] }, resources: ['https://docs.example/private/*'], effect: deny }
`);

function call(
  method: string,
  kind: 'tool' | 'prompt' | 'resource',
  qualified: string,
  over: { cls?: ToolClass; resources?: Resource[]; tenant?: string; args?: object } = {},
) {
  const s = state({
    method,
    kind,
    requested: qualified,
    params: { arguments: over.args as never },
    ctx: { principal: principal({ tenant: over.tenant ?? 'acme' }) },
  });
  s.route = { server: 'mt', tool: qualified, def: {}, qualified, item: '' };
  s.toolClass = over.cls ?? (kind === 'tool' ? undefined : 'READ');
  s.resources = over.resources;
  return s;
}
const d = () => deps({ policy: POLICY, modes: POLICY.modes });

test('an allowed call carries the decision: rule, reasons and the policy revision', async () => {
  const s = call('tools/call', 'tool', 'mt__read', { cls: 'READ' });
  await decidePolicy(s, d());
  assert.deepEqual(
    [s.decision!.effect, s.decision!.rule, s.decision!.policyRevision],
    ['allow', 'reads', POLICY.revision],
  );
  assert.ok(s.decision!.reasons.length);
});

test("a tools/call policy asks approval for waits for a person, with the rule's approvers", async () => {
  const s = call('tools/call', 'tool', 'mt__write', { cls: 'WRITE' });
  await decidePolicy(s, d());
  assert.deepEqual(
    [s.decision!.effect, s.decision!.rule, s.decision!.approvers],
    ['approval', 'writes-approved', { roles: ['lead'], count: 1 }],
  );
});

test('approval for anything but a tools/call is a refusal', async () => {
  for (const s of [
    call('prompts/get', 'prompt', 'mt__greet'),
    call('completion/complete', 'prompt', 'mt__greet'),
    call('resources/read', 'resource', 'gatehouse:mt/secret://token', {
      resources: [{ kind: 'id', value: 'secret://token' }],
    }),
    call('resources/subscribe', 'resource', 'gatehouse:mt/secret://token', {
      resources: [{ kind: 'id', value: 'secret://token' }],
    }),
  ]) {
    const err = await thrown(() => decidePolicy(s, d()));
    assert.equal(err.code, 'E_POLICY_DENIED', s.method);
    assert.match(err.message, /only tool calls can be approved by a person/);
    assert.ok((err.data as { rule: string }).rule.endsWith('-approved'), s.method);
  }
});

test('a visible tool refused for these resources says so and why', async () => {
  const s = call('tools/call', 'tool', 'mt__fetch', {
    cls: 'READ',
    resources: [{ kind: 'url', value: 'https://prod.example/db' }],
  });
  const err = await thrown(() => decidePolicy(s, d()));
  assert.equal(err.code, 'E_POLICY_DENIED');
  assert.match(err.message, /^denied by policy \(`no-prod`\): /);
  assert.deepEqual(err.data, { rule: 'no-prod' });
  assert.equal(s.decision!.effect, 'deny');
});

test('the canonical resources validate extracted are what is judged, not the raw arguments', async () => {
  // As with a path behind a symlink: the argument names one thing, what goes upstream another.
  const s = call('tools/call', 'tool', 'mt__fetch', {
    cls: 'READ',
    args: { url: 'https://harmless.example/' },
    resources: [{ kind: 'url', value: 'https://prod.example/db' }],
  });
  assert.deepEqual((await thrown(() => decidePolicy(s, d()))).data, { rule: 'no-prod' });
  const t = call('tools/call', 'tool', 'mt__fetch', {
    cls: 'READ',
    args: { url: 'https://prod.example/db' },
    resources: [{ kind: 'url', value: 'https://harmless.example/' }],
  });
  await decidePolicy(t, d());
  assert.equal(t.decision!.effect, 'allow');
});

test('a resource refused for its URI looks unknown: no rule, or a deny rule', async () => {
  for (const [value, tenant] of [
    ['https://docs.example/private/a', 'acme'],
    ['https://docs.example/a', 'globex'],
    ['https://elsewhere.example/a', 'acme'],
  ] as const) {
    const s = call('resources/read', 'resource', `gatehouse:mt/${value}`, {
      resources: [{ kind: 'url', value }],
      tenant,
    });
    const err = await thrown(() => decidePolicy(s, d()));
    assert.deepEqual(
      [err.code, err.message, err.data],
      ['E_UNKNOWN_RESOURCE', `unknown resource \`gatehouse:mt/${value}\``, undefined],
      value,
    );
  }
  const ok = call('resources/read', 'resource', 'gatehouse:mt/https://docs.example/a', {
    resources: [{ kind: 'url', value: 'https://docs.example/a' }],
  });
  await decidePolicy(ok, d());
  assert.deepEqual([ok.decision!.effect, ok.decision!.rule], ['allow', 'docs']);
});

test('a tool switched off by a mode looks unknown; an unclassified tool is judged DESTRUCTIVE', async () => {
  const off = call('tools/call', 'tool', 'mt__off', { cls: 'READ' });
  const err = await thrown(() => decidePolicy(off, d()));
  assert.deepEqual([err.code, err.message], ['E_UNKNOWN_TOOL', 'unknown tool `mt__off`']);
  const unclassified = call('tools/call', 'tool', 'mt__read');
  const denied = await thrown(() => decidePolicy(unclassified, d()));
  assert.equal(denied.code, 'E_POLICY_DENIED', 'READ-only rules do not allow a DESTRUCTIVE call');
  assert.deepEqual(denied.data, { rule: 'default:deny' });
});

test('without a policy: allowed, but modes still apply (disabled unknown, read-only refused, shadow for non-READ)', async () => {
  const modes = (m: Partial<Modes>): Modes => ({ tenants: {}, servers: {}, tools: {}, ...m });
  const run = (cls: ToolClass, m: Partial<Modes>) => {
    const s = call('tools/call', 'tool', 'mt__x', { cls });
    return [s, (async () => decidePolicy(s, deps({ policy: undefined, modes: modes(m) })))()] as const; // a refusal as a rejection
  };
  const [plain, p] = run('DESTRUCTIVE', {});
  await p;
  assert.deepEqual([plain.decision!.effect, plain.decision!.rule], ['allow', 'builtin:no-policy']);
  const [, disabled] = run('READ', { servers: { mt: 'disabled' } });
  assert.equal((await thrown(() => disabled)).code, 'E_UNKNOWN_TOOL');
  const [, ro] = run('WRITE', { tenants: { acme: 'read_only' } });
  const roErr = await thrown(() => ro);
  assert.deepEqual([roErr.code, roErr.data], ['E_POLICY_DENIED', { rule: 'mode:read_only' }]);
  const [roRead, roReadP] = run('READ', { tenants: { acme: 'read_only' } });
  await roReadP;
  assert.equal(roRead.decision!.effect, 'allow');
  const [shadow, shadowP] = run('WRITE', { gateway: 'shadow' });
  await shadowP;
  assert.deepEqual([shadow.decision!.effect, shadow.decision!.rule], ['shadow', 'mode:shadow']);
  const [shadowRead, shadowReadP] = run('READ', { gateway: 'shadow' });
  await shadowReadP;
  assert.equal(shadowRead.decision!.effect, 'allow', 'a READ call runs in shadow mode');
});
