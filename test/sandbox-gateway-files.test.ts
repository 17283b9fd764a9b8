/**
 * The gateway's own files, wherever they lie, tried by a hostile server (test/fixtures/upstreams/
 * hostile-server.ts) whose folder holds them all: the config file (literal secrets), its policy
 * file, a SQLite database outside the state directory with its -wal, -shm and -spool siblings, an
 * audit export's directory, `.env.local` and `.git/config`. Sandboxed it reads none of them (empty
 * files or empty folders stand in); unsandboxed it reads every one. Each file is made readable by
 * anyone first, as it is to a server that shares the gateway's user (a gateway not run as root):
 * only the sandbox's masks stand in the way. Also: `{tenant}` in a sandboxed server's args and
 * paths gives each tenant a folder of its own; a cwd in the state directory is refused.
 * Real gateway, real bubblewrap, loopback only.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, createKey } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';
import { parseConfig } from '../src/config/load.ts';
import { Gateway } from '../src/main.ts';
import { silentLogger } from '../src/observability/logger.ts';
import { SandboxHost } from '../src/sandbox/sandbox.ts';
import { findExecutable } from '../src/util/paths.ts';
import { sandboxFacts, sandboxReadiness, type SandboxFacts } from '../src/sandbox/readiness.ts';
import { readiness } from '../src/readiness/check.ts';
import { postModernCall } from './support/rpc.ts';

const HOSTILE = join(ROOT, 'test/fixtures/upstreams/hostile-server.ts');
const usable = !!findExecutable('bwrap');
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sbfiles-'));
chmodSync(dir, 0o755);
const SECRET = 'hunter2-in-a-gateway-file';
const tools = ['read_file', 'list_dir', 'write_file', 'status'];
const classes = `    tools: { ${tools.map((n) => `${n}: { class: READ }`).join(', ')} }\n`;
const server = (name: string, extra: string) =>
  `  - name: ${name}\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: ${JSON.stringify([HOSTILE])}\n    cwd: ${JSON.stringify(dir)}\n${classes}${extra}`;
// A checkout whose node_modules is a link elsewhere (a worktree's) has the sandbox shown that too.
const modules = realpathSync(join(ROOT, 'node_modules'));
const linked = modules === join(ROOT, 'node_modules') ? [] : [modules];
const FILES = {
  config: join(dir, 'gatehouse.yaml'),
  policy: join(dir, 'policy.yaml'),
  envLocal: join(dir, '.env.local'),
  gitConfig: join(dir, '.git', 'config'),
};
const db = join(dir, 'data', 'gh.db');
/** A folder of every tenant's folders, outside the servers' own folder (`dir`), shown whole (walk Q). */
const shared = mkdtempSync(join(tmpdir(), 'gatehouse-sbshared-'));
chmodSync(shared, 0o755);
const exportDir = join(dir, 'export');
let gw: Gateway;
const keys: Record<string, string> = {};

