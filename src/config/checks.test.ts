/**
 * What `gatehouse config validate` finds beyond the schema's shapes, each at its file, line and key
 * (walk L): a misspelt required key with its suggestion.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ConfigError, parseConfig } from './load.ts';

function errors(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, 'g.yaml', env);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message.split('\n');
  }
  return [];
}

test('a misspelt `transport` is suggested, and the server is still checked as the variant it names', () => {
  assert.deepEqual(errors('version: 1\nservers:\n  - name: a\n    transprot: stdio\n    comand: npx\n'), [
    'g.yaml:4:5: servers[0]: unknown key `transprot` (did you mean `transport`?)',
    'g.yaml:5:5: servers[0]: unknown key `comand` (did you mean `command`?)',
  ]);
  assert.deepEqual(errors('version: 1\nservers:\n  - name: a\n    transprot: carrier-pigeon\n    command: npx\n'), [
    'g.yaml:4:5: servers[0]: unknown key `transprot` (did you mean `transport`? one of `stdio`, `http`, `sse`)',
  ]);
  assert.deepEqual(errors('version: 1\nservers:\n  - { name: a, command: npx }\n'), [
    'g.yaml:3:5: servers[0]: missing required key `transport` (one of `stdio`, `http`, `sse`)',
  ]);
  assert.deepEqual(errors('verison: 1\nservers: []\n'), [
    'g.yaml:1:1: unknown key `verison` (did you mean `version`?)',
  ]);
});

test('a redaction path the redactor cannot read is refused at its line, by the redactor’s own parser', () => {
  const config = (paths: string) => `version: 1\naudit:\n  redact:\n    paths:\n${paths}servers: []\n`;
  assert.deepEqual(errors(config('      - "$..[[[bad"\n      - arguments.email\n      - "$.items[*].card"\n')), [
    'g.yaml:5:9: audit.redact.paths[0]: not a redaction path: unclosed [ at 3 (paths look like `$.arguments.email`, `$..ssn`, `$.items[*].card`)',
    'g.yaml:6:9: audit.redact.paths[1]: not a redaction path: must start with $ (paths look like `$.arguments.email`, `$..ssn`, `$.items[*].card`)',
  ]);
  assert.deepEqual(errors(config('      - "$.arguments.email"\n      - "$..ssn"\n')), []);
});

const gateway = (lines: string) => `version: 1\ngateway:\n${lines}servers: []\n`;

test('the host to listen on is an IP address or a host name, refused at its line otherwise', () => {
  for (const host of ['127.0.0.1', '0.0.0.0', '::', '::1', 'localhost', 'gw.example.com', 'gw-1.internal.'])
    assert.deepEqual(errors(gateway(`  listen: { host: "${host}" }\n`)), [], host);
  const hostname =
    'must be an IP address (`0.0.0.0`, `::`) or a host name (letters, digits and `-` in dot-separated labels)';
  for (const host of ['not-a-host_name', '10.0.0.300', '-gw.example.com', 'a..b', 'gw example'])
    assert.deepEqual(
      errors(gateway(`  listen: { host: "${host}" }\n`)),
      [`g.yaml:3:19: gateway.listen.host: ${hostname}`],
      host,
    );
  assert.deepEqual(errors(gateway('  listen: { host: "[::1]" }\n')), [
    'g.yaml:3:19: gateway.listen.host: write an IPv6 address without its brackets (`::1`, `::`)',
  ]);
});

test('trusted proxies are IP addresses: a range or anything else is refused at its line, never echoed', () => {
  assert.deepEqual(
    errors(gateway('  trustedProxies: [10.0.0.10, "2001:db8::10", "::ffff:10.0.0.1", "fe80::1%eth0"]\n')),
    [],
  );
  const got = errors(
    gateway('  trustedProxies:\n    - Sup3rSecretPW\n    - 10.0.0.0/33\n    - 10.0.0.0/8\n    - 10.0.0.256\n'),
  );
  assert.deepEqual(got, [
    "g.yaml:4:7: gateway.trustedProxies[0]: must be a proxy's IPv4 or IPv6 address (`10.0.0.10`, `2001:db8::10`)",
    "g.yaml:5:7: gateway.trustedProxies[1]: a range is not matched (a proxy is listed by its address): list each proxy's IPv4 or IPv6 address",
    "g.yaml:6:7: gateway.trustedProxies[2]: a range is not matched (a proxy is listed by its address): list each proxy's IPv4 or IPv6 address",
    "g.yaml:7:7: gateway.trustedProxies[3]: must be a proxy's IPv4 or IPv6 address (`10.0.0.10`, `2001:db8::10`)",
  ]);
  assert.doesNotMatch(got.join('\n'), /Sup3rSecretPW/);
});

test('allowed origins are origins as browsers send them, each mistake said at its line', () => {
  const ok = [
    'https://gw.example.com',
    'https://gw.example.com/',
    'http://localhost:3000',
    'chrome-extension://abcdef',
  ];
  assert.deepEqual(errors(gateway(`  allowedOrigins: ${JSON.stringify(ok)}\n`)), []);
  const origin = 'an origin is `scheme://host[:port]`, as browsers send it in `Origin`';
  const bad = [
    'gw.example.com',
    'https://gw.example.com/app',
    'https://u:p@gw.example.com',
    'https://GW.example.com:443',
    '*',
  ];
  assert.deepEqual(errors(gateway(`  allowedOrigins:\n${bad.map((o) => `    - "${o}"\n`).join('')}`)), [
    `g.yaml:4:7: gateway.allowedOrigins[0]: must be an origin with its scheme (\`https://host[:port]\`): ${origin}`,
    `g.yaml:5:7: gateway.allowedOrigins[1]: must not have a path, query or fragment: ${origin}`,
    `g.yaml:6:7: gateway.allowedOrigins[2]: must not carry a user name or password: ${origin}`,
    `g.yaml:7:7: gateway.allowedOrigins[3]: would never match: browsers send an origin lowercase and without its scheme's default port (${origin})`,
    `g.yaml:8:7: gateway.allowedOrigins[4]: a wildcard is not matched: list each origin (${origin})`,
  ]);
});

test('allowed hosts are Host header values (host[:port]), a URL or a path refused at its line (walk N)', () => {
  const ok = ['mcp.example.com', 'mcp.example.com:8443', '10.0.0.5:8765', '[2001:db8::1]:8765', '[::1]'];
  assert.deepEqual(errors(gateway(`  allowedHosts: ${JSON.stringify(ok)}\n`)), []);
  const form =
    'an allowed host is `host[:port]` as clients send it in `Host` (`mcp.example.com`, `mcp.example.com:8443`, `[2001:db8::1]:8765`)';
  const bad = [
    'https://mcp.example.com',
    'mcp.example.com/mcp',
    'mcp.example.com:99999',
    '2001:db8::1',
    'mcp_x.example',
  ];
  assert.deepEqual(errors(gateway(`  allowedHosts:\n${bad.map((o) => `    - "${o}"\n`).join('')}`)), [
    `g.yaml:4:7: gateway.allowedHosts[0]: must not have a scheme: ${form}`,
    `g.yaml:5:7: gateway.allowedHosts[1]: must not have a path, user info or spaces: ${form}`,
    `g.yaml:6:7: gateway.allowedHosts[2]: the port must be 1 to 65535: ${form}`,
    `g.yaml:7:7: gateway.allowedHosts[3]: write an IPv6 address in brackets: ${form}`,
    `g.yaml:8:7: gateway.allowedHosts[4]: must be a host name or an IP address: ${form}`,
  ]);
});

test('an egress allowlist entry the proxy could only refuse is refused at its line, and a malformed one says the form (walk N)', () => {
  const server = (allow: string[]) =>
    `version: 1\ngateway: { listen: { host: 127.0.0.1, port: 8765 } }\nservers:\n  - name: s\n    transport: stdio\n    command: x\n    sandbox:\n      network:\n        allow:\n${allow.map((a) => `          - "${a}"\n`).join('')}`;
  assert.deepEqual(
    errors(server(['api.example.com:443', 'api.example.com.:443', '[2001:db8::1]:443', '10.0.0.5:5432'])),
    [],
  );
  const form = 'must be `host:port`, `[v6]:port` or `*.domain:port` (a port from 1 to 65535)';
  const metadata =
    "is a cloud metadata address, which the egress proxy never connects to (it hands out the host's cloud credentials)";
  const own =
    "names the gateway's own listener (`gateway.listen`): the egress proxy never connects a sandboxed server to the gateway, whose callers from this machine hold the admin API until identity is configured";
  const at = (j: number, message: string) => `g.yaml:${10 + j}:13: servers[0].sandbox.network.allow[${j}]: ${message}`;
  assert.deepEqual(
    errors(
      server([
        '169.254.169.254:80',
        '[fd00:ec2::254]:80',
        '0xa9fea9fe:80',
        'localhost.:8765',
        'https://api.example.com',
        'api.example.com:0',
      ]),
    ),
    [at(0, metadata), at(1, metadata), at(2, metadata), at(3, own), at(4, form), at(5, form)],
  );
});

test('a stdio server is never handed the gateway’s own secrets: inheritEnv, env and args refused at their line, never echoed (walk N)', () => {
  const ref = (name: string) => `\${${name}}`;
  const text = [
    'version: 1',
    `storage: { driver: postgres, postgresUrl: "${ref('DATABASE_URL')}" }`,
    `gateway: { metricsToken: "${ref('METRICS_TOKEN')}" }`,
    'servers:',
    '  - name: boxed',
    '    transport: stdio',
    '    command: x',
    '    sandbox: {}',
    '    inheritEnv: [PATH, GATEHOUSE_SECRETS_KEY, DATABASE_URL]',
    '  - name: open',
    '    transport: stdio',
    '    command: x',
    `    args: ["${ref('GATEHOUSE_CONFIG_DIR')}/s.js", "--token=${ref('METRICS_TOKEN')}"]`,
    `    env: { A: "${ref('GATEHOUSE_CREDENTIAL')}", B: "${ref('HOME')}", C: "$${ref('GATEHOUSE_X')}" }`,
    '  - name: remote',
    '    transport: http',
    '    url: https://mcp.example.com/mcp',
    '    credentials: { headers: { X-Key: { ref: "env:GATEHOUSE_SECRETS_KEY" }, X-Ok: "env:UPSTREAM_KEY" } }',
    '',
  ].join('\n');
  const env = {
    DATABASE_URL: 'postgres://u:pw-CANARY@db/g',
    METRICS_TOKEN: 'metrics-token-CANARY',
    GATEHOUSE_CREDENTIAL: 'cli-CANARY',
    HOME: '/home/u',
  };
  const why =
    ' that no server may be handed: a server can print what it is given, and its output reaches callers and logs';
  const gatewayOwn = (name: string) =>
    `\`${name}\` is the gateway's own (every \`GATEHOUSE_*\` variable is: the secrets key among them)${why}`;
  const configOwn = (name: string) =>
    `\`${name}\` holds one of the gateway's own secrets (the config reads it for its own use)${why}`;
  const found = errors(text, env);
  assert.deepEqual(found, [
    `g.yaml:9:24: servers[0].inheritEnv[1]: ${gatewayOwn('GATEHOUSE_SECRETS_KEY')}`,
    `g.yaml:9:47: servers[0].inheritEnv[2]: ${configOwn('DATABASE_URL')}`,
    `g.yaml:13:44: servers[1].args[1]: ${configOwn('METRICS_TOKEN')}`,
    `g.yaml:14:15: servers[1].env.A: ${gatewayOwn('GATEHOUSE_CREDENTIAL')}`,
    `g.yaml:18:38: servers[2].credentials.headers.X-Key: ${gatewayOwn('GATEHOUSE_SECRETS_KEY')}`,
  ]);
  assert.ok(!found.join('\n').includes('CANARY'), 'no value is echoed');
});

test('nor through an HTTP upstream’s own headers or an exec: command that reads them (walk O)', () => {
  const ref = (name: string) => `\${${name}}`;
  const text = [
    'version: 1',
    `storage: { driver: postgres, postgresUrl: "${ref('DATABASE_URL')}" }`,
    'servers:',
    '  - name: remote',
    '    transport: http',
    '    url: https://mcp.example.com/mcp',
    `    headers: { X-K: "${ref('GATEHOUSE_SECRETS_KEY')}", X-Db: "${ref('DATABASE_URL')}", X-Ok: "${ref('UPSTREAM_KEY')}" }`,
    '    credentials:',
    '      headers:',
    '        X-A: "exec:printenv GATEHOUSE_SECRETS_KEY"',
    '        X-B: "exec:cat /var/lib/gatehouse/secrets.key"',
    '        X-C: "exec:vault-read upstream-key"',
    '',
  ].join('\n');
  const env = { DATABASE_URL: 'postgres://u:pw-CANARY@db/g', GATEHOUSE_SECRETS_KEY: 'key-CANARY', UPSTREAM_KEY: 'k' };
  const why =
    ' that no server may be handed: a server can print what it is given, and its output reaches callers and logs';
  const found = errors(text, env);
  assert.deepEqual(found, [
    `g.yaml:7:21: servers[0].headers.X-K: \`GATEHOUSE_SECRETS_KEY\` is the gateway's own (every \`GATEHOUSE_*\` variable is: the secrets key among them)${why}`,
    `g.yaml:7:55: servers[0].headers.X-Db: \`DATABASE_URL\` holds one of the gateway's own secrets (the config reads it for its own use)${why}`,
    `g.yaml:10:14: servers[0].credentials.headers.X-A: an \`exec:\` command that reads \`GATEHOUSE_SECRETS_KEY\`, a secret of the gateway's own${why}`,
    `g.yaml:11:14: servers[0].credentials.headers.X-B: an \`exec:\` command that reads the gateway's secrets key file, a secret of the gateway's own${why}`,
  ]);
  assert.ok(!found.join('\n').includes('CANARY'), 'no value is echoed');
});

test('what a server could never start with is refused at load, at its line: a sandbox path in the state directory, a header value with a line break (walk N)', () => {
  const ref = (name: string) => `\${${name}}`;
  const text = [
    'version: 1',
    'gateway: { stateDir: /srv/gh-state }',
    'servers:',
    '  - name: boxed',
    '    transport: stdio',
    '    command: x',
    '    cwd: /srv/gh-state/work',
    `    sandbox: { paths: { read: ["${ref('GATEHOUSE_STATE_DIR')}/x", /srv/data], write: ["/srv/gh-state/{tenant}"] } }`,
    '  - name: remote',
    '    transport: http',
    '    url: https://mcp.example.com/mcp',
    `    headers: { X-Team: "${ref('TEAM')}", X-Ok: plain, "bad name": v }`,
    '',
  ].join('\n');
  const kept = 'is in the state directory, which sandboxed servers never see: choose a folder elsewhere';
  const found = errors(text, { TEAM: 'a\r\nX-Injected: 1-CANARY' });
  assert.deepEqual(found, [
    `g.yaml:7:10: servers[0].cwd: ${kept}`,
    `g.yaml:8:32: servers[0].sandbox.paths.read[0]: ${kept}`,
    `g.yaml:8:80: servers[0].sandbox.paths.write[0]: ${kept}`,
    'g.yaml:12:24: servers[1].headers.X-Team: a header value cannot hold a line break, a NUL or another control character (the HTTP client refuses to send it)',
    "g.yaml:12:48: servers[1].headers: `bad name` is not a header name (letters, digits and !#$%&'*+-.^_`|~)",
  ]);
  assert.ok(!found.join('\n').includes('CANARY'));
});

test("a header the gateway writes itself is refused at its line: framing and connection for servers and sinks, the transport's for servers", () => {
  const text = [
    'version: 1',
    'servers:',
    '  - name: remote',
    '    transport: http',
    '    url: https://mcp.example.com/mcp',
    '    headers: { Host: evil.example, Mcp-Session-Id: fixed, Content-Type: text/plain, X-Team: ok }',
    '    credentials: { headers: { Connection: "local:c", Authorization: "local:token" } }',
    'audit:',
    '  exports:',
    '    - { name: siem, type: http, format: splunk-hec, url: "https://siem.example.com/in", headers: { Transfer-Encoding: chunked, Accept: "*/*" } }',
    '',
  ].join('\n');
  const client = 'the HTTP client writes it itself';
  const transport = 'the gateway writes it as the MCP transport requires';
  assert.deepEqual(errors(text), [
    `g.yaml:6:16: servers[0].headers: \`Host\` cannot be set here: ${client}`,
    `g.yaml:6:36: servers[0].headers: \`Mcp-Session-Id\` cannot be set here: ${transport}`,
    `g.yaml:6:59: servers[0].headers: \`Content-Type\` cannot be set here: ${transport}`,
    `g.yaml:7:31: servers[0].credentials.headers: \`Connection\` cannot be set here: ${client}`,
    `g.yaml:10:100: audit.exports[0].headers: \`Transfer-Encoding\` cannot be set here: ${client}`,
  ]);
});

