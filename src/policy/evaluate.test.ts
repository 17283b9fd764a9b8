import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile, compileAll } from './compile.ts';
import { checkRule, evaluate, visible } from './evaluate.ts';
import { effectiveMode, resolveMode } from './modes.ts';
import type { PolicyError, EvaluationInput, Modes, PolicyPrincipal, ToolClass } from './model.ts';

const NOW = Date.parse('2026-11-29T12:00:00Z');

const POLICY = compile(
  `
defaults:
  approvers: { roles: [security] }
resources:
  - tool: 'github__*'
    resource: { kind: repo, template: '{owner}/{repo}' }
  - tool: 'fs__*'
    resource: { kind: path, arg: path, root: /srv/data }
  - tool: 'jira__*'
    resource: { kind: id, arg: project_key }
modes:
  tenants: { frozen: read_only, trial: shadow }
  servers: { legacy: disabled, fs: enforce }
  tools: { github__delete_repo: disabled }
rules:
  - id: devs-read-github
    subjects: { tenants: [acme], roles: [dev, lead] }
    tools: ['github__*']
    classes: [READ]
    resources: ['acme/*']
    effect: allow
  - id: devs-wildcard
    subjects: { tenants: [acme], roles: [dev] }
    tools: ['github__*']
    resources: ['acme/*']
    effect: allow
  - id: devs-create-issue
    subjects: { tenants: [acme], roles: [dev] }
    tools: [github__create_issue]
    resources: ['acme/widgets']
    effect: allow
  - id: leads-write
    subjects: { tenants: [acme], roles: [lead], clients: [cli] }
    tools: ['github__*']
    classes: [WRITE]
    resources: ['acme/*']
    effect: allow
  - id: merge-needs-two
    tools: [github__merge_pr]
    effect: approve
    approvers: { roles: [lead], count: 2 }
  - id: no-secrets-repo
    resources: ['acme/secrets']
    effect: deny
  - id: contractors-out
    subjects: { roles: [contractor] }
    effect: deny
  - id: fs-tenant1
    subjects: { tenants: [acme] }
    tools: ['fs__read_*']
    resources: ['/srv/data/tenant1/*']
    effect: allow
  - id: jira-keys
    subjects: { tenants: [acme] }
    tools: ['jira__*']
    classes: [READ]
    resources: ['PROJ-*', { pattern: 'ops', caseInsensitive: true }]
    effect: allow
  - id: trial-writes
    subjects: { tenants: [trial] }
    tools: [github__create_issue]
    effect: allow
  - id: try-new-tool
    tools: [github__experimental]
    effect: shadow
  - id: temporary
    subjects: { subjects: [temp] }
    tools: ['github__*']
    classes: [READ]
    resources: ['acme/*']
    effect: allow
    validUntil: '2026-11-01T00:00:00Z'
`,
  'policy.yaml',
);

const dev: PolicyPrincipal = { subject: 'alice', tenant: 'acme', client: 'cli', roles: ['dev'] };
const lead: PolicyPrincipal = { subject: 'bob', tenant: 'acme', client: 'cli', roles: ['lead'] };

function call(principal: PolicyPrincipal, tool: string, toolClass: ToolClass, args: unknown): EvaluationInput {
  return { principal, server: tool.split('__')[0], tool, toolClass, arguments: args };
}
const repo = (r: string) => ({ owner: r.split('/')[0], repo: r.split('/')[1] });