before(async () => {
  if (!usable) return;
  mkdirSync(join(dir, '.git'));
  mkdirSync(exportDir, { mode: 0o755 });
  writeFileSync(join(exportDir, 'audit-earlier.jsonl'), `${SECRET}\n`);
  writeFileSync(FILES.envLocal, `PASSWORD=${SECRET}\n`);
  writeFileSync(FILES.gitConfig, `[remote "origin"]\n  url = https://x:${SECRET}@example.com/r.git\n`);
  writeFileSync(
    FILES.policy,
    `# ${SECRET}\nrules:\n  - id: reads\n    subjects: { tenants: [acme, globex] }\n    tools: ["*"]\n    effect: allow\n`,
  );
  const yaml =
    `# postgres password: ${SECRET}\nversion: 1\ngateway:\n  listen: { host: 127.0.0.1, port: 0 }\n  stateDir: ${JSON.stringify(join(dir, 'state'))}\n` +
    'storage: { sqlitePath: ../data/gh.db }\n' +
    'audit: { exports: [{ name: out, type: file, dir: ../export }] }\n' +
    'identity: { apiKeys: true }\npolicy: { files: [policy.yaml] }\nservers:\n' +
    server('jailed', `    sandbox: { paths: { read: ${JSON.stringify(linked)} } }\n`) +
    server('free', '') +
    server(
      'whole',
      `    sandbox: { paths: { read: ${JSON.stringify([...linked, shared])}, write: [${JSON.stringify(join(shared, '{tenant}'))}] } }\n`,
    ) +
    server(
      'perten',
      `    sandbox: { paths: { read: ${JSON.stringify(linked)}, write: [${JSON.stringify(join(dir, 'work', '{tenant}'))}] } }\n` +
        '    env: { OWN: "x" }\n',
    );
  writeFileSync(FILES.config, yaml);
  gw = await Gateway.start(parseConfig(yaml, FILES.config), {
    log: process.env.GATEHOUSE_TEST_LOG ? undefined : silentLogger(),
  });
  await gw.waitForUpstreams(20_000);
  for (const tenant of ['acme', 'globex'])
    keys[tenant] = await createKey(FILES.config, { name: tenant, tenant, scopes: 'x' });
  // Readable by anyone, as to a server of the gateway's own user.
  chmodSync(join(dir, 'data'), 0o755);
  for (const f of readdirSync(join(dir, 'data'))) chmodSync(join(dir, 'data', f), 0o755);
  for (const f of readdirSync(`${db}-spool`)) chmodSync(join(`${db}-spool`, f), 0o644);
});
after(async () => {
  await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
  rmSync(shared, { recursive: true, force: true });
});

async function call(tenant: string, name: string, args: Record<string, unknown> = {}): Promise<string> {
  const r = await postModernCall(gw.url, name, args, { token: keys[tenant] });
  const body = (await r.json()) as { result?: { content: Array<{ text: string }> } };
  if (!body.result) throw new Error(`${name}: ${JSON.stringify(body)}`);
  return body.result.content[0].text;
}
const decoded = (answer: string) =>
  answer.startsWith('ok: ') ? Buffer.from(answer.slice(4), 'base64').toString() : answer;
function skip(tc: { skip(m: string): void }): boolean {
  if (usable) return false;
  if (process.env.CI === 'true') assert.fail('bubblewrap (bwrap) is not installed');
  tc.skip('bubblewrap (bwrap) is not installed');
  return true;
}

test('the config file, its policy file, .env.local and .git/config: empty sandboxed, readable unsandboxed', async (tc) => {
  if (skip(tc)) return;
  for (const [what, path] of Object.entries(FILES)) {
    assert.match(decoded(await call('acme', 'free__read_file', { path })), new RegExp(SECRET), `${what} unsandboxed`);
    assert.equal(await call('acme', 'jailed__read_file', { path }), 'ok: ', `${what}: an empty file in its place`);
  }
});

test('a database outside the state directory: it and its -wal, -shm and -spool are out of sight sandboxed', async (tc) => {
  if (skip(tc)) return;
  for (const f of [db, `${db}-wal`, `${db}-shm`]) {
    assert.ok(existsSync(f), f);
    assert.notEqual(decoded(await call('acme', 'free__read_file', { path: f })).length, 0, `${f} unsandboxed`);
    assert.equal(await call('acme', 'jailed__read_file', { path: f }), 'ok: ', `${f}: an empty file in its place`);
  }
  assert.match(
    await call('acme', 'free__list_dir', { path: `${db}-spool` }),
    /^ok: .+\.jsonl/,
    'the spool unsandboxed',
  );
  assert.equal(await call('acme', 'jailed__list_dir', { path: `${db}-spool` }), 'ok: ', 'an empty spool sandboxed');
  // What the spool holds (every record's text) is read unsandboxed only.
  const spooled = readdirSync(`${db}-spool`).map((f) => join(`${db}-spool`, f));
  assert.ok(spooled.length);
  assert.match(await call('acme', 'jailed__read_file', { path: spooled[0] }), /^ENOENT$/);
});