test("walk S: header names that differ only in case are one header, refused at the second; Content-Encoding and Trailer are the gateway's", () => {
  const text = [
    'version: 1',
    'servers:',
    '  - name: remote',
    '    transport: http',
    '    url: https://mcp.example.com/mcp',
    '    headers: { X-Api-Key: a-CANARY, x-api-key: b-CANARY, Content-Encoding: gzip, Trailer: X-Sum, X-Team: ok }',
    '    credentials: { headers: { X-TEAM: "local:team", Authorization: "local:token" } }',
    'audit:',
    '  exports:',
    '    - { name: siem, type: http, format: splunk-hec, url: "https://siem.example.com/in", headers: { X-Token: a, X-TOKEN: b, content-encoding: br } }',
    '',
  ].join('\n');
  const body = 'it describes the body the gateway writes (never encoded, never with trailers)';
  const twice = (name: string, first: string) =>
    `\`${name}\` is set twice (as \`${first}\` too): header names are not case-sensitive, so only one would be sent; keep one`;
  const found = errors(text);
  assert.deepEqual(found, [
    `g.yaml:6:37: servers[0].headers: ${twice('x-api-key', 'X-Api-Key')}`,
    `g.yaml:6:58: servers[0].headers: \`Content-Encoding\` cannot be set here: ${body}`,
    `g.yaml:6:82: servers[0].headers: \`Trailer\` cannot be set here: ${body}`,
    `g.yaml:7:31: servers[0].credentials.headers: ${twice('X-TEAM', 'X-Team')}`,
    `g.yaml:10:112: audit.exports[0].headers: ${twice('X-TOKEN', 'X-Token')}`,
    `g.yaml:10:124: audit.exports[0].headers: \`content-encoding\` cannot be set here: ${body}`,
  ]);
  assert.ok(!found.join('\n').includes('CANARY'), 'no value is echoed');
});