const CASES: Array<[string, EvaluationInput, string, string]> = [
  // [name, input, effect, rule]
  [
    'read inside allowed owner',
    call(dev, 'github__get_issue', 'READ', repo('acme/widgets')),
    'allow',
    'devs-read-github',
  ],
  ['default deny: other owner', call(dev, 'github__get_issue', 'READ', repo('other/widgets')), 'deny', 'default:deny'],
  ['default deny: unknown tool', call(dev, 'slack__post', 'WRITE', {}), 'deny', 'default:deny'],
  ['deny overrides allow', call(dev, 'github__get_issue', 'READ', repo('acme/secrets')), 'deny', 'no-secrets-repo'],
  [
    'deny overrides approve',
    call({ ...lead, roles: ['lead', 'contractor'] }, 'github__merge_pr', 'DESTRUCTIVE', repo('acme/widgets')),
    'deny',
    'contractors-out',
  ],
  [
    'approve beats allow',
    call(lead, 'github__merge_pr', 'DESTRUCTIVE', repo('acme/widgets')),
    'approve',
    'merge-needs-two',
  ],
  [
    'wildcard allow does not waive WRITE approval',
    call(dev, 'github__update_issue', 'WRITE', repo('acme/widgets')),
    'approve',
    'default:class-approval',
  ],
  [
    'exact tool name waives WRITE approval',
    call(dev, 'github__create_issue', 'WRITE', repo('acme/widgets')),
    'allow',
    'devs-create-issue',
  ],
  [
    'exact tool allow only for its resource',
    call(dev, 'github__create_issue', 'WRITE', repo('acme/gadgets')),
    'approve',
    'default:class-approval',
  ],
  [
    'class named waives WRITE approval',
    call(lead, 'github__update_issue', 'WRITE', repo('acme/widgets')),
    'allow',
    'leads-write',
  ],
  [
    'class WRITE does not cover DESTRUCTIVE',
    call(lead, 'github__delete_branch', 'DESTRUCTIVE', repo('acme/widgets')),
    'deny',
    'default:deny',
  ],
  [
    'subjects all-of: client must match too',
    call({ ...lead, client: 'web' }, 'github__update_issue', 'WRITE', repo('acme/widgets')),
    'deny',
    'default:deny',
  ],
  [
    'subjects any-of within roles',
    call({ ...dev, roles: ['x', 'lead'] }, 'github__get_issue', 'READ', repo('acme/widgets')),
    'allow',
    'devs-read-github',
  ],
  [
    'subjects: wrong tenant',
    call({ ...dev, tenant: 'globex' }, 'github__get_issue', 'READ', repo('acme/widgets')),
    'deny',
    'default:deny',
  ],
  [
    'case variant refused (case-sensitive)',
    call(dev, 'github__get_issue', 'READ', repo('Acme/widgets')),
    'deny',
    'default:deny',
  ],
  [
    'cyrillic look-alike owner refused',
    call(dev, 'github__get_issue', 'READ', repo('\u0430cme/widgets')),
    'deny',
    'resource:refused',
  ],
  [
    'traversal in repo refused',
    call(dev, 'github__get_issue', 'READ', { owner: 'acme', repo: 'allowed/../other' }),
    'deny',
    'resource:refused',
  ],
  [
    'array of two repos refused',
    call(dev, 'github__get_issue', 'READ', { owner: 'acme', repo: ['widgets', 'secrets'] }),
    'deny',
    'resource:refused',
  ],
  [
    '__proto__ key refused',
    call(dev, 'github__get_issue', 'READ', JSON.parse('{"owner":"acme","repo":"widgets","__proto__":{"admin":true}}')),
    'deny',
    'resource:refused',
  ],
  [
    'path inside root by segments',
    call(dev, 'fs__read_file', 'READ', { path: '/srv/data/tenant1/a.txt' }),
    'allow',
    'fs-tenant1',
  ],
  [
    'path sibling with shared prefix',
    call(dev, 'fs__read_file', 'READ', { path: '/srv/data/tenant1_secrets/a.txt' }),
    'deny',
    'default:deny',
  ],
  [
    'path is the allowed dir itself (strictly inside only)',
    call(dev, 'fs__read_file', 'READ', { path: '/srv/data/tenant1' }),
    'deny',
    'default:deny',
  ],
  [
    'path trailing slash refused',
    call(dev, 'fs__read_file', 'READ', { path: '/srv/data/tenant1/a/' }),
    'deny',
    'resource:refused',
  ],
  [
    'path encoded traversal',
    call(dev, 'fs__read_file', 'READ', { path: '/srv/data/tenant1/%2e%2e%2fx' }),
    'deny',
    'resource:refused',
  ],
  [
    'path NUL',
    call(dev, 'fs__read_file', 'READ', { path: '/srv/data/tenant1/a\u0000.txt' }),
    'deny',
    'resource:refused',
  ],
  ['id glob', call(dev, 'jira__get', 'READ', { project_key: 'PROJ-12' }), 'allow', 'jira-keys'],
  ['id glob is full-string', call(dev, 'jira__get', 'READ', { project_key: 'XPROJ-12' }), 'deny', 'default:deny'],
  ['id caseInsensitive pattern', call(dev, 'jira__get', 'READ', { project_key: 'OPS' }), 'allow', 'jira-keys'],
  [
    'zero-width in id refused',
    call(dev, 'jira__get', 'READ', { project_key: 'PROJ\u200b-1' }),
    'deny',
    'resource:refused',
  ],
  ['shadow rule', call(dev, 'github__experimental', 'WRITE', repo('acme/widgets')), 'shadow', 'try-new-tool'],
  [
    'expired rule no longer matches',
    call({ ...dev, subject: 'temp', roles: [] }, 'github__get_issue', 'READ', repo('acme/widgets')),
    'deny',
    'default:deny',
  ],
  // modes
  ['disabled tool', call(lead, 'github__delete_repo', 'DESTRUCTIVE', repo('acme/widgets')), 'deny', 'mode:disabled'],
  ['disabled server', call(dev, 'legacy__get', 'READ', {}), 'deny', 'mode:disabled'],
  [
    'read_only tenant refuses WRITE',
    call({ ...lead, tenant: 'frozen' }, 'github__update_issue', 'WRITE', repo('acme/widgets')),
    'deny',
    'mode:read_only',
  ],
  [
    'shadow tenant turns an allowed WRITE into shadow',
    call({ ...dev, tenant: 'trial' }, 'github__create_issue', 'WRITE', repo('trial/x')),
    'shadow',
    'mode:shadow',
  ],
  [
    'shadow never turns deny into anything else',
    call({ ...dev, tenant: 'trial' }, 'github__update_issue', 'WRITE', repo('trial/x')),
    'deny',
    'default:deny',
  ],
];

