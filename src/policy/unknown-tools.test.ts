import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from './compile.ts';
import { unknownToolWarnings } from './unknown-tools.ts';

const POLICY = `rules:
  - id: typo
    effect: allow
    tools: ['githb__create_issue']
  - id: gone
    effect: deny
    tools: ['jira__*']
  - id: fine
    effect: allow
    tools: ['github__create_issue', 'github__list_*', '*']
  - id: flat
    effect: allow
    tools: ['create_issue']
`;

test('rules naming tools of unknown servers are warnings with the rule id and line', () => {
  const p = compile(POLICY, 'policy.yaml');
  const w = unknownToolWarnings(p, { servers: new Set(['github']), separator: '__' });
  assert.deepEqual(
    w.map((x) => [x.rule, x.at, x.pattern]),
    [
      ['typo', 'policy.yaml:2', 'githb__create_issue'],
      ['gone', 'policy.yaml:5', 'jira__*'],
      ['flat', 'policy.yaml:11', 'create_issue'],
    ],
  );
  assert.match(w[0].message, /rule `typo` names tool `githb__create_issue`, but no server `githb` is configured/);
});

test('once the catalogue is known, tools a server does not have are warnings too', () => {
  const p = compile(POLICY, 'policy.yaml');
  const w = unknownToolWarnings(p, {
    servers: new Set(['github', 'jira']),
    tools: new Set(['github__list_repos', 'jira__search']),
    separator: '__',
  });
  assert.deepEqual(
    w.map((x) => [x.rule, x.pattern]),
    [
      ['typo', 'githb__create_issue'],
      ['fine', 'github__create_issue'],
      ['flat', 'create_issue'],
    ],
  );
  assert.match(
    w[1].message,
    /server `github` has listed no tool `create_issue`; a warning, not an error: it may not be discovered yet/,
  );
});

test('a resource rule naming an unknown server is a warning at its own line', () => {
  const p = compile(
    `resources:
  - tool: 'github__*'
    resource: { kind: repo, arg: repo }
  - tool: 'filez__*'
    resource: { kind: path, arg: path }
rules: []
`,
    'policy.yaml',
  );
  const w = unknownToolWarnings(p, { servers: new Set(['github']), separator: '__' });
  assert.deepEqual(
    w.map((x) => [x.rule, x.at, x.pattern]),
    [['resources', 'policy.yaml:4', 'filez__*']],
  );
});

test('a server or tool mode naming nothing configured is a warning at its own line, like a rule', () => {
  const p = compile(
    `modes:
  tenants: { anyone: shadow }
  servers:
    github: read_only
    nosuch: disabled
  tools:
    githb__create_issue: disabled
    github__delete_repo: disabled
rules: []
`,
    'policy.yaml',
  );
  const w = unknownToolWarnings(p, { servers: new Set(['github']), separator: '__' });
  assert.deepEqual(
    w.map((x) => [x.rule, x.at, x.pattern]),
    [
      ['modes', 'policy.yaml:5', 'nosuch'],
      ['modes', 'policy.yaml:7', 'githb__create_issue'],
    ],
  );
  assert.match(w[0].message, /the mode for server `nosuch` switches nothing: no server `nosuch` is configured/);
  const listed = unknownToolWarnings(p, {
    servers: new Set(['github', 'nosuch', 'githb']),
    tools: new Set(['github__list_repos']),
    separator: '__',
  });
  assert.deepEqual(
    listed.map((x) => x.message),
    // `githb` lists nothing yet: its tools are not checked.
    [
      'the mode for tool `github__delete_repo` switches nothing: server `github` has listed no tool `delete_repo`; a warning, not an error: it may not be discovered yet',
    ],
  );
});

test('a tool its server has not listed is a warning at its line with the nearest listed tool; a server without an inventory is not checked', () => {
  const p = compile(
    `rules:
  - id: typo
    effect: allow
    tools: [everything__ehco, everything__echo, fresh__anything, everything__*]
  - id: server
    effect: allow
    tools: [everythng__echo, everythng__*]
modes:
  servers: { everythng: disabled }
`,
    'policy.yaml',
  );
  const w = unknownToolWarnings(p, {
    servers: new Set(['everything', 'fresh']),
    tools: new Set(['everything__echo', 'everything__add']),
    separator: '__',
  });
  assert.deepEqual(
    w.map((x) => [x.at, x.message]),
    [
      [
        'policy.yaml:2',
        'rule `typo` names tool `everything__ehco`, but server `everything` has listed no tool `ehco` (did you mean `everything__echo`?); a warning, not an error: it may not be discovered yet',
      ],
      [
        'policy.yaml:5',
        'rule `server` names tool `everythng__echo`, but no server `everythng` is configured (did you mean `everything`?)',
      ],
      [
        'policy.yaml:5',
        'rule `server` names tool `everythng__*`, but no server `everythng` is configured (did you mean `everything`?)',
      ],
      [
        'policy.yaml:9',
        'the mode for server `everythng` switches nothing: no server `everythng` is configured (did you mean `everything`?)',
      ],
    ],
  );
});
