/**
 * The sandbox of stdio servers, tried by a hostile server (test/fixtures/upstreams/hostile-server.ts):
 * the same server runs twice per tenant, once in the sandbox and once without, and each escape it
 * tries — the state directory, the store, the gateway's environment, another tenant's /tmp, a fork
 * bomb, memory, connections past the egress allowlist (and to a metadata address), a new user
 * namespace, outliving a killed gateway — fails sandboxed and works unsandboxed.
 * Real processes, real bubblewrap, real connections on loopback only.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import {
  FILESYSTEM,
  ROOT,
  createKey,
  runCli,
  startCli,
  startGateway,
  stdioServer,
  type TestGateway,
} from './support/gateway.ts';
import { localSecrets } from './support/secrets.ts';
import { postModernCall } from './support/rpc.ts';
import { eventually } from './support/eventually.ts';
import { findExecutable } from '../src/util/paths.ts';
import { sandboxFacts, type SandboxFacts } from '../src/sandbox/readiness.ts';
import { parseConfig } from '../src/config/load.ts';
import { starterConfig } from '../src/config/starter.ts';
import { readiness } from '../src/readiness/check.ts';
import { vet } from '../src/sandbox/egress.ts';
import { refusedAddress } from '../src/util/address-kind.ts';
import { parseAllow } from '../src/util/allow-entry.ts';
import { deniedSyscalls, seccompProgram } from '../src/sandbox/seccomp.ts';
import type { AuditEvent } from '../src/model/audit-event.ts';

const HOSTILE = join(ROOT, 'test/fixtures/upstreams/hostile-server.ts');
const TOOLS = [
  'read_file',
  'write_file',
  'write_store',
  'write_tmp',
  'fork',
  'allocate',
  'connect',
  'unshare',
  'status',
  'burn',
];
const classes = `    tools: { ${TOOLS.map((n) => `${n}: { class: READ }`).join(', ')} }\n`;
const usable = !!findExecutable('bwrap');
const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-sandbox-'));
chmodSync(tmp, 0o755); // the sandbox user (nobody) must reach the paths declared under it
let allowed: Server;
let forbidden: Server;
const accepted = { allowed: 0, forbidden: 0 };
let t: TestGateway;
const home = join(tmp, 'home');
const HOME_FILES: Record<string, string> = {
  '.ssh/id_ed25519': 'PRIVATE KEY',
  '.aws/credentials': 'aws_secret_access_key = x',
  'project/.env': 'DATABASE_PASSWORD=hunter2',
  'notes.txt': 'shown',
};
const keys: Record<string, string> = {};

before(async () => {
  if (!usable) return;
  allowed = createServer((s) => {
    accepted.allowed++;
    s.destroy();
  });
  forbidden = createServer((s) => {
    accepted.forbidden++;
    s.destroy();
  });
  for (const s of [allowed, forbidden]) await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s: Server) => (s.address() as { port: number }).port;
  const creds = `    credentials: { env: { API_TOKEN: "local:token-{tenant}" }, discoveryTenant: acme }\n${classes}`;
  // A metadata address is refused at load (src/config/sandbox-checks.ts): the proxy's own refusal of
  // one is tested on its decisions (`vet`) below.
  const allow = [`127.0.0.1:${port(allowed)}`, `localhost.:${port(allowed)}`];
  // A home with credentials in it, and a project with a .env, both readable by anyone: only the
  // sandbox's masks keep them from a server that is shown the whole home.
  for (const [f, content] of Object.entries(HOME_FILES)) {
    mkdirSync(join(home, f, '..'), { recursive: true });
    writeFileSync(join(home, f), content);
  }
  const realHome = process.env.HOME;
  process.env.HOME = home; // the gateway's home, while it starts its servers
  t = await startGateway(
    stdioServer('jailed', HOSTILE) +
      creds +
      `    sandbox: { network: { allowLoopback: true, allow: ${JSON.stringify(allow)} }, limits: { processes: 64, memoryMb: 256 } }\n` +
      stdioServer('free', HOSTILE) +
      creds +
      stdioServer('boxed', HOSTILE) +
      creds +
      '    sandbox: { secrets: file, limits: { cpus: 0.2 } }\n' +
      stdioServer('homed', HOSTILE) +
      classes +
      `    cwd: ${JSON.stringify(join(home, 'project'))}\n    sandbox: { paths: { read: [${JSON.stringify(home)}] } }\n`,
    {
      top: 'identity: { apiKeys: true }\n',
      before: async (stateDir) => {
        const store = await localSecrets(stateDir);
        for (const tenant of ['acme', 'globex']) await store.set(`token-${tenant}`, `secret-of-${tenant}`);
      },
    },
  );
  process.env.HOME = realHome;
  for (const tenant of ['acme', 'globex']) {
    keys[tenant] = await createKey(t.file, { name: tenant, tenant, scopes: 'x' });
  }
});
after(async () => {
  await t?.close();
  allowed?.close();
  forbidden?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** One tool call as `tenant`; the text it answers. */
