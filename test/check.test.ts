/**
 * Golden tests for `gatehouse check`: the readiness report of the quickstart as shipped (nothing
 * discovered yet, nothing documented, no identity or policy: not ready) and of a well-configured
 * gateway (documented, discovered, classified, authenticated, governed, audited, sandboxed: ready,
 * with warnings for what is the host's to do). Regenerate
 * the golden files after an intended change with UPDATE_GOLDEN=1.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FILESYSTEM, ROOT, runCli } from './support/gateway.ts';
import { parseConfig } from '../src/config/load.ts';
import { readiness } from '../src/readiness/check.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-check-'));
chmodSync(dir, 0o755); // the sandboxed filesystem server (uid 65534) serves a folder under it
after(() => rmSync(dir, { recursive: true, force: true }));

function golden(name: string, raw: unknown): void {
  const file = join(ROOT, 'test/golden', name);
  // How many audit records a discovery wrote (and an export has not sent) depends on timing; that there are some does not. A
  // policy's revision covers its resolved roots, so it depends on where the repository is checked out.
  const actual = JSON.parse(
    JSON.stringify(raw)
      .replace(/\b[1-9]\d* record\(s\)/g, 'N record(s)')
      .replace(/\b[1-9]\d* waiting\b/g, 'N waiting')
      .replace(/policy revision [0-9a-f]{16}/g, 'policy revision REVISION'),
  );
  const text = `${JSON.stringify(actual, null, 2)}\n`;
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, text);
  assert.deepEqual(
    actual,
    JSON.parse(readFileSync(file, 'utf8')),
    `differs from test/golden/${name} (UPDATE_GOLDEN=1 to accept)`,
  );
}

test('golden: the quickstart as shipped is not ready, and says why item by item', async () => {
  const file = join(dir, 'quickstart.yaml');
  const text = readFileSync(join(ROOT, 'examples/quickstart.yaml'), 'utf8')
    .replace(/stateDir: .*/, 'stateDir: state')
    .replaceAll('cwd: ..', `cwd: ${JSON.stringify(ROOT)}`)
    .replace('../examples/quickstart-policy.yaml', JSON.stringify(join(ROOT, 'examples/quickstart-policy.yaml')));
  writeFileSync(file, text);
  const r = await runCli(['check', '--json', '-c', file]);
  assert.equal(r.code, 1, 'a failing item makes the exit status non-zero');
  const report = JSON.parse(r.stdout);
  assert.equal(report.ready, false);
  golden('check-quickstart.json', report);
  const text2 = await runCli(['check', '-c', file]);
  assert.match(
    text2.stdout,
    /^ {2}FAIL 1\.2 every server has been discovered and catalogued\n {9}never discovered: everything, files\n {9}fix: start the gateway, or run `gatehouse inventory --refresh`$/m,
  );
  assert.match(text2.stdout, /\d+ pass, \d+ warn, \d+ fail: not ready\n$/);
});

test('golden: a well-configured gateway is ready: every item passes or warns, and exits 0', async () => {
  const env = { CHECK_STATE_DIR: join(dir, 'well'), NODE: process.execPath, FILESYSTEM_SERVER: FILESYSTEM };
  const file = join(ROOT, 'test/fixtures/check/well-configured.yaml');
  const r = await runCli(['check', '--json', '--refresh', '-c', file], { env });
  const report = JSON.parse(r.stdout);
  assert.equal(r.code, 0, JSON.stringify(report.items.filter((i: { status: string }) => i.status === 'fail')));
  assert.equal(report.ready, true);
  const inventory = report.items.filter((i: { section: string }) => i.section === '1 inventory');
  assert.deepEqual(
    inventory.map((i: { status: string }) => i.status),
    ['pass', 'pass', 'pass', 'pass', 'pass', 'pass', 'pass'],
  );
  // Paths differ per machine: the golden file holds the rest.
  golden('check-well-configured.json', JSON.parse(JSON.stringify(report).replaceAll(join(dir, 'well'), '<state>')));
});

