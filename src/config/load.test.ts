import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ConfigError, loadConfig, parseConfig } from './load.ts';
import { starterConfig } from './starter.ts';
import { renderSchema } from './json-schema.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'config');

/** The error lines for a fixture, named by its file name alone so the golden lines read as written. */
function fixtureErrors(name: string, env: NodeJS.ProcessEnv = {}): string[] {
  return errors(readFileSync(join(FIXTURES, name), 'utf8'), name, env);
}

function errors(text: string, source = 'g.yaml', env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, source, env);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.name, 'ConfigError');
    assert.deepEqual(
      e.message.split('\n'),
      e.issues.map((i) => `${i.file}:${i.line}:${i.column}: ${i.path ? `${i.path}: ` : ''}${i.message}`),
    );
    return e.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

test('the committed JSON Schema is what the generator writes from the TypeBox source (npm run schema)', () => {
  assert.equal(readFileSync(join(ROOT, 'schema', 'gatehouse.schema.json'), 'utf8'), renderSchema());
});

test('the starter config parses, with the everything server over stdio', () => {
  const c = parseConfig(starterConfig(), '/srv/gh/gatehouse.yaml', {});
  assert.deepEqual(
    c.servers.map((s) => [s.name, s.transport, 'command' in s ? s.command : '', 'args' in s ? s.args : []]),
    [['everything', 'stdio', 'npx', ['--no', 'mcp-server-everything', 'stdio']]],
  );
  assert.equal(c.gateway.stateDir, '/srv/gh/.gatehouse');
  assert.equal(c.storage.sqlitePath, '/srv/gh/.gatehouse/gatehouse.db');
});

test('the quickstart parses: state at the repository root, the served folder under tmp/, servers run from the root', async () => {
  const c = await loadConfig(join(ROOT, 'examples', 'quickstart.yaml'), {});
  assert.equal(c.source, join(ROOT, 'examples', 'quickstart.yaml'));
  assert.deepEqual(c.gateway.listen, { host: '127.0.0.1', port: 8765 });
  assert.equal(c.gateway.stateDir, join(ROOT, '.gatehouse'));
  assert.deepEqual(
    c.servers.map((s) => [s.name, s.transport === 'stdio' && [s.command, ...s.args!, s.cwd]]),
    [
      ['everything', ['npx', '--no', 'mcp-server-everything', 'stdio', ROOT]],
      ['files', ['npx', '--no', 'mcp-server-filesystem', `${join(ROOT, 'examples')}/../tmp/quickstart-files`, ROOT]],
    ],
  );
});