async function call(tenant: string, name: string, args: Record<string, unknown> = {}): Promise<string> {
  const r = await postModernCall(t.url, name, args, { token: keys[tenant] });
  const body = (await r.json()) as { result?: { content: Array<{ text: string }> }; error?: { message: string } };
  if (!body.result) throw new Error(`${name}: ${JSON.stringify(body)}`);
  return body.result.content[0].text;
}
/** The same attempt sandboxed and unsandboxed. */
async function both(
  tenant: string,
  tool: string,
  args: Record<string, unknown> = {},
): Promise<{ jailed: string; free: string }> {
  return { jailed: await call(tenant, `jailed__${tool}`, args), free: await call(tenant, `free__${tool}`, args) };
}
function skip(tc: { skip(m: string): void }): boolean {
  if (usable) return false;
  if (process.env.CI === 'true') assert.fail('bubblewrap (bwrap) is not installed');
  tc.skip('bubblewrap (bwrap) is not installed');
  return true;
}

test('sandboxed: its own user, no capabilities, no-new-privileges, seccomp, a minimal environment', async (tc) => {
  if (skip(tc)) return;
  const { jailed, free } = await both('acme', 'status');
  const j = JSON.parse(jailed);
  const f = JSON.parse(free);
  assert.equal(j.uid, 65534);
  assert.equal(j.capEff, '0000000000000000');
  assert.equal(j.noNewPrivs, '1');
  assert.equal(j.seccomp, '2');
  assert.ok(
    j.processes < 10 && f.processes > j.processes,
    `its own PID namespace: ${j.processes} processes in sight (unsandboxed: ${f.processes})`,
  );
  assert.ok(!j.env.includes('NODE_TEST_CONTEXT'), 'nothing of the gateway environment beyond the allowlist');
  assert.equal(f.uid, process.getuid!());
  assert.equal(f.seccomp, '0');
  assert.equal(await call('acme', 'jailed__unshare'), 'failed (1)', 'no new user namespace (seccomp)');
  // A read-only root: its own package and the root itself refuse writes; /tmp takes them.
  assert.equal(
    await call('acme', 'jailed__write_file', { path: join(ROOT, 'test/fixtures/upstreams/pwned.txt') }),
    'EROFS',
  );
  assert.equal(await call('acme', 'jailed__write_file', { path: '/pwned.txt' }), 'EROFS');
  assert.equal(await call('acme', 'jailed__write_file', { path: '/tmp/fine.txt' }), 'ok: written');
});

test("the state directory: the gateway's secrets.key is out of sight sandboxed, readable unsandboxed", async (tc) => {
  if (skip(tc)) return;
  const path = join(t.gw.config.gateway.stateDir, 'secrets.key');
  const { jailed, free } = await both('acme', 'read_file', { path });
  assert.equal(jailed, 'ENOENT');
  // Unsandboxed it reads the key; what it answers is scrubbed of the gateway's own secrets (walk N).
  assert.equal(free, 'ok: [REDACTED:credential]');
  assert.ok(readFileSync(path).length > 0);
});

test('the store: the SQLite database cannot be written sandboxed, can be unsandboxed', async (tc) => {
  if (skip(tc)) return;
  const { jailed, free } = await both('acme', 'write_store', { path: t.gw.config.storage.sqlitePath! });
  assert.notEqual(jailed, 'ok: written');
  assert.equal(free, 'ok: written');
});