test('1.1 names what each server misses; 7.5 needs only an owner; 2.5 names what may authenticate', () => {
  const config = parseConfig(
    'version: 1\nidentity: { apiKeys: true }\nservers:\n' +
      '  - { name: gh, transport: stdio, command: x, owner: ann, location: eu }\n' +
      '  - { name: db, transport: stdio, command: x, owner: bob, repository: r, location: eu }\n',
    '/etc/gh/g.yaml',
    {},
  );
  const items = readiness(config, { servers: [], tools: [] });
  const at = (id: string) => items.find((i) => i.id === id)!;
  assert.equal(at('1.1').why, 'missing for gh (repository)');
  // Where a server runs is what the inventory shows: a stdio server without `location` is local.
  const local = parseConfig(
    'version: 1\nservers:\n  - { name: db, transport: stdio, command: x, owner: bob, repository: r }\n' +
      '  - { name: web, transport: http, url: "https://web.example/mcp", owner: ann, repository: r }\n',
    '/etc/gh/g.yaml',
    {},
  );
  const docs = readiness(local, { servers: [], tools: [] }).find((i) => i.id === '1.1')!;
  assert.equal(docs.status, 'pass', docs.why);
  assert.equal(docs.why, '2 server(s) documented: db (local (stdio)), web (https://web.example/mcp)');
  assert.equal(at('7.5').status, 'pass', at('7.5').why);
  assert.match(at('2.5').why, /any API key may call any tool/);
});

test('1.3 and 1.4 name tools as `gatehouse inventory classify|accept` takes them', () => {
  const config = parseConfig(
    'version: 1\nservers:\n  - { name: everything, transport: stdio, command: x }\n',
    '/etc/gh/g.yaml',
    {},
  );
  const tool = (name: string, acceptedPin: string | null) =>
    ({
      server: 'everything',
      tool: name,
      present: true,
      class: null,
      pin: 'p1',
      acceptedPin,
      findings: [],
      def: {},
    }) as never;
  const items = readiness(config, { servers: [], tools: [tool('get-env', 'p1'), tool('get-roots-list', null)] });
  const at = (id: string) => items.find((i) => i.id === id)!;
  assert.equal(at('1.3').why, '2 unreviewed (treated as DESTRUCTIVE): everything__get-env, everything__get-roots-list');
  assert.match(at('1.3').fix, /`gatehouse inventory classify everything__get-env <READ\|WRITE\|DESTRUCTIVE>`/);
  assert.equal(at('1.4').why, 'quarantined: everything__get-roots-list');
});

test('static credentials in the config fail 2.2, named by server and key (values never printed)', () => {
  const config = parseConfig(
    'version: 1\nservers:\n' +
      '  - { name: gh, transport: http, url: "https://gh.example/mcp", headers: { Authorization: "Bearer ghp_abcdefghijklmnop1234" } }\n' +
      '  - { name: db, transport: stdio, command: x, env: { PGPASSWORD: hunter2hunter2, MODE: fast } }\n' +
      '  - { name: ok, transport: stdio, command: x, env: { MODE: fast } }\n',
    '/etc/gh/g.yaml',
    {},
  );
  const item = readiness(config, { servers: [], tools: [] }).find((i) => i.id === '2.2')!;
  assert.equal(item.status, 'fail');
  assert.equal(item.why, 'static credentials in gh (servers[0].headers.Authorization), db (servers[1].env.PGPASSWORD)');
  assert.doesNotMatch(JSON.stringify(item), /ghp_|hunter2/);
});