test('a credential in an upstream or sink URL is refused at its line: user info, a reference past the host, a credential query', () => {
  const server = (url: string) => `  - { name: s, transport: http, url: "${url}" }`;
  const text = [
    'version: 1',
    'servers:',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: `${...}` is the config's reference syntax under test
    server('http://127.0.0.1:42999/mcp?api_key=${MY_DB_PASS}').replace('name: s', 'name: a'),
    // biome-ignore lint/suspicious/noTemplateCurlyInString: as above
    server('https://mcp.example.com/${TENANT_TOKEN}/mcp').replace('name: s', 'name: b'),
    server('https://mcp.example.com/mcp?Access_Token=abc123').replace('name: s', 'name: c'),
    server('https://mcp.example.com/mcp?X-API-KEY=abc123').replace('name: s', 'name: d'),
    server('https://mcp.example.com/mcp?q=vault://secret/mcp#token').replace('name: s', 'name: e'),
    server('https://bot:hunter2-CANARY@mcp.example.com/mcp').replace('name: s', 'name: f'),
    'audit:',
    '  exports:',
    '    - { name: siem, type: http, format: splunk-hec, url: "https://siem.example.com/collector?token=abc" }',
    '',
  ].join('\n');
  const use =
    'put the credential in `headers:` (for a server, `credentials.headers` with a secret reference), where it is never logged';
  const got = errors(text, { MY_DB_PASS: 'hunter2-CANARY', TENANT_TOKEN: 'hunter2-CANARY' });
  assert.deepEqual(got, [
    `g.yaml:3:38: servers[0].url: must not carry an environment variable: ${use}`,
    `g.yaml:4:38: servers[1].url: must not carry an environment variable: ${use}`,
    `g.yaml:5:38: servers[2].url: must not carry a credential in its query (\`Access_Token\`): ${use}`,
    `g.yaml:6:38: servers[3].url: must not carry a credential in its query (\`X-API-KEY\`): ${use}`,
    `g.yaml:7:38: servers[4].url: must not carry a secret reference in its query (\`q\`): ${use}`,
    `g.yaml:8:38: servers[5].url: must not carry a user name or password: ${use}`,
    `g.yaml:11:58: audit.exports[0].url: must not carry a credential in its query (\`token\`): ${use}`,
  ]);
  assert.doesNotMatch(got.join('\n'), /hunter2|abc123/);
});

