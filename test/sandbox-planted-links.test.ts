/**
 * Symbolic links that a sandboxed server plants in its own tenant's folder (walk F10). Inside its
 * sandbox a link leads nowhere (its target is not mounted), but the gateway works on the tenant
 * folders from outside at each launch: it resolves the declared paths and the files its arguments
 * name, makes the missing folders, gives them to the sandbox user and binds them. A hostile server
 * (test/fixtures/upstreams/hostile-server.ts) of tenant acme plants links to globex's folder (with
 * a canary file), to /etc and to the gateway's state directory, in place of a parent folder too;
 * acme's next sandboxes are refused (logged, and recorded as `sandbox.refused`), at the next call
 * and after a restart of the gateway, and globex's folder is neither read, written nor bound. A
 * folder swapped for a link between the check and the start binds the folder checked.
 * Real gateway, real bubblewrap, real MCP calls, loopback only.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
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
import { StdioChannel } from '../src/upstream/stdio.ts';
import { findExecutable } from '../src/util/paths.ts';
import { postModernCall } from './support/rpc.ts';

const HOSTILE = join(ROOT, 'test/fixtures/upstreams/hostile-server.ts');
const usable = !!findExecutable('bwrap');
const dir = realpathSync(mkdtempSync(join(tmpdir(), 'gatehouse-links-')));
chmodSync(dir, 0o755);
const data = join(dir, 'data');
const stateDir = join(dir, 'state');
const CANARY = 'globex-canary-7f3a';
const tools = ['read_file', 'list_dir', 'write_file', 'plant_link'];
const classes = `    tools: { ${tools.map((n) => `${n}: { class: READ }`).join(', ')} }\n`;
// A checkout whose node_modules is a link elsewhere (a worktree's) has the sandbox shown that too.
const modules = realpathSync(join(ROOT, 'node_modules'));
const linked = modules === join(ROOT, 'node_modules') ? [] : [modules];
const server = (name: string, paths: { read?: string[]; write?: string[] }, args: string[] = []) =>
  `  - name: ${name}\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n` +
  `    args: ${JSON.stringify([HOSTILE, ...args])}\n    cwd: ${JSON.stringify(dir)}\n${classes}` +
  `    sandbox: { paths: { read: ${JSON.stringify([...linked, ...(paths.read ?? [])])}, write: ${JSON.stringify(paths.write ?? [])} } }\n`;
const tenantPath = (...p: string[]) => join(data, '{tenant}', ...p);
const yaml =
  `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: 0 }\n  stateDir: ${JSON.stringify(stateDir)}\n` +
  'identity: { apiKeys: true }\npolicy: { files: [policy.yaml] }\nservers:\n' +
  // The tenant's own folder, where its server plants the links.
  server('writer', { write: [tenantPath()] }) +
  // Declared paths in the tenant's folder, read by the gateway at each launch of these servers.
  server('direct', { write: [tenantPath('box')] }) +
  server('parent', { write: [tenantPath('sub', 'inner')] }) +
  server('etc', { read: [tenantPath('docs')] }) +
  server('state', { read: [tenantPath('keys')] }) +
  // A file its arguments name, in the tenant's folder: its folder is shown.
  server('argful', {}, [tenantPath('conf.json')]);
const file = join(dir, 'gatehouse.yaml');
let gw: Gateway;
const keys: Record<string, string> = {};
const globex = join(data, 'globex');

async function start(): Promise<void> {
  gw = await Gateway.start(parseConfig(yaml, file), {
    log: process.env.GATEHOUSE_TEST_LOG ? undefined : silentLogger(),
  });
  await gw.waitForUpstreams(20_000);
}

before(async () => {
  if (!usable) return;
  writeFileSync(file, yaml);
  writeFileSync(
    join(dir, 'policy.yaml'),
    'rules:\n  - id: all\n    subjects: { tenants: [acme, globex] }\n    tools: ["*"]\n    effect: allow\n',
  );
  // globex's folder, its canary readable and writable by anyone: only the gateway stands in the way.
  mkdirSync(globex, { recursive: true, mode: 0o777 });
  chmodSync(data, 0o755);
  chmodSync(globex, 0o777);
  writeFileSync(join(globex, 'secret.txt'), `${CANARY}\n`, { mode: 0o666 });
  chmodSync(join(globex, 'secret.txt'), 0o666);
  mkdirSync(join(data, 'acme'), { mode: 0o777 });
  chmodSync(join(data, 'acme'), 0o777);
  writeFileSync(join(data, 'acme', 'conf.json'), '{}\n', { mode: 0o666 });
  // The folders read are there, for acme and for the tenant that lists the servers' tools.
  for (const tenant of ['acme', 'default'])
    for (const d of ['docs', 'keys']) mkdirSync(join(data, tenant, d), { recursive: true, mode: 0o755 });
  chmodSync(join(data, 'default'), 0o777); // writable by the sandbox user, as the tenant's folder it is
  await start();
  for (const tenant of ['acme', 'globex']) keys[tenant] = await createKey(file, { name: tenant, tenant, scopes: 'x' });
});
after(async () => {
  await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The text of a call's answer, or of its error. */
