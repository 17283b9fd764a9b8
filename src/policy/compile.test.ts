import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile, compileAll } from './compile.ts';
import { PolicyError } from './model.ts';
import { globMatches, compileGlob, toolGlobProblem } from './glob.ts';

function issues(text: string, file = 'p.yaml'): Array<{ line: number; path: string; message: string }> {
  try {
    compile(text, file);
  } catch (err) {
    assert.ok(err instanceof PolicyError);
    return err.issues.map(({ line, path, message }) => ({ line, path, message }));
  }
  assert.fail('expected a PolicyError');
}

const BASE = `rules:
  - id: ok
    effect: allow
`;

// Each error kind, at its line. The offending line is the last line of each snippet.
const ERRORS: Array<[string, string, number, RegExp]> = [
  [
    'unknown rule key',
    `${BASE}  - id: r2\n    effect: allow\n    tool: [x]\n`,
    6,
    /unknown key `tool` \(did you mean `tools`\?\)/,
  ],
  ['duplicate id', `${BASE}  - id: ok\n    effect: deny\n`, 4, /duplicate rule id `ok` \(first at p\.yaml:2\)/],
  ['missing id', `${BASE}  - effect: deny\n`, 4, /required: `id`/],
  ['invalid glob', `${BASE}  - id: r2\n    effect: allow\n    tools: ['github__(a|b)*']\n`, 6, /invalid glob/],
  ['globstar', `${BASE}  - id: r2\n    effect: allow\n    tools: ['github__**']\n`, 6, /`\*\*`/],
  [
    'approvers on allow',
    `${BASE}  - id: r2\n    effect: allow\n    approvers: { roles: [lead] }\n`,
    6,
    /only for rules with `effect: approve`/,
  ],
  ['unknown effect', `${BASE}  - id: r2\n    effect: permit\n`, 5, /unknown effect `permit`/],
  ['unknown class', `${BASE}  - id: r2\n    effect: allow\n    classes: [READ, WRTIE]\n`, 6, /unknown class `WRTIE`/],
  [
    'bad approver count',
    `${BASE}  - id: r2\n    effect: approve\n    approvers: { roles: [lead], count: 3 }\n`,
    6,
    /must be 1 or 2/,
  ],
  ['unknown top-level key', `${BASE}rulez: []\n`, 4, /unknown key `rulez` \(did you mean `rules`\?\)/],
  ['unknown mode', `${BASE}modes:\n  servers:\n    github: readonly\n`, 6, /unknown mode `readonly`/],
  [
    'non-canonical resource pattern',
    `${BASE}  - id: r2\n    effect: allow\n    resources: ['/srv/data/../x/*']\n`,
    6,
    /`\.\.`/,
  ],
  [
    'glob on a repo',
    `${BASE}  - id: r2\n    effect: allow\n    resources: [{ pattern: 'acme/w*', kind: repo }]\n`,
    6,
    /globs match `id` resources only/,
  ],
  [
    'root not canonical',
    `${BASE}resources:\n  - tool: fs__read\n    resource: { kind: path, arg: path, root: /srv/data/ }\n`,
    6,
    /canonical absolute path/,
  ],
  [
    'template on a path',
    `${BASE}resources:\n  - tool: fs__read\n    resource: { kind: path, template: '{a}' }\n`,
    6,
    /only for `repo` and `id`/,
  ],
  ['bad validUntil', `${BASE}  - id: r2\n    effect: allow\n    validUntil: tomorrow\n`, 6, /must be a date/],
  [
    'duplicate yaml key',
    `${BASE}  - id: r2\n    effect: allow\n    effect: deny\n`,
    6,
    /duplicate key `effect` \(first at line 5\)/,
  ],
  ['__proto__ as a name', `${BASE}modes:\n  tenants:\n    __proto__: disabled\n`, 6, /`__proto__` is not allowed/],
  [
    'a service key as an approver',
    `${BASE}  - id: r2\n    effect: approve\n    approvers: { subjects: [apikey:bot] }\n`,
    6,
    /`apikey:bot` is a service key, and a service key cannot approve/,
  ],
  ['empty subject list', `${BASE}  - id: r2\n    effect: allow\n    subjects: { roles: [] }\n`, 6, /non-empty list/],
];

for (const [name, text, line, re] of ERRORS) {
  test(`compile error: ${name} at its line`, () => {
    const found = issues(text);
    assert.ok(
      found.some((i) => i.line === line && re.test(i.message)),
      JSON.stringify(found),
    );
  });
}

test('compile errors carry file, line, column, path and are all reported at once', () => {
  try {
    compile(`rules:\n  - id: a\n    effect: nope\n  - id: a\n    effect: allow\n`, 'x.yaml');
    assert.fail();
  } catch (err) {
    assert.ok(err instanceof PolicyError);
    assert.equal(err.issues.length, 2);
    assert.deepEqual(err.issues[0], {
      file: 'x.yaml',
      line: 3,
      column: 13,
      path: 'rules[0].effect',
      message: 'unknown effect `nope`; one of `allow`, `deny`, `approve`, `shadow`',
    });
    assert.match(err.message, /^x\.yaml:3:13: rules\[0\]\.effect: unknown effect/);
  }
});