test('golden: the full fixture, every option set, loads to exactly this', async () => {
  const env = {
    DATABASE_URL: 'postgres://gh@127.0.0.1:5432/gh',
    LOCAL_TOKEN: 'local-secret',
    REMOTE_TOKEN: 'remote-secret',
    // The gateway's own (a server given it is refused): not the variable its servers are given.
    VAULT_SECRET_ID: 'vault-secret-id',
  };
  const c = await loadConfig(join(FIXTURES, 'full.yaml'), env);
  const state = join(FIXTURES, 'state');
  assert.deepEqual(c, {
    source: join(FIXTURES, 'full.yaml'),
    gateway: {
      listen: { host: '0.0.0.0', port: 9000 },
      publicUrl: 'https://mcp.example.com',
      stateDir: state,
      allowedOrigins: ['https://app.example.com'],
      allowedHosts: ['mcp.internal'],
      namespaceSeparator: '.',
      maxBodyBytes: 1048576,
      maxJsonDepth: 32,
      sessionIdleSeconds: 600,
      pageSize: 50,
      allowUnauthenticated: 'never',
      trustedProxies: [],
      maxSessionsPerPrincipal: 100,
      maxSessionsPerTenant: 1000,
      maxUpstreamBufferedBytes: 134217728,
      maxHeldCallsPerPrincipal: 20,
      maxHeldCallsPerTenant: 200,
      maxListenStreamsPerPrincipal: 10,
      maxListenStreamsPerTenant: 1000,
    },
    storage: {
      driver: 'postgres',
      sqlitePath: '/var/lib/gatehouse/unused.db',
      postgresUrl: 'postgres://gh@127.0.0.1:5432/gh',
      queryTimeoutMs: 20000,
    },
    inventory: { newTools: 'accept' },
    approvals: { ttlSeconds: 3600, waitSeconds: 0, maxPendingPerPrincipal: 5, maxPendingPerTenant: 100 },
    secrets: {
      cacheTtlSeconds: 30,
      vault: {
        address: 'https://vault.example.com:8200',
        auth: { method: 'approle', roleId: 'gatehouse', secretId: 'vault-secret-id' },
      },
    },
    audit: {
      arguments: 'shape',
      results: 'none',
      redact: { fields: ['email'], paths: ['$.arguments.card'] },
      retentionDays: 30,
      durability: 'power-loss',
      readWhenUnavailable: 'allow',
      exports: [{ name: 'siem', type: 'syslog', host: 'siem.internal', port: 6514, format: 'cef' }], // defaults inside a union are filled where used
    },
    servers: [
      {
        name: 'local',
        description: 'A stdio server with everything set.',
        owner: 'platform-team',
        repository: 'https://github.com/example/local-mcp',
        location: 'build-host-1',
        environment: 'prod',
        scopes: ['repo:read', 'issues:write'],
        resources: ['example/widgets', '/srv/data'],
        credentials: { env: { GITHUB_TOKEN: 'vault://secret/mcp/{tenant}/github#token' }, discoveryTenant: 'acme' },
        tools: {
          read_widget: { class: 'READ' },
          drop_widget: { class: 'DESTRUCTIVE', note: 'deletes the row for good' },
        },
        transport: 'stdio',
        command: 'node',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: `${...}` is the config's reference syntax under test
        args: ['server.js', '--root', `${state}/files`, '${NOT_A_REFERENCE}'],
        env: { API_TOKEN: 'local-secret', MODE: 'production' },
        cwd: join(FIXTURES, 'servers', 'local'),
        inheritEnv: ['PATH'],
        timeouts: { connectMs: 5000, requestMs: 30000, maxTotalMs: 120000 },
        messages: { maxBytes: 8388608, maxNotificationBytes: 65536 },
        restart: { initialDelayMs: 100, maxDelayMs: 5000 },
        sandbox: { network: 'none' },
        disabled: true,
        era: 'auto',
      },
      {
        name: 'remote',
        transport: 'http',
        url: 'https://mcp.example.com/mcp',
        headers: { Authorization: 'Bearer remote-secret' },
        timeouts: { connectMs: 15000, requestMs: 60000, maxTotalMs: 300000 },
        disabled: false,
        era: 'auto',
      },
      {
        name: 'legacy',
        transport: 'sse',
        url: 'http://127.0.0.1:3001/sse',
        headers: {},
        timeouts: { connectMs: 15000, requestMs: 60000, maxTotalMs: 300000 },
        disabled: false,
        era: 'auto',
      },
    ],
  });
  // An unquoted reference that yields a number is one; the environment wins over the default.
  assert.equal((await loadConfig(join(FIXTURES, 'full.yaml'), { ...env, PORT: '8080' })).gateway.listen.port, 8080);
  assert.equal(
    (await loadConfig(join(FIXTURES, 'full.yaml'), { ...env, PORT: '' })).gateway.listen.port,
    9000,
    'empty counts as unset for `:-`',
  );
});