test("an audit export's directory outside the state directory: empty sandboxed, listed unsandboxed", async (tc) => {
  if (skip(tc)) return;
  assert.match(await call('acme', 'free__list_dir', { path: exportDir }), /audit-earlier\.jsonl/);
  assert.equal(await call('acme', 'jailed__list_dir', { path: exportDir }), 'ok: ');
  // The server still sees the rest of its folder.
  assert.match(await call('acme', 'jailed__list_dir', { path: dir }), /gatehouse\.yaml/);
});

test('{tenant} in paths.write: each tenant writes its own folder and cannot reach the other tenant', async (tc) => {
  if (skip(tc)) return;
  const own = (tenant: string) => join(dir, 'work', tenant, 'note.txt');
  assert.equal(await call('acme', 'perten__write_file', { path: own('acme') }), 'ok: written');
  assert.equal(await call('globex', 'perten__write_file', { path: own('globex') }), 'ok: written');
  await eventually(() => statSync(own('acme')).isFile() && statSync(own('globex')).isFile());
  assert.equal(await call('acme', 'perten__read_file', { path: own('globex') }), 'ENOENT');
  assert.equal(await call('globex', 'perten__read_file', { path: own('acme') }), 'ENOENT');
  assert.notEqual(await call('acme', 'perten__write_file', { path: own('globex') }), 'ok: written');
  assert.ok(!existsSync(join(dir, 'work', '{tenant}')), 'no folder named after the placeholder');
});

test("the folder of every tenant's folder, shown whole, shows each tenant its own folder only (walk Q)", async (tc) => {
  if (skip(tc)) return;
  writeFileSync(join(shared, 'common.txt'), 'for every tenant\n', { mode: 0o644 });
  // Each tenant's connection makes its own folder, for the sandbox user, and writes a file there.
  for (const tenant of ['acme', 'globex'])
    assert.equal(await call(tenant, 'whole__write_file', { path: join(shared, tenant, 'own.txt') }), 'ok: written');
  assert.equal(await call('acme', 'whole__read_file', { path: join(shared, 'globex', 'own.txt') }), 'ENOENT');
  assert.equal(await call('globex', 'whole__read_file', { path: join(shared, 'acme', 'own.txt') }), 'ENOENT');
  assert.equal(await call('acme', 'whole__list_dir', { path: shared }), 'ok: acme', 'only its own folder stands there');
  assert.equal(
    await call('acme', 'whole__read_file', { path: join(shared, 'acme', 'own.txt') }),
    `ok: ${Buffer.from('hostile').toString('base64')}`,
  );
});

test("a server whose program lies in the folder of every tenant's folder is refused, saying why (walk Q)", async (tc) => {
  if (skip(tc)) return;
  const stateDir = join(dir, 'veil-state');
  mkdirSync(stateDir, { recursive: true });
  const host = await SandboxHost.open(stateDir, silentLogger());
  tc.after(() => host.close());
  const root = join(dir, 'veil-root');
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'server.mjs'), 'process.stdin.resume();\n');
  const cfg = {
    name: 'x',
    transport: 'stdio' as const,
    command: process.execPath,
    args: [join(root, 'server.mjs')],
    env: {},
    sandbox: { paths: { write: [join(root, '{tenant}')] } },
  };
  await assert.rejects(
    host.launch(cfg, 'acme'),
    /server `x`: `.*\/veil-root\/server\.mjs` is in `.*\/veil-root`, which holds every tenant's `\{tenant\}` folder and is shown to each tenant as its own folder only/,
  );
  // `gatehouse check` 6.4 says so before any start.
  const item = sandboxReadiness([cfg], stateDir, sandboxFacts([cfg], stateDir));
  assert.equal(item.status, 'fail');
  assert.match(
    item.why,
    /server `x`: `.*\/veil-root\/server\.mjs` is in `.*\/veil-root`, which holds every tenant's .*: the server cannot start/,
  );
  assert.match(item.fix, /keep the server's program and folder outside it \(docs\/sandbox\.md\)$/);
});