test("the gateway's environment: /proc/<gateway pid>/environ is unreachable sandboxed (own PID namespace), readable unsandboxed", async (tc) => {
  if (skip(tc)) return;
  const { jailed, free } = await both('acme', 'read_file', { path: `/proc/${process.pid}/environ` });
  assert.ok(!jailed.startsWith('ok:'), jailed);
  assert.match(Buffer.from(free.slice(4), 'base64').toString(), /PATH=/);
});

test("another tenant's /tmp: private per tenant connection sandboxed, shared unsandboxed", async (tc) => {
  if (skip(tc)) return;
  const name = `gatehouse-tenant-${randomUUID()}`;
  try {
    await both('acme', 'write_tmp', { name, content: 'acme was here' });
    const { jailed, free } = await both('globex', 'read_file', { path: `/tmp/${name}` });
    assert.equal(jailed, 'ENOENT');
    assert.equal(free, `ok: ${Buffer.from('acme was here').toString('base64')}`);
    assert.equal(
      await call('acme', 'jailed__read_file', { path: `/tmp/${name}` }),
      `ok: ${Buffer.from('acme was here').toString('base64')}`,
      'its own /tmp it keeps',
    );
    const held = t.gw.credentials.pool.describe().filter((h) => h.server === 'jailed');
    assert.deepEqual(held.map((h) => h.tenant).sort(), ['acme', 'globex'], 'one sandbox per tenant');
  } finally {
    rmSync(`/tmp/${name}`, { force: true });
  }
});

test('a fork bomb is bounded sandboxed (process limit), not unsandboxed', async (tc) => {
  if (skip(tc)) return;
  const { jailed, free } = await both('acme', 'fork', { count: 100 });
  assert.match(jailed, /^refused after \d+$/);
  assert.equal(free, 'ok: 100');
});