test('defaults: a minimal file gets every default, paths absolute against the config directory', () => {
  const c = parseConfig(
    'version: 1\nservers:\n  - { name: a, transport: stdio, command: x, cwd: sub }\n',
    '/etc/gh/g.yaml',
    {},
  );
  assert.deepEqual(c, {
    source: '/etc/gh/g.yaml',
    gateway: {
      listen: { host: '127.0.0.1', port: 8765 },
      stateDir: '/etc/gh/.gatehouse',
      allowedOrigins: [],
      allowedHosts: [],
      namespaceSeparator: '__',
      maxBodyBytes: 4 * 1024 * 1024,
      maxJsonDepth: 64,
      sessionIdleSeconds: 3600,
      pageSize: 500,
      allowUnauthenticated: 'loopback',
      trustedProxies: [],
      maxSessionsPerPrincipal: 100,
      maxSessionsPerTenant: 1000,
      maxUpstreamBufferedBytes: 268435456,
      maxHeldCallsPerPrincipal: 20,
      maxHeldCallsPerTenant: 200,
      maxListenStreamsPerPrincipal: 10,
      maxListenStreamsPerTenant: 1000,
    },
    storage: { driver: 'sqlite', sqlitePath: '/etc/gh/.gatehouse/gatehouse.db', queryTimeoutMs: 30000 },
    inventory: { newTools: 'quarantine' },
    secrets: { cacheTtlSeconds: 60 },
    approvals: { ttlSeconds: 3600, waitSeconds: 0, maxPendingPerPrincipal: 5, maxPendingPerTenant: 100 },
    audit: {
      arguments: 'redacted',
      results: 'shape',
      redact: { fields: [], paths: [] },
      retentionDays: 365,
      durability: 'process-crash',
      readWhenUnavailable: 'refuse',
      exports: [],
    },
    servers: [
      {
        name: 'a',
        transport: 'stdio',
        command: 'x',
        cwd: '/etc/gh/sub',
        args: [],
        env: {},
        inheritEnv: ['PATH', 'HOME', 'LANG', 'TMPDIR', 'NODE_OPTIONS'],
        restart: { initialDelayMs: 500, maxDelayMs: 30000 },
        timeouts: { connectMs: 15000, requestMs: 60000, maxTotalMs: 300000 },
        disabled: false,
        era: 'auto',
      },
    ],
  });
  assert.deepEqual(parseConfig('version: 1\n', '/etc/gh/g.yaml', {}).servers, []);
});

test('references: GATEHOUSE_STATE_DIR and GATEHOUSE_CONFIG_DIR are defined unless the environment sets them', () => {
  const text =
    // biome-ignore lint/suspicious/noTemplateCurlyInString: `${...}` is the config's reference syntax under test
    'version: 1\ngateway: { stateDir: "${GATEHOUSE_CONFIG_DIR}/../state" }\nservers:\n  - { name: a, transport: stdio, command: x, args: ["${GATEHOUSE_STATE_DIR}", "${GATEHOUSE_CONFIG_DIR}"] }\n';
  const c = parseConfig(text, '/etc/gh/g.yaml', {});
  assert.equal(c.gateway.stateDir, '/etc/state');
  assert.deepEqual((c.servers[0] as { args: string[] }).args, ['/etc/state', '/etc/gh']);
  const own = parseConfig(text, '/etc/gh/g.yaml', { GATEHOUSE_STATE_DIR: '/mine', GATEHOUSE_CONFIG_DIR: '/conf' });
  assert.deepEqual((own.servers[0] as { args: string[] }).args, ['/mine', '/conf']);
});

test('golden errors: a YAML syntax error points at its line', () => {
  assert.deepEqual(fixtureErrors('syntax-error.yaml'), [
    'syntax-error.yaml:6:5: flow sequence in block collection must be sufficiently indented and end with a ]',
  ]);
  assert.deepEqual(errors('version: 1\n---\nversion: 1\n'), [
    'g.yaml:2:1: only one YAML document is allowed (found a second `---`)',
  ]);
});

test('a line indented too far or too short is pointed at where its text starts, not at column 1 (operator walk)', () => {
  const text = 'version: 1\ngateway:\n  listen:\n    port: 1\n   host: x\nservers: []\n';
  assert.deepEqual(errors(text), ['g.yaml:5:4: all mapping items must start at the same column']);
  const deeper = 'version: 1\nservers:\n  - name: a\n    transport: stdio\n     command: x\n';
  assert.deepEqual(errors(deeper), [
    'g.yaml:5:6: this line is indented further than `transport` above it, so it reads as part of that value: line it up with the keys beside it',
  ]);
});