for (const [name, input, effect, rule] of CASES) {
  test(`evaluate: ${name}`, () => {
    const d = evaluate(input, POLICY, NOW);
    assert.deepEqual([d.effect, d.rule], [effect, rule], d.reasons.join('; '));
    assert.equal(d.revision, POLICY.revision);
  });
}

test('evaluate: approvers come from the rule, else the defaults; shadowOf records enforcement', () => {
  assert.deepEqual(evaluate(call(lead, 'github__merge_pr', 'DESTRUCTIVE', repo('acme/w')), POLICY, NOW).approvers, {
    roles: ['lead'],
    count: 2,
  });
  assert.deepEqual(evaluate(call(dev, 'github__update_issue', 'WRITE', repo('acme/w')), POLICY, NOW).approvers, {
    roles: ['security'],
    count: 1,
  });
  const s = evaluate(call({ ...dev, tenant: 'trial' }, 'github__create_issue', 'WRITE', repo('trial/x')), POLICY, NOW);
  assert.deepEqual(s.shadowOf, { effect: 'allow', rule: 'trial-writes' });
  assert.equal(s.mode, 'shadow');
});

test('evaluate: pre-extracted resources are used as given', () => {
  const d = evaluate(
    { ...call(dev, 'github__get_issue', 'READ', {}), resources: [{ kind: 'repo', value: 'acme/widgets' }] },
    POLICY,
    NOW,
  );
  assert.equal(d.effect, 'allow');
});

test('modes: most specific wins, disabled wins from anywhere', () => {
  const m: Modes = {
    gateway: 'shadow',
    tenants: { t: 'read_only', off: 'disabled' },
    servers: { s: 'enforce' },
    tools: { s__x: 'shadow', s__y: 'enforce' },
  };
  assert.equal(effectiveMode(m, { tenant: 'z', server: 'z', tool: 'z__a' }), 'shadow');
  assert.equal(effectiveMode(m, { tenant: 't', server: 'z', tool: 'z__a' }), 'read_only');
  assert.equal(effectiveMode(m, { tenant: 't', server: 's', tool: 's__a' }), 'enforce');
  assert.equal(effectiveMode(m, { tenant: 't', server: 's', tool: 's__x' }), 'shadow');
  assert.deepEqual(resolveMode(m, { tenant: 'off', server: 's', tool: 's__y' }), {
    mode: 'disabled',
    from: 'tenant:off',
  });
  assert.equal(
    effectiveMode({ tenants: {}, servers: {}, tools: {} }, { tenant: 'a', server: 'b', tool: 'c' }),
    'enforce',
  );
  assert.equal(
    effectiveMode(
      { tenants: {}, servers: {}, tools: {} },
      { tenant: '__proto__', server: 'constructor', tool: 'toString' },
    ),
    'enforce',
  );
  assert.equal(
    effectiveMode(
      { gateway: 'disabled', tenants: {}, servers: {}, tools: { a: 'enforce' } },
      { tenant: 'x', server: 'x', tool: 'a' },
    ),
    'disabled',
  );
});