test('a credential URL is refused however it is written: through a YAML alias, in a fragment, under a key name of a cloud', () => {
  const use =
    'put the credential in `headers:` (for a server, `credentials.headers` with a secret reference), where it is never logged';
  // The reference is written under another key (walk M), and the URL is that value by alias.
  const aliased = [
    'version: 1',
    'servers:',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: `${...}` is the config's reference syntax under test
    '  - { name: a, transport: http, url: "https://a.example/mcp", headers: { x-note: &u "http://127.0.0.1:43142/mcp?x=${UP_TOKEN}" } }',
    '  - { name: b, transport: http, url: *u }',
    '',
  ].join('\n');
  assert.deepEqual(errors(aliased, { UP_TOKEN: 'hunter2-CANARY' }), [
    `g.yaml:4:38: servers[1].url: must not carry an environment variable: ${use}`,
  ]);
  const server = (name: string, url: string) => `  - { name: ${name}, transport: http, url: "${url}" }`;
  const text = [
    'version: 1',
    'servers:',
    server('a', 'https://x.example/mcp#access_token=abc123'),
    server('b', 'https://x.example/mcp?subscription-key=abc123'),
    server('c', 'https://x.example/api/mcp?code=abc123'),
    server('d', 'https://x.example/mcp?secret_key=abc123&access_key=abc'),
    server('e', 'https://x.example/mcp?pat=abc123'),
    server('f', 'https://x.example/mcp?api-token=abc123'),
    server('g', 'https://x.example/mcp?AccessKey=abc123'),
    server('h', 'https://x.example/mcp?github_pat=abc123'),
    server('i', 'https://x.example/mcp?passphrase=abc123'),
    '',
  ].join('\n');
  assert.deepEqual(errors(text, {}), [
    `g.yaml:3:38: servers[0].url: must not carry a credential in its fragment (\`access_token\`): ${use}`,
    `g.yaml:4:38: servers[1].url: must not carry a credential in its query (\`subscription-key\`): ${use}`,
    `g.yaml:5:38: servers[2].url: must not carry a credential in its query (\`code\`): ${use}`,
    `g.yaml:6:38: servers[3].url: must not carry a credential in its query (\`secret_key\`): ${use}`,
    `g.yaml:7:38: servers[4].url: must not carry a credential in its query (\`pat\`): ${use}`,
    `g.yaml:8:38: servers[5].url: must not carry a credential in its query (\`api-token\`): ${use}`,
    `g.yaml:9:38: servers[6].url: must not carry a credential in its query (\`AccessKey\`): ${use}`,
    `g.yaml:10:38: servers[7].url: must not carry a credential in its query (\`github_pat\`): ${use}`,
    `g.yaml:11:38: servers[8].url: must not carry a credential in its query (\`passphrase\`): ${use}`,
  ]);
});