test('a gateway config with a policy: section; other keys are not ours', () => {
  const p = compile(`gateway: { listen: x }\npolicy:\n  rules:\n    - id: a\n      effect: allow\n`, 'gatehouse.yaml');
  assert.equal(p.rules[0].id, 'a');
  assert.equal(p.rules[0].at.line, 4);
  assert.equal(issues(`policy:\n  rules: []\n  bogus: 1\n`)[0].line, 3);
});

test('duplicate ids across files, and conflicting modes', () => {
  assert.throws(
    () =>
      compileAll([
        { text: BASE, source: 'a.yaml' },
        { text: BASE, source: 'b.yaml' },
      ]),
    /b\.yaml:2:9: rules\[0\]\.id: duplicate rule id `ok` \(first at a\.yaml:2\)/,
  );
  assert.throws(
    () =>
      compileAll([
        { text: 'modes: { gateway: shadow }', source: 'a.yaml' },
        { text: 'modes: { gateway: enforce }', source: 'b.yaml' },
      ]),
    /already set/,
  );
});

test('the compiled policy is frozen', () => {
  const p = compile(BASE, 'p.yaml');
  assert.ok(Object.isFrozen(p) && Object.isFrozen(p.rules) && Object.isFrozen(p.rules[0]));
  assert.throws(() => (p.rules as unknown[]).push({}));
});

test('revision changes iff the policy changes', () => {
  const r = (t: string, f = 'p.yaml') => compile(t, f).revision;
  const a = r(BASE);
  assert.match(a, /^[0-9a-f]{16}$/);
  assert.equal(r(`# a comment\nrules:\n  - effect: allow   # moved key\n    id: ok\n`, 'other.yaml'), a); // comments, key order, file name
  assert.equal(r(`rules: [{ id: ok, effect: allow }]`), a); // flow style
  assert.notEqual(r(BASE.replace('allow', 'deny')), a);
  assert.notEqual(r(`${BASE}    tools: ['*']\n`), a);
  assert.notEqual(r(`${BASE}modes: { gateway: shadow }\n`), a);
  assert.notEqual(r(`${BASE}    description: why\n`), a);
  // Rule order matters (first rule of a strength names the decision).
  const two = `rules:\n  - { id: a, effect: allow }\n  - { id: b, effect: allow }\n`;
  assert.notEqual(r(two), r(`rules:\n  - { id: b, effect: allow }\n  - { id: a, effect: allow }\n`));
});

test('globs: * and ? only; regex syntax is literal', () => {
  const m = (g: string, name: string) => globMatches(compileGlob(g), name);
  assert.ok(m('github__*', 'github__create_issue'));
  assert.ok(m('*__read_*', 'fs__read_file'));
  assert.ok(m('fs__read_?ile', 'fs__read_file'));
  assert.ok(!m('github__*', 'gitlab__x'));
  assert.ok(!m('github__*', 'xgithub__x')); // anchored
  assert.ok(!m('a.c', 'abc')); // `.` is literal
  assert.ok(m('a.c', 'a.c'));
  assert.ok(!m('fs__read_?ile', 'fs__read_ile')); // `?` is exactly one
  assert.ok(toolGlobProblem('a|b'));
  assert.ok(toolGlobProblem('a[bc]'));
  assert.ok(toolGlobProblem('a{1,2}'));
  assert.ok(toolGlobProblem('(a)'));
  assert.ok(toolGlobProblem('a+'));
  assert.ok(toolGlobProblem('a\\d'));
  assert.equal(toolGlobProblem('github__*'), undefined);
});

test("a relative root is relative to the policy file's folder; without a file it is refused", () => {
  const text = `resources:\n  - tool: fs__write\n    resource: { kind: path, arg: path, root: ../tmp/files }\nrules: []\n`;
  assert.equal(compile(text, '/repo/examples/policy.yaml').resources[0].resources[0].root, '/repo/tmp/files');
  assert.deepEqual(issues(text), [
    {
      line: 3,
      path: 'resources[0].resource.root',
      message: 'a relative root needs a policy file to be relative to; write an absolute path',
    },
  ]);
});

test('a policy line indented wrongly is pointed at where its text starts, not at column 1 (operator walk)', () => {
  try {
    compile('rules:\n  - id: a\n    effect: allow\n   tools: [x]\n', 'p.yaml');
    assert.fail('expected a PolicyError');
  } catch (err) {
    assert.ok(err instanceof PolicyError);
    assert.deepEqual(
      err.issues.map((i) => `${i.file}:${i.line}:${i.column}: ${i.message}`),
      ['p.yaml:4:4: sequence item without - indicator'],
    );
  }
});