test('golden errors: unknown keys, with the closest known key when one is near', () => {
  assert.deepEqual(fixtureErrors('unknown-key.yaml'), [
    'unknown-key.yaml:4:3: gateway: unknown key `maxBodySize` (did you mean `maxBodyBytes`?)',
    'unknown-key.yaml:8:5: servers[0]: unknown key `comand` (did you mean `command`?)',
    'unknown-key.yaml:10:5: servers[0]: unknown key `colour`',
  ]);
});

test('golden errors: wrong types', () => {
  assert.deepEqual(fixtureErrors('wrong-type.yaml'), [
    'wrong-type.yaml:4:11: gateway.listen.port: must be an integer',
    'wrong-type.yaml:5:13: gateway.pageSize: must be an integer',
    'wrong-type.yaml:10:11: servers[0].args: must be a list',
    'wrong-type.yaml:11:15: servers[0].disabled: must be `true` or `false`',
  ]);
});

test('a reference inside a flow mapping: the syntax error says how to write it', () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's own reference syntax
  const [e] = errors('version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: ${PORT:-8771} }\nservers: []\n');
  assert.match(
    e,
    /^g\.yaml:3:\d+: .*a `\$\{\.\.\.\}` reference cannot stand unquoted inside `\{ \}`: quote it .* or write this mapping one key per line/,
  );
});

test('a mapping given a scalar says which keys it takes', () => {
  assert.deepEqual(
    errors('version: 1\nservers:\n  - name: e\n    transport: stdio\n    command: x\n    contact: a@example.com\n'),
    ['g.yaml:6:14: servers[0].contact: must be a mapping with `email`, `webhook`'],
  );
});

test('a value one of several shapes may take: the shape it has is checked, or one line names every shape', () => {
  const server = (network: string) =>
    `version: 1\nservers:\n  - name: e\n    transport: stdio\n    command: x\n    sandbox:\n      network: ${network}\n`;
  // A mapping: only the mapping branch speaks, about its member.
  assert.deepEqual(errors(server('{ allow: [5] }')), [
    'g.yaml:7:26: servers[0].sandbox.network.allow[0]: must be a string',
  ]);
  // No branch's shape: one line with every shape, not one complaint per branch.
  assert.deepEqual(errors(server('maybe')), [
    'g.yaml:7:16: servers[0].sandbox.network: must be `none`, `host` or a mapping with `allow`, `allowLoopback`',
  ]);
  assert.deepEqual(errors(server('5')), [
    'g.yaml:7:16: servers[0].sandbox.network: must be `none`, `host` or a mapping with `allow`, `allowLoopback`',
  ]);
});

test('golden errors: values outside a fixed set', () => {
  assert.deepEqual(fixtureErrors('bad-enum.yaml'), [
    'bad-enum.yaml:3:25: gateway.allowUnauthenticated: must be one of `loopback`, `never`',
    'bad-enum.yaml:5:11: storage.driver: must be one of `sqlite`, `postgres`',
    'bad-enum.yaml:11:16: servers[1].transport: must be one of `stdio`, `http`, `sse`',
  ]);
});

test('golden errors: a missing environment variable is reported where it is used, and nothing else there', () => {
  assert.deepEqual(fixtureErrors('missing-env.yaml', { TEAM: 'x' }), [
    // biome-ignore lint/suspicious/noTemplateCurlyInString: `${...}` is the config's reference syntax under test
    'missing-env.yaml:4:16: storage.postgresUrl: environment variable `DATABASE_URL` is not set (use `${DATABASE_URL:-default}` for a default)',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: `${...}` is the config's reference syntax under test
    'missing-env.yaml:10:22: servers[0].headers.Authorization: environment variable `REMOTE_TOKEN` is not set (use `${REMOTE_TOKEN:-default}` for a default)',
  ]);
});