test('what is not a credential in a URL is taken: a host from the environment, a whole URL, an empty or plain parameter', () => {
  const text = (url: string) => `version: 1\nservers:\n  - { name: s, transport: http, url: "${url}" }\n`;
  const env = { UPSTREAM_HOST: 'mcp.internal', UPSTREAM_URL: 'https://mcp.internal/mcp?region=eu' };
  const ref = (name: string) => `\${${name}}`;
  for (const url of [
    `http://${ref('UPSTREAM_HOST')}:8080/mcp`,
    ref('UPSTREAM_URL'),
    'https://x.example/mcp?key=&page=2&monkey=1&path=a&pattern=b',
  ])
    assert.deepEqual(errors(text(url), env), [], url);
});

test('the config’s problems and its policy files’ come at once, the config’s first', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-checks-'));
  try {
    writeFileSync(join(dir, 'p.yaml'), 'rules:\n  - id: r\n    effect: permitt\n');
    const config = 'version: 1\nservers:\n  - { name: a, transport: stdio, comand: x }\npolicy: { files: [p.yaml] }\n';
    let issues: string[] = [];
    try {
      parseConfig(config, join(dir, 'g.yaml'), {});
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      issues = err.issues.map((i) => `${relative(dir, i.file)}:${i.line}: ${i.path}`);
    }
    assert.deepEqual(issues, ['g.yaml:3: servers[0]', 'p.yaml:3: rules[0].effect']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