test('visible: listings show only what some rule could allow, approve or shadow', () => {
  assert.equal(visible(dev, 'github__get_issue', 'READ', POLICY), true);
  assert.equal(visible(dev, 'slack__post', 'WRITE', POLICY), false);
  assert.equal(visible(dev, 'github__delete_repo', 'DESTRUCTIVE', POLICY), false); // disabled
  assert.equal(visible({ ...dev, roles: ['contractor'] }, 'github__get_issue', 'READ', POLICY), false); // unconditional deny
  assert.equal(visible({ ...lead, tenant: 'frozen' }, 'github__merge_pr', 'DESTRUCTIVE', POLICY), false); // read_only
  assert.equal(visible({ ...dev, tenant: 'globex' }, 'github__merge_pr', 'DESTRUCTIVE', POLICY), true); // approve rule has no subjects
  assert.equal(visible(dev, 'legacy__get', 'READ', POLICY), false);
  assert.equal(visible(dev, 'legacy.get', 'READ', POLICY, { server: 'legacy' }), false);
});

test('visible: a rule that names only resources covers what can have such a resource: no prompt, a template of its kind', () => {
  const policy = compile(
    `
rules:
  - id: files
    subjects: { tenants: [acme] }
    resources: ['/srv/acme/*']
    effect: allow
  - id: own-prompts
    subjects: { tenants: [acme] }
    prompts: ['mt__*']
    effect: allow
`,
    'resources-only.yaml',
  );
  const acme = { subject: 'a', tenant: 'acme', client: 'c', roles: [] };
  const prompt = (name: string) => visible(acme, name, 'READ', policy, { kind: 'prompt' });
  assert.equal(prompt('mt__greet'), true, 'a rule names it');
  assert.equal(prompt('ev__simple-prompt'), false, 'a prompt has no resource: the files rule does not show it');
  const template = (uri: string, kind: 'path' | 'url' | 'id') =>
    visible(acme, uri, 'READ', policy, { kind: 'resource', server: 'ev', resourceKinds: [kind] });
  assert.equal(template('gatehouse:ev/file:///{+path}', 'path'), true);
  assert.equal(template('gatehouse:ev/demo://resource/{id}', 'id'), false);
  // A read (its URI not yet judged) is still decided by its canonical resource at decide.
  assert.equal(
    visible(acme, 'gatehouse:ev/file:///srv/acme/a', 'READ', policy, { kind: 'resource', server: 'ev' }),
    true,
  );
});