test("an unset variable inside a union (vault auth) is the one error there: not every other auth method's complaints after it (operator walk)", () => {
  const text = [
    'version: 1',
    'secrets:',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: `${...}` is the config's reference syntax under test
    '  vault: { address: "https://vault.internal:8200", auth: { method: approle, roleId: gatehouse, secretId: "${VAULT_SECRET_ID}" } }',
    'servers:',
    '  - { name: s, transport: stdio, command: x }',
    '',
  ].join('\n');
  assert.deepEqual(errors(text), [
    // biome-ignore lint/suspicious/noTemplateCurlyInString: `${...}` is the config's reference syntax under test
    'g.yaml:3:106: secrets.vault.auth.secretId: environment variable `VAULT_SECRET_ID` is not set (use `${VAULT_SECRET_ID:-default}` for a default)',
  ]);
  // Set, it loads; a wrong method beside a set variable is still said.
  assert.doesNotThrow(() => parseConfig(text, 'g.yaml', { VAULT_SECRET_ID: 'x' }));
  assert.ok(errors(text.replace('approle', 'aprole'), 'g.yaml', { VAULT_SECRET_ID: 'x' }).length > 0);
});

test('golden errors: duplicate server names and duplicate YAML keys', () => {
  assert.deepEqual(fixtureErrors('duplicate-server.yaml'), [
    'duplicate-server.yaml:10:11: servers[2].name: duplicate server name (first used by servers[0] at line 3)',
  ]);
  assert.deepEqual(fixtureErrors('duplicate-key.yaml'), [
    'duplicate-key.yaml:6:5: gateway.listen: duplicate key `port` (first at line 4)',
  ]);
});

test('golden errors: limits that must agree, and postgres without a URL', () => {
  assert.deepEqual(fixtureErrors('limits.yaml'), [
    'limits.yaml:2:20: storage.driver: the `postgres` driver needs `postgresUrl`',
    'limits.yaml:7:47: servers[0].timeouts.maxTotalMs: must not be smaller than `requestMs`',
    'limits.yaml:10:19: servers[0].restart.maxDelayMs: must not be smaller than `initialDelayMs`',
    'limits.yaml:15:18: servers[1].timeouts.requestMs: must not be larger than `maxTotalMs` (default 300000)',
  ]);
});

test("the request budget holds twice the largest body (a tenant's half holds one), or the file is refused there", () => {
  const yaml = (gateway: string) => `version: 1\ngateway:\n${gateway}servers: []\n`;
  assert.deepEqual(errors(yaml('  maxBufferedRequestBytes: 4194304\n')), [
    "g.yaml:3:28: gateway.maxBufferedRequestBytes: must be at least twice `maxBodyBytes` (8388608): a tenant's requests hold at most half of it",
  ]);
  const set = parseConfig(yaml('  maxBodyBytes: 65536\n  maxBufferedRequestBytes: 131072\n'), 'g.yaml', {});
  assert.equal(set.gateway.maxBufferedRequestBytes, 131072);
  const cfg = parseConfig(yaml('  maxBodyBytes: 65536\n'), 'g.yaml', {});
  assert.equal(cfg.gateway.maxBufferedRequestBytes, undefined, 'no default in the file: the gateway derives it');
});

test('golden errors: limit rules that share an id, limit nothing or match no tool', () => {
  assert.deepEqual(fixtureErrors('limit-rules.yaml'), [
    'limit-rules.yaml:5:13: limits.rules[1].id: duplicate limit rule id (first used by limits.rules[0] at line 4)',
    'limit-rules.yaml:6:7: limits.rules[2]: a limit rule needs `rate`, `concurrency` or both',
    'limit-rules.yaml:8:43: limits.rules[3].tools: must not be an empty list',
    'limit-rules.yaml:9:67: limits.rules[4].rate.perSeconds: must be at most 31536000',
  ]);
});

test('golden errors: a URL with a user name or password, named by key and never echoed', () => {
  const got = fixtureErrors('url-credentials.yaml');
  assert.deepEqual(got, [
    'url-credentials.yaml:6:10: servers[1].url: must not carry a user name or password: put the credential in `headers:` (for a server, `credentials.headers` with a secret reference), where it is never logged',
    'url-credentials.yaml:9:38: audit.exports[0].url: must not carry a user name or password: put the credential in `headers:` (for a server, `credentials.headers` with a secret reference), where it is never logged',
  ]);
  assert.ok(!got.join('\n').includes('hunter2-CANARY'));
});