test('memory past the limit: killed sandboxed, granted unsandboxed', async (tc) => {
  if (skip(tc)) return;
  const { jailed, free } = await both('acme', 'allocate', { mb: 400 });
  assert.match(jailed, /^died \(/);
  assert.equal(free, 'ok: 400 MB');
  assert.equal(await call('acme', 'jailed__allocate', { mb: 16 }), 'ok: 16 MB', 'within the limit it works');
});

test('egress: only the allowlist, through the gateway proxy; loopback names, other ports and the metadata address refused and recorded', async (tc) => {
  if (skip(tc)) return;
  const port = (s: Server) => (s.address() as { port: number }).port;
  // An allowed literal address: through the proxy, to the listener.
  assert.equal(
    await call('acme', 'jailed__connect', { host: '127.0.0.1', port: port(allowed) }),
    'ok: connected through the proxy',
  );
  assert.equal(accepted.allowed, 1);
  // Not listed: refused by the proxy; unsandboxed it connects.
  const other = await both('acme', 'connect', { host: '127.0.0.1', port: port(forbidden) });
  assert.equal(other.jailed, 'proxy: HTTP/1.1 403 Forbidden egress refused: not in allowlist');
  assert.equal(other.free, 'ok: connected');
  assert.equal(accepted.forbidden, 1, 'only the unsandboxed connection arrived');
  // A listed name that resolves to loopback (listed as `localhost.`, asked for as `localhost`): refused after resolution.
  assert.equal(
    await call('acme', 'jailed__connect', { host: 'localhost', port: port(allowed) }),
    'proxy: HTTP/1.1 403 Forbidden egress refused: loopback address',
  );
  // The metadata address: never listed (the config refuses it), refused before any connection is attempted.
  assert.equal(
    await call('acme', 'jailed__connect', { host: '169.254.169.254', port: 80 }),
    'proxy: HTTP/1.1 403 Forbidden egress refused: not in allowlist',
  );
  assert.equal(accepted.allowed, 1);
  // The audit log commits in groups: until the three records are written.
  await eventually(async () => {
    await t.gw.audit.log.drain();
    const records = (await t.gw.store.audit.read({ kind: 'egress.refused', limit: 100 })).map((r) => r.event);
    assert.deepEqual(
      records.map((r) => [r.server, r.detail?.tenant, r.detail?.reason]),
      [
        ['jailed', 'acme', 'not in allowlist'],
        ['jailed', 'acme', 'loopback address'],
        ['jailed', 'acme', 'not in allowlist'],
      ],
    );
    return true;
  });
  // Recorded under acme (the connection's owner): acme's admin finds its refusals, globex's finds none.
  const search = async (tenant: string) => {
    const token = await createKey(t.file, { name: `${tenant}-admin`, tenant, roles: 'gatehouse-admin' });
    const r = await fetch(`${t.url}/admin/v1/audit/search?kind=egress.refused`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(r.status, 200);
    return ((await r.json()) as { records: AuditEvent[] }).records;
  };
  const mine = await search('acme');
  assert.deepEqual(
    mine.map((r) => [r.actor?.tenant, r.server, r.detail?.reason]),
    [
      ['acme', 'jailed', 'not in allowlist'],
      ['acme', 'jailed', 'loopback address'],
      ['acme', 'jailed', 'not in allowlist'],
    ],
  );
  assert.deepEqual(await search('globex'), []);
});

test('egress decisions: what the proxy refuses after resolution', async () => {
  assert.equal(refusedAddress('169.254.169.254'), 'metadata address');
  assert.equal(refusedAddress('::ffff:169.254.169.254'), 'metadata address');
  assert.equal(refusedAddress('fd00:ec2::254'), 'metadata address');
  assert.equal(refusedAddress('127.0.0.2'), 'loopback address');
  assert.equal(refusedAddress('::1'), 'loopback address');
  assert.equal(refusedAddress('10.1.2.3'), 'private address');
  assert.equal(refusedAddress('192.168.0.1'), 'private address');
  assert.equal(refusedAddress('fe80::1'), 'link-local address');
  assert.equal(refusedAddress('0.0.0.0'), 'reserved address');
  assert.equal(refusedAddress('93.184.215.14'), undefined);
  const list = ['api.example.com:443', '*.example.org:443', '10.0.0.5:5432', '169.254.169.254:80'].map(parseAllow);
  assert.deepEqual(await vet(list, '10.0.0.5', 5432), { address: '10.0.0.5' }, 'an internal address listed literally');
  assert.equal(((await vet(list, '10.0.0.6', 5432)) as { reason: string }).reason, 'not in allowlist');
  assert.equal(((await vet(list, '169.254.169.254', 80)) as { reason: string }).reason, 'metadata address');
  assert.equal(((await vet(list, 'api.example.com', 80)) as { reason: string }).reason, 'not in allowlist');
  assert.equal(
    ((await vet(list, 'example.org', 443)) as { reason: string }).reason,
    'not in allowlist',
    'a wildcard does not match the bare domain',
  );
  assert.equal(
    ((await vet(list.concat(parseAllow('localhost:443')), 'localhost', 443)) as { reason: string }).reason,
    'loopback address',
  );
  // A fully qualified name's trailing dot is the same name, in an entry and in what a server asks for.
  assert.deepEqual(parseAllow('API.example.com.:443'), { host: 'api.example.com', port: 443 });
  assert.equal(
    ((await vet(list.concat(parseAllow('localhost.:443')), 'localhost.', 443)) as { reason: string }).reason,
    'loopback address',
  );
  assert.throws(() => parseAllow('https://api.example.com'), /must be `host:port`, `\[v6\]:port` or `\*.domain:port`/);
});

test('the seccomp filter: the architecture check first, every denied call refused with EPERM', () => {
  const prog = seccompProgram();
  assert.equal(prog.length % 8, 0);
  assert.equal(prog.readUInt16LE(0), 0x20, 'load the architecture');
  assert.equal(prog.readUInt32LE(4), 4);
  assert.ok(
    deniedSyscalls().includes('ptrace') && deniedSyscalls().includes('bpf') && deniedSyscalls().includes('keyctl'),
  );
  assert.equal(prog.readUInt32LE(prog.length - 4), 0x80000000, 'a foreign architecture is killed');
});

test('start refuses a sandboxed server where bubblewrap is missing, and says what to do', async (tc) => {
  if (skip(tc)) return;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-nobwrap-'));
  try {
    const yaml = `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: 0 }\n  stateDir: ${JSON.stringify(join(dir, 'state'))}\nservers:\n${stdioServer('jailed', HOSTILE)}    sandbox: {}\n`;
    const file = join(dir, 'gatehouse.yaml');
    writeFileSync(file, yaml);
    const r = await runCli(['start', '--config', file], { env: { PATH: '/nonexistent' } });
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr + r.stdout,
      /server `jailed` is sandboxed, but bubblewrap \(bwrap\) is not installed: install it \(Debian\/Ubuntu: apt-get install bubblewrap/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a gateway killed outright: its sandboxed server dies with it; the unsandboxed one lingers until the next gateway reaps it', async (tc) => {
  if (skip(tc)) return;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sigkill-'));
  chmodSync(dir, 0o755);
  const beats = join(dir, 'beats');
  mkdirSync(beats, { mode: 0o777 });
  chmodSync(beats, 0o777);
  const state = join(dir, 'state');
  const server = (name: string, extra: string) =>
    `${stdioServer(name, HOSTILE)}    env: { HEARTBEAT_FILE: ${JSON.stringify(join(beats, name))} }\n${extra}`;
  const head = `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: 0 }\n  stateDir: ${JSON.stringify(state)}\n`;
  const fresh = (name: string) =>
    existsSync(join(beats, name)) && Date.now() - statSync(join(beats, name)).mtimeMs < 500;
  const until = (cond: () => boolean, ms: number) =>
    eventually(cond, { timeoutMs: ms }).then(
      () => true,
      () => false,
    );
  let first: Awaited<ReturnType<typeof startCli>> | undefined;
  let second: Awaited<ReturnType<typeof startCli>> | undefined;
  try {
    first = await startCli(
      `${head}servers:\n${server('jailed', `    sandbox: { paths: { write: [${JSON.stringify(beats)}] } }\n`)}${server('free', '')}`,
      dir,
    );
    assert.ok(await until(() => fresh('jailed') && fresh('free'), 20_000), 'both servers run');
    first.child.kill('SIGKILL');
    await new Promise((r) => first!.child.once('exit', r));
    // A heartbeat older than 500 ms is a server that stopped: the sandboxed one's goes stale, the other's does not.
    assert.ok(await until(() => !fresh('jailed'), 5000), 'the sandboxed server died with the gateway');
    assert.ok(fresh('free'), 'the unsandboxed server outlived the gateway');
    second = await startCli(`${head}servers: []\n`, dir);
    assert.ok(await until(() => !fresh('free'), 5000), 'the next gateway on the state directory reaped it');
    assert.deepEqual(readdir(join(state, 'run')), [], 'nothing left on record');
  } finally {
    first?.child.kill('SIGKILL');
    await second?.stop();
    // Whatever survived a failed assertion: kill it by its recorded process id.
    for (const f of readdir(join(state, 'run'))) {
      try {
        process.kill(-JSON.parse(readFileSync(join(state, 'run', f), 'utf8')).pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

function readdir(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}

test('readiness 6.4: fails for an unsandboxed server, a missing bubblewrap, or a state directory the sandbox user can read; says how to fix', () => {
  const config = parseConfig(
    'version: 1\ngateway: { stateDir: /srv/gh/state }\nservers:\n' +
      '  - { name: boxed, transport: stdio, command: x, sandbox: { network: { allow: ["api.example.com:443"] } } }\n' +
      '  - { name: open, transport: stdio, command: x }\n',
    '/etc/gh/g.yaml',
    {},
  );
  const at = (c: typeof config, facts: SandboxFacts) =>
    readiness(c, { servers: [], tools: [] }, facts).find((i) => i.id === '6.4')!;
  const fine: SandboxFacts = { bwrap: true, stateDirExposed: [] };
  const open = at(config, fine);
  assert.equal(open.status, 'fail');
  assert.equal(open.why, 'unsandboxed stdio servers: open');
  assert.match(open.fix, /add `sandbox: \{\}` to every stdio server/);
  const boxedOnly = { ...config, servers: config.servers.filter((s) => s.name === 'boxed') };
  assert.deepEqual(
    [at(boxedOnly, fine).status, at(boxedOnly, fine).why],
    [
      'pass',
      'every stdio server runs in bubblewrap (read-only view, private /tmp, own PID namespace, seccomp, limits); egress: an allowlist for boxed, none for the rest',
    ],
  );
  const missing = at(boxedOnly, { bwrap: false, stateDirExposed: [] });
  assert.deepEqual(
    [missing.status, missing.why, missing.fix],
    [
      'fail',
      'bubblewrap (bwrap) is not installed: sandboxed servers cannot start',
      'install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap)',
    ],
  );
  const exposed = at(boxedOnly, { bwrap: true, stateDirExposed: [{ uid: 1000, why: 'uid 1000 owns it' }] });
  assert.equal(exposed.status, 'fail');
  assert.equal(
    exposed.why,
    'the state directory is readable by uid 1000, which runs sandboxed servers (uid 1000 owns it)',
  );
  assert.match(exposed.fix, /^`chmod 700 \/srv\/gh\/state`/);
});

test('readiness 6.4 looks at the real state directory: mode 0755 is readable by the sandbox user, 0700 is not', (tc) => {
  if (process.getuid?.() !== 0) return tc.skip('servers run as a user of their own only when the gateway runs as root');
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-facts-'));
  try {
    const servers = [{ name: 'boxed', transport: 'stdio' as const, command: 'x', sandbox: {} }];
    chmodSync(dir, 0o755);
    assert.deepEqual(sandboxFacts(servers, dir).stateDirExposed, [{ uid: 65534, why: 'mode 0755' }]);
    chmodSync(dir, 0o700);
    assert.deepEqual(sandboxFacts(servers, dir).stateDirExposed, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readiness 6.4 names a declared sandbox path the sandbox user cannot be shown, by the launch’s own check (walk N)', (tc) => {
  if (process.getuid?.() !== 0) return tc.skip('servers run as a user of their own only when the gateway runs as root');
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-paths-'));
  try {
    const closed = join(dir, 'closed');
    const open = join(dir, 'open');
    mkdirSync(closed, { mode: 0o700 });
    mkdirSync(open, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const gone = join(dir, 'gone');
    const servers = [
      { name: 'boxed', transport: 'stdio' as const, command: 'x', sandbox: { paths: { read: [open, closed, gone] } } },
      { name: 'free', transport: 'stdio' as const, command: 'x' },
    ];
    const facts = sandboxFacts(servers, join(dir, 'state'));
    assert.deepEqual(
      facts.unshowable?.map((u) => [u.server, u.path, u.why.replace(/ \(.*$/, '')]),
      [
        ['boxed', closed, 'is out of reach of uid 65534, the sandbox user'],
        ['boxed', gone, 'does not exist'],
      ],
    );
    const config = parseConfig(
      `version: 1\nservers:\n  - { name: boxed, transport: stdio, command: x, sandbox: { paths: { read: [${JSON.stringify(closed)}] } } }\n`,
      '/etc/gh/g.yaml',
      {},
    );
    const item = readiness(config, { servers: [], tools: [] }, facts).find((i) => i.id === '6.4')!;
    assert.equal(item.status, 'fail');
    assert.match(item.why, new RegExp(`server \`boxed\`: sandbox path \`${closed}\` is out of reach of uid 65534`));
    assert.match(item.fix, new RegExp(`give the sandbox user access to \`${closed}\``));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('new configurations are sandboxed: the starter (gatehouse init) and the quickstart', async () => {
  const starter = parseConfig(starterConfig(), '/srv/gh/gatehouse.yaml', {});
  assert.deepEqual(
    starter.servers.map((s) => [s.name, s.transport === 'stdio' && s.sandbox]),
    [['everything', { network: 'none' }]],
  );
  const quick = parseConfig(
    readFileSync(join(ROOT, 'examples/quickstart.yaml'), 'utf8'),
    join(ROOT, 'examples/quickstart.yaml'),
    {},
  );
  assert.deepEqual(
    quick.servers.map((s) => [s.name, s.transport === 'stdio' && !!s.sandbox]),
    [
      ['everything', true],
      ['files', true],
    ],
  );
});

test('network none: nothing but loopback inside, and nothing listens there; the allowlisted sandbox cannot go around its proxy', async (tc) => {
  if (skip(tc)) return;
  const port = (allowed.address() as { port: number }).port;
  const before = accepted.allowed;
  assert.equal(await call('acme', 'boxed__connect', { host: '127.0.0.1', port }), 'ECONNREFUSED');
  assert.equal(await call('acme', 'jailed__connect', { host: '127.0.0.1', port, direct: true }), 'ECONNREFUSED');
  assert.equal(await call('acme', 'free__connect', { host: '127.0.0.1', port, direct: true }), 'ok: connected');
  assert.equal(accepted.allowed, before + 1, 'only the unsandboxed connection arrived');
});

test('secrets as files: /run/secrets/<NAME> and <NAME>_FILE, not the environment; as environment unsandboxed', async (tc) => {
  if (skip(tc)) return;
  const boxed = JSON.parse(await call('globex', 'boxed__status'));
  assert.ok(boxed.env.includes('API_TOKEN_FILE') && !boxed.env.includes('API_TOKEN'), boxed.env.join(' '));
  // The file holds the tenant's secret: the gateway recognises it (in base64 too) and scrubs it from the result.
  assert.equal(
    await call('globex', 'boxed__read_file', { path: '/run/secrets/API_TOKEN' }),
    'ok: [REDACTED:credential]',
  );
  assert.equal(
    await call('globex', 'boxed__read_file', { path: '/proc/self/environ' }).then((t) =>
      Buffer.from(t.slice(4), 'base64').toString().includes('secret-of'),
    ),
    false,
  );
  assert.ok(JSON.parse(await call('globex', 'free__status')).env.includes('API_TOKEN'));
});

test('a CPU limit: a fifth of a core sandboxed, whatever is free unsandboxed', async (tc) => {
  if (skip(tc)) return;
  const cpu = (t: string) => Number(/^cpu (\d+) ms$/.exec(t)![1]);
  const boxed = cpu(await call('acme', 'boxed__burn', { ms: 1500 }));
  assert.ok(boxed <= 1500 * 0.3, `sandboxed: ${boxed} ms of CPU in 1500 ms`);
  // The machine is shared: the unsandboxed server gets what others leave, so it has a few tries (a
  // full suite beside other work on two cores gave it 367-409 ms in three).
  const free: number[] = [];
  for (let i = 0; i < 5 && !free.some((f) => f > boxed * 1.5); i++)
    free.push(cpu(await call('acme', 'free__burn', { ms: 1500 })));
  assert.ok(
    free.some((f) => f > boxed * 1.5),
    `unsandboxed: ${free.join(', ')} ms, sandboxed ${boxed} ms`,
  );
});

test("the gateway's home and .env: masked even inside a path the server may read; readable unsandboxed", async (tc) => {
  if (skip(tc)) return;
  const b64 = (v: string) => `ok: ${Buffer.from(v).toString('base64')}`;
  // The gateway's home, for a connection made now (one per tenant) as for the one made at start.
  const realHome = process.env.HOME;
  process.env.HOME = home;
  tc.after(() => {
    process.env.HOME = realHome;
  });
  await call('acme', 'homed__status');
  process.env.HOME = realHome;
  for (const f of ['.ssh/id_ed25519', '.aws/credentials']) {
    assert.equal(await call('acme', 'homed__read_file', { path: join(home, f) }), 'ENOENT', f);
    assert.equal(await call('acme', 'free__read_file', { path: join(home, f) }), b64(HOME_FILES[f]), f);
  }
  assert.equal(
    await call('acme', 'homed__read_file', { path: join(home, 'project/.env') }),
    'ok: ',
    'an empty file stands in for .env',
  );
  assert.equal(
    await call('acme', 'free__read_file', { path: join(home, 'project/.env') }),
    b64(HOME_FILES['project/.env']),
  );
  assert.equal(
    await call('acme', 'homed__read_file', { path: join(home, 'notes.txt') }),
    b64('shown'),
    'the declared path itself is shown',
  );
});

test('a server that could not start (its folder out of the sandbox user reach) starts by itself once it can: no request needed', async (tc) => {
  if (skip(tc)) return;
  const locked = mkdtempSync(join(tmpdir(), 'gatehouse-locked-')); // 0700: nobody cannot reach inside
  const folder = join(locked, 'files');
  const g = await startGateway(
    `${stdioServer('later', FILESYSTEM, [folder])}    sandbox:\n      paths: { write: [${JSON.stringify(folder)}] }\n`,
    { waitMs: 2_000 },
  );
  try {
    const state = async () =>
      ((await (await fetch(`${g.url}/readyz`)).json()) as { upstreams: Record<string, string> }).upstreams.later;
    assert.notEqual(await state(), 'ready');
    chmodSync(locked, 0o755); // the operator fixes it
    await eventually(async () => (await state()) === 'ready', { timeoutMs: 20_000 });
  } finally {
    await g.close();
    rmSync(locked, { recursive: true, force: true });
  }
});