test('a cwd in the state directory is refused like a declared path; so is a tenant name that cannot be a folder', async (tc) => {
  if (skip(tc)) return;
  const stateDir = join(dir, 'unit-state');
  mkdirSync(join(stateDir, 'inside'), { recursive: true });
  const host = await SandboxHost.open(stateDir, silentLogger());
  tc.after(() => host.close());
  const base = { name: 'x', transport: 'stdio' as const, command: process.execPath, args: [], env: {} };
  await assert.rejects(
    host.launch({ ...base, cwd: join(stateDir, 'inside'), sandbox: {} }, 'acme'),
    /server `x`: its cwd `.*\/unit-state\/inside` is in the state directory, which sandboxed servers never see/,
  );
  const perTenant = { ...base, sandbox: { paths: { write: [join(dir, 'unit-work', '{tenant}')] } } };
  for (const tenant of ['..', '.', 'a/b'])
    await assert.rejects(host.launch(perTenant, tenant), /the tenant name cannot stand in `\{tenant\}`/, tenant);
  const ok = await host.launch(perTenant, 'acme');
  await ok.exited();
  assert.ok(ok.args.includes(join(dir, 'unit-work', 'acme')), 'bound for its tenant');
});

test('readiness 6.4: a database outside the state directory is looked at too, and the fix fits who can read it', () => {
  const config = parseConfig(
    'version: 1\ngateway: { stateDir: /srv/gh/state }\nstorage: { sqlitePath: ../gh.db }\nservers:\n' +
      '  - { name: boxed, transport: stdio, command: x, sandbox: {} }\n',
    '/srv/gh/gatehouse.yaml',
    {},
  );
  const at = (facts: SandboxFacts) => readiness(config, { servers: [], tools: [] }, facts).find((i) => i.id === '6.4')!;
  // Servers of the gateway's own user (a gateway not run as root): chmod cannot help, root can.
  const own = at({ bwrap: true, stateDirExposed: [{ uid: 1000, why: 'uid 1000 owns it', shared: true }] });
  assert.equal(own.status, 'fail');
  assert.doesNotMatch(own.fix, /chmod/);
  assert.match(own.fix, /^run the gateway as root, so that servers run as a user of their own/);
  const db = at({ bwrap: true, stateDirExposed: [{ uid: 65534, why: 'mode 0644', path: '/srv/gh/gh.db' }] });
  assert.equal(
    db.why,
    'the database `/srv/gh/gh.db` (outside the state directory) is readable by uid 65534, which runs sandboxed servers (mode 0644)',
  );
  assert.match(db.fix, /^`chmod 600 \/srv\/gh\/gh\.db`/);
  assert.match(db.fix, /keep the database in the state directory/);
});

test('readiness 6.4 looks at a database kept outside the state directory', (tc) => {
  if (process.getuid?.() !== 0) return tc.skip('servers run as a user of their own only when the gateway runs as root');
  const d = mkdtempSync(join(tmpdir(), 'gatehouse-facts-db-'));
  tc.after(() => rmSync(d, { recursive: true, force: true }));
  mkdirSync(join(d, 'state'), { mode: 0o700 });
  writeFileSync(join(d, 'gh.db'), '', { mode: 0o644 });
  const servers = [{ name: 'boxed', transport: 'stdio' as const, command: 'x', sandbox: {} }];
  assert.deepEqual(sandboxFacts(servers, join(d, 'state'), join(d, 'gh.db')).stateDirExposed, [
    { uid: 65534, why: 'mode 0644', path: join(d, 'gh.db') },
  ]);
  chmodSync(join(d, 'gh.db'), 0o600);
  assert.deepEqual(sandboxFacts(servers, join(d, 'state'), join(d, 'gh.db')).stateDirExposed, []);
  assert.deepEqual(sandboxFacts(servers, join(d, 'state'), join(d, 'state', 'gh.db')).stateDirExposed, []);
});