test('golden errors: identity that would accept forgeable or interceptable tokens', () => {
  assert.deepEqual(fixtureErrors('identity.yaml'), [
    'identity.yaml:5:15: identity.issuers[0].issuer: must be https (plain http only on a loopback address)',
    'identity.yaml:6:20: identity.issuers[0].algorithms[0]: must be one of `RS256`, `RS384`, `RS512`, `PS256`, `PS384`, `PS512`, `ES256`, `ES384`, `ES512`, `EdDSA`',
    'identity.yaml:6:27: identity.issuers[0].algorithms[1]: must be one of `RS256`, `RS384`, `RS512`, `PS256`, `PS384`, `PS512`, `ES256`, `ES384`, `ES512`, `EdDSA`',
    'identity.yaml:7:27: identity.requiredScopes.mcp[0]: a scope is printable ASCII without spaces, quotes or backslashes (RFC 6749)',
    'identity.yaml:8:18: identity.introspection: missing required key `clientSecret`',
    'identity.yaml:8:25: identity.introspection.url: must be https (plain http only on a loopback address)',
  ]);
});

test('token lifetime limits: whole seconds from 1 to a year, for identity and per issuer, refused with the line', () => {
  const yaml = (top: string, issuer: string) =>
    `version: 1\nidentity:\n  resource: https://gw.example.com/mcp\n${top}  issuers:\n    - issuer: https://idp.example.com\n${issuer}servers: []\n`;
  assert.deepEqual(errors(yaml('  maxTokenLifetimeSec: 0\n', '      maxTokenLifetimeSec: 31536001\n')), [
    'g.yaml:4:24: identity.maxTokenLifetimeSec: must be at least 1',
    'g.yaml:7:28: identity.issuers[0].maxTokenLifetimeSec: must be at most 31536000',
  ]);
  const set = parseConfig(yaml('  maxTokenLifetimeSec: 3600\n', '      maxTokenLifetimeSec: 600\n'), 'g.yaml', {});
  assert.deepEqual([set.identity?.maxTokenLifetimeSec, set.identity?.issuers[0].maxTokenLifetimeSec], [3600, 600]);
  const cfg = parseConfig(yaml('', ''), 'g.yaml', {});
  assert.equal(cfg.identity?.maxTokenLifetimeSec, 86_400, 'the default is a day');
});

test('issuers: with more than one, each is bound to its tenants, one way', () => {
  const yaml = (issuers: string) =>
    `version: 1\nidentity:\n  resource: https://gw.example.com/mcp\n  issuers:\n${issuers}servers: []\n`;
  const errors = (text: string) => {
    try {
      parseConfig(text, '/x/gatehouse.yaml', {});
      return [];
    } catch (err) {
      return (err as ConfigError).issues.map((i) => i.message);
    }
  };
  assert.deepEqual(
    errors(yaml('    - { issuer: "https://a.example.com" }\n')),
    [],
    'a single unbound issuer is the platform issuer',
  );
  assert.deepEqual(
    errors(yaml('    - { issuer: "https://a.example.com" }\n    - { issuer: "https://b.example.com", tenant: t2 }\n')),
    ['with more than one issuer, bind each to the tenants it speaks for: `tenant`, `tenants` or `platform: true`'],
  );
  assert.deepEqual(errors(yaml('    - { issuer: "https://a.example.com", tenant: t1, platform: true }\n')), [
    'bind the issuer one way: `tenant`, `tenants` or `platform: true`',
  ]);
  assert.deepEqual(
    errors(
      yaml(
        '    - { issuer: "https://a.example.com", tenants: [t1, t3] }\n    - { issuer: "https://b.example.com", platform: true }\n',
      ),
    ),
    [],
  );
});

