import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from './compile.ts';
import { explain } from './explain.ts';
import { parseCases, runTable } from './table.ts';
import { PolicyError } from './model.ts';

const NOW = Date.parse('2026-11-29T12:00:00Z');
const POLICY = compile(
  `
resources:
  - tool: 'github__*'
    resource: { kind: repo, template: '{owner}/{repo}' }
rules:
  - id: read-acme
    subjects: { tenants: [acme] }
    tools: ['github__*']
    classes: [READ]
    resources: ['acme/*']
    effect: allow
  - id: no-secrets
    resources: ['acme/secrets']
    effect: deny
`,
  'p.yaml',
);

const CASES = `
cases:
  - name: alice reads widgets
    subject: { subject: alice, tenant: acme, client: cli, roles: [dev] }
    tool: github__get_issue
    class: READ
    args: { owner: acme, repo: widgets }
    expect: allow
    rule: read-acme
  - name: secrets are denied
    subject: { subject: alice, tenant: acme, client: cli, roles: [dev] }
    tool: github__get_issue
    class: READ
    args: { owner: acme, repo: secrets }
    expect: deny
  - name: a wrong expectation
    subject: { subject: alice, tenant: acme }
    tool: github__get_issue
    class: READ
    args: { owner: other, repo: x }
    expect: allow
`;

test('runTable: pass, fail with a diff', () => {
  const results = runTable(POLICY, parseCases(CASES, 'cases.yaml'), NOW);
  assert.deepEqual(
    results.map((r) => [r.name, r.pass]),
    [
      ['alice reads widgets', true],
      ['secrets are denied', true],
      ['a wrong expectation', false],
    ],
  );
  assert.equal(results[2].diff[0], 'effect: expected allow, got deny');
  assert.equal(results[2].line, 16);
  assert.equal(results[0].actual.rule, 'read-acme');
});

test('runTable: a rule expectation is checked too', () => {
  const cases = parseCases(CASES.replace('rule: read-acme', 'rule: other-rule'), 'cases.yaml');
  const r = runTable(POLICY, cases, NOW)[0];
  assert.equal(r.pass, false);
  assert.deepEqual(r.diff.slice(0, 1), ['rule: expected `other-rule`, got `read-acme`']);
});

test('parseCases: strict, with positions', () => {
  assert.throws(
    () =>
      parseCases(
        `cases:\n  - name: x\n    subject: {}\n    tool: a__b\n    class: READ\n    expect: permit\n    arg: {}\n`,
        'c.yaml',
      ),
    (err: unknown) =>
      err instanceof PolicyError &&
      err.issues.some((i) => i.line === 6 && /expect/.test(i.path)) &&
      err.issues.some((i) => i.line === 7 && /unknown key `arg` \(did you mean `args`\?\)/.test(i.message)),
  );
  assert.throws(() => parseCases('nothing: here', 'c.yaml'), /expected `cases:`/);
  // A missing key is named as missing, not as a wrong value.
  assert.throws(
    () => parseCases(`cases:\n  - name: x\n    subject: {}\n    tool: a__b\n    expect: allow\n`, 'c.yaml'),
    (err: unknown) =>
      err instanceof PolicyError &&
      err.issues.some((i) =>
        /^required: `class` \(one of READ, WRITE, DESTRUCTIVE\): the config does not classify `a__b`$/.test(i.message),
      ),
  );
});

test('explain: every rule, matched or why not, and the decision', () => {
  const lines = explain(
    {
      principal: { subject: 'alice', tenant: 'acme', client: 'cli', roles: [] },
      server: 'github',
      tool: 'github__get_issue',
      toolClass: 'READ',
      arguments: { owner: 'acme', repo: 'secrets' },
    },
    POLICY,
    NOW,
  );
  const text = lines.join('\n');
  assert.match(text, /^policy revision [0-9a-f]{16}$/m);
  assert.match(text, /mode: enforce \(default\)/);
  assert.match(text, /resources: repo `acme\/secrets`/);
  assert.match(text, /rule `read-acme` \(allow, p\.yaml:6\): matched/);
  assert.match(text, /rule `no-secrets` \(deny, p\.yaml:12\): matched/);
  assert.match(text, /decision: deny by `no-secrets`/);
  const other = explain(
    {
      principal: { subject: 'bob', tenant: 'globex', client: 'cli', roles: [] },
      server: 'github',
      tool: 'github__get_issue',
      toolClass: 'READ',
      arguments: { owner: 'acme', repo: 'x' },
    },
    POLICY,
    NOW,
  ).join('\n');
  assert.match(other, /rule `read-acme` .*: no: tenant `globex` is not one of `acme`/);
  assert.match(other, /rule `no-secrets` .*: no: resource `acme\/x` matches none of `acme\/secrets`/);
  assert.match(other, /decision: deny by `default:deny`/);
  const refused = explain(
    {
      principal: { subject: 'bob', tenant: 'acme', client: 'cli', roles: [] },
      server: 'github',
      tool: 'github__get_issue',
      toolClass: 'READ',
      arguments: { owner: 'acme', repo: 'x/../y' },
    },
    POLICY,
    NOW,
  ).join('\n');
  assert.match(refused, /resources: refused: .*at `repo`/);
  assert.match(refused, /decision: deny by `resource:refused`/);
});

const CLASSED = `cases:
  - name: the config's class decides
    subject: { subject: alice, tenant: acme }
    tool: github__get_issue
    args: { owner: acme, repo: widgets }
    expect: allow
  - name: a class the tool does not have
    subject: { subject: alice, tenant: acme }
    tool: github__delete_repo
    class: READ
    args: { owner: acme, repo: widgets }
    expect: allow
  - name: an unclassified tool with no class
    subject: { subject: alice, tenant: acme }
    tool: github__other
    expect: deny
`;

test("parseCases: the config's class is the case's; another one stated, or none for an unclassified tool, is an error", () => {
  const configured = (server: string, tool: string) =>
    server === 'github'
      ? ({ github__get_issue: 'READ', github__delete_repo: 'DESTRUCTIVE' } as const)[tool]
      : undefined;
  const err = (() => {
    try {
      parseCases(CLASSED, 'cases.yaml', configured);
    } catch (e) {
      return e as PolicyError;
    }
    return undefined;
  })();
  assert.ok(err instanceof PolicyError);
  assert.deepEqual(
    err.issues.map((i) => `${i.file}:${i.line}: ${i.path}: ${i.message}`),
    [
      'cases.yaml:10: cases[1].class: case `a class the tool does not have` says class READ, but the config classifies `github__delete_repo` as DESTRUCTIVE, the class the gateway acts on: write DESTRUCTIVE or leave `class` out',
      'cases.yaml:13: cases[2].class: required: `class` (one of READ, WRITE, DESTRUCTIVE): the config does not classify `github__other`',
    ],
  );
  const [first] = parseCases(CLASSED.split('  - name: a class')[0], 'cases.yaml', configured);
  assert.equal(first.input.toolClass, 'READ');
  assert.equal(runTable(POLICY, [first], NOW)[0].pass, true);
});