test('a rule naming `{ issuer, subject }` applies to that issuer’s subject only; a bare one to any issuer’s, and is refused with several issuers', () => {
  const text = `rules:
  - id: alice-of-a-deletes
    subjects: { subjects: [{ issuer: 'https://a.example.com', subject: alice }] }
    tools: [fs__delete]
    effect: allow
  - id: bob-anywhere-reads
    subjects: { subjects: [bob] }
    tools: [fs__read]
    effect: allow
`;
  const policy = compile(text, 'p.yaml');
  const who = (subject: string, issuer?: string): PolicyPrincipal => ({
    subject,
    ...(issuer ? { issuer } : {}),
    tenant: 'acme',
    client: 'cli',
    roles: [],
  });
  const decide = (p: PolicyPrincipal, tool: string) => {
    const d = evaluate(call(p, tool, tool === 'fs__read' ? 'READ' : 'DESTRUCTIVE', {}), policy, NOW);
    return `${d.effect} ${d.rule}`;
  };
  assert.equal(decide(who('alice', 'https://a.example.com'), 'fs__delete'), 'allow alice-of-a-deletes');
  assert.equal(decide(who('alice', 'https://b.example.com'), 'fs__delete'), 'deny default:deny');
  assert.equal(decide(who('alice', 'gatehouse'), 'fs__delete'), 'deny default:deny', 'nor an API key for alice');
  assert.equal(decide(who('alice'), 'fs__delete'), 'deny default:deny', 'an unknown issuer matches no named one');
  assert.equal(decide(who('bob', 'https://b.example.com'), 'fs__read'), 'allow bob-anywhere-reads');
  assert.equal(
    visible(who('alice', 'https://b.example.com'), 'fs__delete', 'DESTRUCTIVE', policy),
    false,
    'not even listed',
  );
  const d = evaluate(call(who('alice', 'https://b.example.com'), 'fs__delete', 'DESTRUCTIVE', {}), policy, NOW);
  assert.equal(d.reasons.length, 1);
  assert.match(
    checkRule(policy.rules[0], {
      principal: who('alice', 'https://b.example.com'),
      tool: 'fs__delete',
      toolClass: 'DESTRUCTIVE',
    }).why,
    /subject `alice` of `https:\/\/b.example.com` is not one of `alice \(https:\/\/a.example.com\)`/,
  );
  // With several issuers, the bare `bob` is ambiguous: refused at its line and column.
  assert.throws(
    () => compileAll([{ text, source: 'p.yaml' }], { refuseBareSubjects: 'identity names 2 issuers' }),
    (e: PolicyError) =>
      e.issues.length === 1 &&
      e.issues[0].line === 7 &&
      e.issues[0].path === 'rules[1].subjects.subjects[0]' &&
      /a bare subject `bob` is ambiguous: identity names 2 issuers; write `\{ issuer, subject \}`/.test(
        e.issues[0].message,
      ),
  );
});

test('`apikey:<name>` names the service key (issuer gatehouse) only, never a token whose `sub` reads so; it is never ambiguous', () => {
  const text = [
    'rules:',
    '  - id: bot-deletes',
    '    subjects: { subjects: [apikey:deploy-bot] }',
    '    tools: [fs__delete]',
    '    effect: approve',
    '    approvers: { roles: [lead] }', // not `apikey:deploy-bot`: a service key never approves (refused at load)
    '',
  ].join('\n');
  // Compiled with several issuers configured: not refused as a bare subject, and means the key.
  const policy = compileAll([{ text, source: 'p.yaml' }], { refuseBareSubjects: 'identity names 2 issuers' });
  const own = { issuer: 'gatehouse', subject: 'apikey:deploy-bot' };
  assert.deepEqual(policy.rules[0].subjects?.subjects, [own]);
  const who = (issuer: string): PolicyPrincipal => ({
    subject: 'apikey:deploy-bot',
    issuer,
    tenant: 'acme',
    client: 'c',
    roles: [],
  });
  const decide = (p: PolicyPrincipal) => evaluate(call(p, 'fs__delete', 'DESTRUCTIVE', {}), policy, NOW).effect;
  assert.equal(decide(who('gatehouse')), 'approve');
  assert.equal(decide(who('https://idp.example.com')), 'deny', "an identity provider's user who picked that sub");
  assert.match(
    checkRule(policy.rules[0], {
      principal: who('https://idp.example.com'),
      tool: 'fs__delete',
      toolClass: 'DESTRUCTIVE',
    }).why,
    /is not one of `apikey:deploy-bot \(gatehouse\)`/,
  );
});

test("a rule's bare subject written like a service key's but not `apikey:<name>` is refused: no person has it (walk S, F7)", () => {
  const text = [
    'rules:',
    '  - id: lookalike',
    '    subjects: { subjects: [APIKEY:deploy-bot, " apikey:x"] }',
    '    tools: [fs__delete]',
    '    effect: allow',
    '',
  ].join('\n');
  assert.throws(
    () => compileAll([{ text, source: 'p.yaml' }]),
    (e: PolicyError) =>
      e.issues.length === 2 &&
      e.issues[0].path === 'rules[0].subjects.subjects[0]' &&
      /`APIKEY:deploy-bot` is written like a service key's subject but is not `apikey:<name>`/.test(
        e.issues[0].message,
      ),
  );
});