test('approver subjects: with several issuers a bare subject is refused at its file and line; { issuer, subject } is taken', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-approver-subjects-'));
  try {
    const policy = (subjects: string) =>
      `rules:\n  - id: writes\n    effect: approve\n    classes: [WRITE]\n    approvers:\n      subjects: ${subjects}\n`;
    const config = (issuers: string) =>
      `version: 1\nidentity:\n  resource: https://gw.example.com/mcp\n  issuers:\n${issuers}servers: []\npolicy: { files: [p.yaml] }\n`;
    const two =
      '    - { issuer: "https://a.example.com", tenant: acme }\n    - { issuer: "https://b.example.com", tenant: acme }\n';
    const one = '    - { issuer: "https://a.example.com" }\n';
    const issues = (subjects: string, issuers: string) => {
      writeFileSync(join(dir, 'p.yaml'), policy(subjects));
      try {
        parseConfig(config(issuers), join(dir, 'gatehouse.yaml'));
      } catch (err) {
        assert.ok(err instanceof ConfigError, String(err));
        return err.issues.map((i) => `${relative(dir, i.file)}:${i.line}:${i.column}: ${i.path}: ${i.message}`);
      }
      return [];
    };
    assert.deepEqual(issues('[alice, { issuer: "https://a.example.com", subject: bob }]', two), [
      'p.yaml:6:18: rules[0].approvers.subjects[0]: a bare subject `alice` is ambiguous: identity names 2 issuers, whose subjects are separate namespaces; write `{ issuer, subject }`',
    ]);
    assert.deepEqual(
      issues('[{ issuer: "https://b.example.com", subject: alice }, { issuer: gatehouse, subject: alice }]', two),
      [],
    );
    assert.deepEqual(
      issues('[alice]', one),
      [],
      'one issuer: a bare subject is that issuer’s (or an API key’s person)',
    );
    assert.deepEqual(issues('[{ issuer: "", subject: alice, tenant: x }]', one), [
      'p.yaml:6:28: rules[0].approvers.subjects[0].issuer: must be a non-empty string',
      'p.yaml:6:48: rules[0].approvers.subjects[0].tenant: unknown key `tenant`; allowed: `issuer`, `subject`',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a service key as an approver is refused at its file and line, whoever it is written for; as a rule subject it stays', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-key-approvers-'));
  try {
    const issues = (policy: string) => {
      writeFileSync(join(dir, 'p.yaml'), policy);
      try {
        parseConfig('version: 1\nservers: []\npolicy: { files: [p.yaml] }\n', join(dir, 'gatehouse.yaml'));
      } catch (err) {
        assert.ok(err instanceof ConfigError, String(err));
        return err.issues.map((i) => `${relative(dir, i.file)}:${i.line}: ${i.path}: ${i.message}`);
      }
      return [];
    };
    const why =
      'is a service key, and a service key cannot approve (it stands for no person): name the people or roles who decide';
    const approve = (subjects: string) =>
      `rules:\n  - id: writes\n    effect: approve\n    classes: [WRITE]\n    approvers:\n      roles: [lead]\n      subjects:\n${subjects}`;
    assert.deepEqual(issues(approve('        - alice\n        - apikey:deploy-bot\n')), [
      `p.yaml:9: rules[0].approvers.subjects[1]: \`apikey:deploy-bot\` ${why}`,
    ]);
    assert.deepEqual(issues(approve('        - { issuer: gatehouse, subject: "apikey:ci" }\n')), [
      `p.yaml:8: rules[0].approvers.subjects[0]: \`apikey:ci\` ${why}`,
    ]);
    assert.deepEqual(issues(`defaults:\n  approvers:\n    subjects: [apikey:bot]\n`), [
      `p.yaml:3: defaults.approvers.subjects[0]: \`apikey:bot\` ${why}`,
    ]);
    // A rule's own `subjects` (who may call) may name a service key: keys call, they do not approve.
    assert.deepEqual(issues('rules:\n  - id: bot\n    effect: allow\n    subjects: { subjects: [apikey:bot] }\n'), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loadConfig names the file as it was given', async () => {
  const given = relative(process.cwd(), join(FIXTURES, 'duplicate-key.yaml'));
  await assert.rejects(loadConfig(given, {}), (e: ConfigError) => {
    assert.deepEqual(e.issues, [
      { file: given, line: 6, column: 5, path: 'gateway.listen', message: 'duplicate key `port` (first at line 4)' },
    ]);
    return true;
  });
});

test('errors of every kind come together, sorted by line', () => {
  const text = [
    'version: 2',
    'gateway:',
    '  pageSize: 0',
    'servers:',
    '  - name: Bad Name',
    '    transport: stdio',
    '    command: ""',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: `${...}` is the config's reference syntax under test
    '    env: { 1X: a, OK: "${NOPE}" }',
    '  - just a string',
    '  - { name: a__b, transport: http, url: "ftp://x" }',
    '  - { name: c, url: "http://127.0.0.1/mcp" }',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: `${...}` is the config's reference syntax under test
    '  - { name: d, transport: stdio, command: "${BROKEN" }',
    '',
  ].join('\n');
  assert.deepEqual(errors(text), [
    'g.yaml:1:10: version: must be `1`',
    'g.yaml:3:13: gateway.pageSize: must be at least 1',
    'g.yaml:5:11: servers[0].name: must be 1 to 48 lowercase letters, digits, `_` or `-`, starting with a letter or digit',
    'g.yaml:7:14: servers[0].command: must not be empty',
    'g.yaml:8:12: servers[0].env: `1X` is not a valid environment variable name',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: `${...}` is the config's reference syntax under test
    'g.yaml:8:23: servers[0].env.OK: environment variable `NOPE` is not set (use `${NOPE:-default}` for a default)',
    'g.yaml:9:5: servers[1]: must be a mapping',
    'g.yaml:10:13: servers[2].name: must not contain the namespace separator (`gateway.namespaceSeparator`)',
    'g.yaml:10:41: servers[2].url: must be an http(s) URL',
    'g.yaml:11:5: servers[3]: missing required key `transport` (one of `stdio`, `http`, `sse`)',
    'g.yaml:12:43: servers[4].command: malformed `${` reference (write `$${` for a literal `${`)',
  ]);
  assert.deepEqual(errors(''), ['g.yaml:1:1: must be a mapping with `version` and `servers`']);
});

test('values from the environment are never echoed in errors', () => {
  const secret = 'hunter2-secret';
  const text =
    // biome-ignore lint/suspicious/noTemplateCurlyInString: `${...}` is the config's reference syntax under test
    'version: 1\ngateway:\n  listen: { port: "${PORT}" }\nservers:\n  - name: "${NAME}"\n    transport: "${NAME}"\n  - { name: "${NAME}", transport: http, url: "${NAME}" }\n';
  const lines = errors(text, 'g.yaml', { PORT: secret, NAME: secret });
  assert.ok(lines.length >= 3, lines.join('\n'));
  for (const line of lines) assert.doesNotMatch(line, /hunter2/);
});

test('the generated validators are what the committed schema compiles to (`npm run schema` regenerates them)', async () => {
  const { validatorsSource } = await import('./validators-source.ts');
  const committed = readFileSync(join(ROOT, 'src', 'config', 'validators.generated.cjs'), 'utf8');
  const schema = JSON.parse(readFileSync(join(ROOT, 'schema', 'gatehouse.schema.json'), 'utf8'));
  assert.ok(
    committed === validatorsSource(schema),
    'src/config/validators.generated.cjs is stale: run `npm run schema`',
  );
});

test('a config or policy file that is not a small regular file is refused at its place, without reading it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-size-'));
  try {
    const big = join(dir, 'big.yaml');
    writeFileSync(big, `# ${'x'.repeat(9 * 1024 * 1024)}\nrules: []\n`);
    const base = 'version: 1\nservers: []\npolicy:\n  files:\n';
    const issues = (text: string) => {
      try {
        parseConfig(text, join(dir, 'gatehouse.yaml'));
      } catch (err) {
        assert.ok(err instanceof ConfigError, String(err));
        return err.issues.map((i) => `${i.line}: ${i.message}`);
      }
      return [];
    };
    assert.deepEqual(issues(`${base}    - /dev/zero\n`), [
      '5: cannot read `/dev/zero` (/dev/zero is not a regular file)',
    ]);
    assert.match(
      issues(`${base}    - big.yaml\n`).join(''),
      /^5: cannot read `big\.yaml` \(.*big\.yaml is larger than 8 MiB \(\d+ bytes\)/,
    );
    await assert.rejects(loadConfig('/dev/zero'), /\/dev\/zero is not a regular file/);
    await assert.rejects(loadConfig(big), /is larger than 8 MiB/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