async function call(tenant: string, name: string, args: Record<string, unknown> = {}): Promise<string> {
  const r = await postModernCall(gw.url, name, args, { token: keys[tenant] });
  const body = (await r.json()) as { result?: { content: Array<{ text: string }> }; error?: { message: string } };
  return body.result ? body.result.content[0].text : `error: ${body.error?.message}`;
}
function skip(tc: { skip(m: string): void }): boolean {
  if (usable) return false;
  if (process.env.CI === 'true') assert.fail('bubblewrap (bwrap) is not installed');
  tc.skip('bubblewrap (bwrap) is not installed');
  return true;
}
const own = (...p: string[]) => join(data, 'acme', ...p);

/** globex's folder as it was made: its canary, unchanged, and nothing else, owned as it was. */
function globexUntouched(): void {
  assert.deepEqual(readdirSync(globex), ['secret.txt']);
  assert.equal(readFileSync(join(globex, 'secret.txt'), 'utf8'), `${CANARY}\n`);
  assert.equal(statSync(globex).uid, process.getuid?.());
}

/** What acme's servers answer now, reaching for globex's canary, /etc and the state directory. */
async function acmeReaches(): Promise<Record<string, string>> {
  return {
    direct: await call('acme', 'direct__read_file', { path: join(globex, 'secret.txt') }),
    directWrite: await call('acme', 'direct__write_file', { path: join(globex, 'planted.txt') }),
    parent: await call('acme', 'parent__write_file', { path: own('sub', 'inner', 'planted.txt') }),
    etc: await call('acme', 'etc__list_dir', { path: '/etc' }),
    state: await call('acme', 'state__list_dir', { path: stateDir }),
    argful: await call('acme', 'argful__read_file', { path: join(globex, 'secret.txt') }),
  };
}

test('links planted in a tenant folder are refused at the next launch, and after a restart; the other tenant is untouched', async (tc) => {
  if (skip(tc)) return;
  // globex's own sandbox works: its folder is its own.
  assert.match(await call('globex', 'direct__write_file', { path: join(globex, 'box', 'mine.txt') }), /^ok/);
  rmSync(join(globex, 'box'), { recursive: true, force: true });
  for (const [at, target] of [
    [own('box'), globex], // straight into the other tenant's folder
    [own('sub'), globex], // a parent of a declared folder that does not exist yet
    [own('docs'), '/etc'],
    [own('keys'), stateDir],
    [own('conf.json'), join(globex, 'secret.txt')], // a file the server's arguments name
  ])
    assert.equal(await call('acme', 'writer__plant_link', { path: at, target }), 'ok: planted', at);
  for (const round of ['next call', 'after a restart']) {
    if (round === 'after a restart') {
      await gw.stop();
      await start();
    }
    const answers = await acmeReaches();
    for (const [what, answer] of Object.entries(answers)) {
      assert.doesNotMatch(answer, /^ok/, `${round}: ${what} is refused`);
      assert.doesNotMatch(answer, new RegExp(CANARY), `${round}: ${what}`);
    }
    globexUntouched();
    // The links are still there, never followed.
    assert.equal(readdirSync(own()).sort().join(','), 'box,conf.json,docs,keys,sub');
    await eventually(async () => {
      await gw.audit.log.drain();
      const records = (await gw.store.audit.read({ kind: 'sandbox.refused', limit: 100 })).map((r) => r.event);
      const refused = new Set(records.map((r) => `${r.server} ${r.detail?.tenant} ${r.detail?.link}`));
      for (const [srv, link] of [
        ['direct', own('box')],
        ['parent', own('sub')],
        ['etc', own('docs')],
        ['state', own('keys')],
        ['argful', own('conf.json')],
      ])
        assert.ok(refused.has(`${srv} acme ${link}`), `${round}: ${srv} recorded (${[...refused].join('; ')})`);
      return true;
    });
  }
  // globex's servers still start: nothing of acme's stands in their way.
  assert.match(await call('globex', 'direct__write_file', { path: join(globex, 'box', 'mine.txt') }), /^ok/);
  rmSync(join(globex, 'box'), { recursive: true, force: true });
});

test('a folder swapped for a link between the check and the start: the folder checked is bound, not the link', async (tc) => {
  if (skip(tc)) return;
  const host = await SandboxHost.open(join(dir, 'race-state'), silentLogger());
  tc.after(() => host.close());
  const victim = mkdtempSync(join(tmpdir(), 'gatehouse-links-victim-'));
  tc.after(() => rmSync(victim, { recursive: true, force: true }));
  chmodSync(victim, 0o777);
  const cfg = {
    name: 'race',
    transport: 'stdio' as const,
    command: '/bin/sh',
    args: ['-c', `echo hostile > ${join(data, 'acme', 'race', 'x')}`],
    env: {},
    sandbox: { paths: { write: [join(data, '{tenant}', 'race')] } },
  };
  const l = await host.launch(cfg, 'acme');
  // Checked and opened; before the start, the folder is moved away and a link takes its place.
  renameSync(own('race'), own('race-checked'));
  symlinkSync(victim, own('race'));
  const ch = new StdioChannel(
    'race',
    { command: l.command, args: l.args, env: l.env, cwd: l.cwd, fds: l.fds, onStarted: l.started, onExited: l.exited },
    silentLogger(),
  );
  tc.after(() => ch.close());
  await eventually(() => existsSync(own('race-checked', 'x')));
  assert.equal(readFileSync(own('race-checked', 'x'), 'utf8'), 'hostile\n');
  assert.deepEqual(readdirSync(victim), [], 'nothing written where the link points');
});