test('a credential in a server URL fails 2.2 by the test the loader refuses it with (walk L)', () => {
  const text = (url: string) => `version: 1\nservers:\n  - { name: db, transport: http, url: "${url}" }\n`;
  const config = parseConfig(text('http://127.0.0.1:42999/mcp'), '/etc/gh/g.yaml', {});
  assert.equal(readiness(config, { servers: [], tools: [] }).find((i) => i.id === '2.2')?.status, 'pass');
  const leaky = 'http://127.0.0.1:42999/mcp?api_key=hunter2hunter2';
  assert.throws(() => parseConfig(text(leaky), '/etc/gh/g.yaml', {}), /servers\[0\]\.url: must not carry a credential/);
  // A config that did not come through the loader is judged alike.
  const server = config.servers[0] as { url: string };
  server.url = leaky;
  const item = readiness(config, { servers: [], tools: [] }).find((i) => i.id === '2.2')!;
  assert.equal(item.status, 'fail');
  assert.equal(item.why, 'static credentials in db (servers[0].url)');
  assert.doesNotMatch(JSON.stringify(item), /hunter2/);
});

test('calls without an outcome for five minutes warn 5.1, saying who closes them', () => {
  const config = parseConfig('version: 1\nservers: []\n', '/etc/g.yaml', {});
  const state = { audit: { records: 10, unclosed: 2, exports: {} } };
  const item = readiness(config, { servers: [], tools: [] }, undefined, state).find((i) => i.id === '5.1')!;
  assert.equal(item.status, 'warn');
  assert.match(item.why, /^2 call\(s\) .* a running gateway records a dead one's calls as unknown within about 15 s/);
  const clean = readiness(config, { servers: [], tools: [] }, undefined, { audit: { ...state.audit, unclosed: 0 } });
  assert.equal(clean.find((i) => i.id === '5.1')!.status, 'pass');
});

test('3.4 says what the rules lack, and only that Redis is configured (check cannot see it answer)', () => {
  const limits = (rules: string, redis = '') =>
    readiness(parseConfig(`version: 1\nlimits:\n${redis}  rules:\n${rules}servers: []\n`, '/etc/g.yaml', {}), {
      servers: [],
      tools: [],
    }).find((i) => i.id === '3.4')!;
  const rateOnly = limits('    - { id: r, scope: principal, rate: { points: 60, perSeconds: 60 } }\n');
  assert.equal(rateOnly.status, 'warn');
  assert.match(rateOnly.why, /; no concurrency cap$/);
  assert.match(rateOnly.fix, /^add a rule with `concurrency:` to `limits.rules`/);
  const capOnly = limits('    - { id: c, scope: principal_tool, concurrency: 2 }\n');
  assert.match(capOnly.fix, /^add a rule with `rate:`/);
  const shared = limits(
    '    - { id: r, scope: principal, rate: { points: 60, perSeconds: 60 } }\n    - { id: c, scope: principal_tool, concurrency: 2 }\n',
    '  redis: { url: "redis://127.0.0.1:44998/10" }\n',
  );
  assert.equal(shared.status, 'pass');
  assert.doesNotMatch(shared.why, /shared through Redis/);
  assert.match(shared.why, /configured Redis .*gatehouse_limits_degraded/);
});

test('fix texts that can be followed: 2.4 without brokered credentials, 4.1 without a policy, 6.6 refusing everyone', () => {
  const at = (yaml: string, id: string) =>
    readiness(parseConfig(`version: 1\n${yaml}`, '/etc/g.yaml', {}), { servers: [], tools: [] }, undefined, {
      revocations: { refs: [], unconfirmed: [], liveGateways: 1 },
      approvals: { decided: 0, unrecorded: 0, capped: false },
    }).find((i) => i.id === id)!;
  // Nothing brokered: no reference `credentials revoke` would accept.
  const none = at('servers: [{ name: s, transport: stdio, command: x }]\n', '2.4');
  assert.match(none.why, /^no server uses brokered credentials: there is nothing Gatehouse can rotate or revoke/);
  assert.doesNotMatch(none.fix, /credentials revoke/);
  const brokered = at(
    'servers: [{ name: gh, transport: stdio, command: x, credentials: { env: { GH_TOKEN: "env:GH_TOKEN" } } }]\n',
    '2.4',
  );
  assert.match(brokered.fix, /^drill it: `gatehouse credentials revoke <ref>` \(a reference of gh\)/);
  // No policy: nothing is sent for approval, so "a WRITE call, then approve" cannot be followed.
  const noPolicy = at('servers: []\n', '4.1');
  assert.match(noPolicy.why, /^no policy, so nothing is sent for approval/);
  assert.match(noPolicy.fix, /^write a policy/);
  assert.doesNotMatch(noPolicy.fix, /approvals approve/);
  // Exposed, no identity, allowUnauthenticated: never: every caller is refused, as 2.1 says.
  const never = at(
    'gateway: { listen: { host: 0.0.0.0 }, allowUnauthenticated: never, trustedProxies: [10.0.0.1] }\nservers: []\n',
    '6.6',
  );
  assert.equal(never.status, 'pass');
  assert.equal(
    never.why,
    'listening on 0.0.0.0; no identity provider and `gateway.allowUnauthenticated: never`: every caller is refused',
  );
  const loopback = at('gateway: { listen: { host: 0.0.0.0 }, allowUnauthenticated: loopback }\nservers: []\n', '6.6');
  assert.equal(loopback.status, 'warn');
  assert.match(loopback.why, /unless they come from loopback/);
});

test('2.7 on PostgreSQL with no live gateway says there was nothing to compare with', () => {
  const config = parseConfig(
    'version: 1\nstorage: { driver: postgres, postgresUrl: "postgres://db.internal/gatehouse" }\nservers: []\n',
    '/etc/g.yaml',
    {},
  );
  const item = readiness(config, { servers: [], tools: [] }, undefined, {
    secretsKey: { source: 'environment', keyId: '0123456789abcdef', gateways: [] },
  }).find((i) => i.id === '2.7')!;
  assert.equal(item.status, 'warn');
  assert.match(item.why, /no live gateway to compare with .*opens the `local:` secrets of the shared database with it/);
  const unread = readiness(config, { servers: [], tools: [] }, undefined, {
    secretsKey: { source: 'environment', keyId: '0123456789abcdef' },
  }).find((i) => i.id === '2.7')!;
  assert.equal(unread.status, 'fail');
});

test('6.7 warns while /metrics and /readyz answer anyone off loopback or through a proxy, and passes with a scrape token', () => {
  const at = (gateway: string, env: Record<string, string> = {}) =>
    readiness(
      parseConfig(`version: 1\ngateway: ${gateway}\nidentity: { apiKeys: true }\nservers: []\n`, '/etc/g.yaml', env),
      { servers: [], tools: [] },
    ).find((i) => i.id === '6.7')!;
  const exposed = at('{ listen: { host: 0.0.0.0 } }');
  assert.equal(exposed.status, 'warn');
  assert.equal(
    exposed.why,
    'callers of /mcp authenticate, but no `gateway.metricsToken` and the listener is on 0.0.0.0: /metrics shows anyone every tool name and its call counts, /readyz whether the gateway is ready',
  );
  assert.match(exposed.fix, /^set `gateway\.metricsToken`/);
  // On loopback behind a reverse proxy, anyone the proxy serves reaches it.
  const proxied = at('{ listen: { host: 127.0.0.1 }, trustedProxies: [10.0.0.1] }');
  assert.equal(proxied.status, 'warn');
  assert.match(proxied.why, /no `gateway\.metricsToken` and requests forwarded by 10\.0\.0\.1 are served/);
  assert.equal(at('{ listen: { host: 127.0.0.1 } }').status, 'pass');
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's reference syntax
  const token = at('{ listen: { host: 0.0.0.0 }, metricsToken: "${SCRAPE}" }', { SCRAPE: 'a-scrape-token-0123456789' });
  assert.deepEqual([token.status, token.why], ['pass', '/metrics and /readyz need the scrape token']);
});
