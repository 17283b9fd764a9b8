import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { EarlyStarts, earlyStartable, type SpawnSpec } from './early-start.ts';
import { ProcessRegistry, type RegistryEntry } from '../sandbox/registry.ts';
import { eventually } from '../../test/support/eventually.ts';

type Server = Config['servers'][number];
// A server that waits for its input to end (as stdio servers do) and never exits on its own.
const WAITS = ['-e', 'process.stdin.resume(); setInterval(() => {}, 1e6)'];
const server = (name: string, extra: object = {}) =>
  ({ name, transport: 'stdio', command: process.execPath, args: WAITS, ...extra }) as unknown as Server;
const config = (servers: Server[]) => ({ servers, gateway: { namespaceSeparator: '__' } }) as unknown as Config;
const spec = { command: process.execPath, args: WAITS, env: {} };

/** Running and not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

test('only enabled, unsandboxed stdio servers without credentials start ahead', () => {
  const servers = [
    server('plain'),
    server('off', { disabled: true }),
    server('jailed', { sandbox: {} }),
    server('keyed', { credentials: { env: { TOKEN: 'secret:token' } } }),
    { name: 'remote', transport: 'http', url: 'http://127.0.0.1:1/mcp' } as unknown as Server,
  ];
  assert.deepEqual(
    earlyStartable(servers).map((s) => s.name),
    ['plain'],
  );
});

test('a process started ahead is handed over once, when it is what the connection would start', async () => {
  const early = EarlyStarts.start(config([server('a')]));
  assert.equal(early.waiting, 1);
  const child = early.take('a', spec);
  assert.ok(child?.pid && alive(child.pid), 'the running process is handed over');
  assert.equal(early.take('a', spec), undefined, 'only once');
  assert.equal(early.waiting, 0);
  child.kill('SIGKILL');
});

test('a process started otherwise than the connection would start it is stopped, not handed over', async () => {
  const early = EarlyStarts.start(config([server('a'), server('b')]));
  const pids: number[] = [];
  // Another environment, other arguments: the connection spawns its own.
  const others: Array<[string, SpawnSpec]> = [
    ['a', { ...spec, env: { EXTRA: '1' } }],
    ['b', { ...spec, args: [...WAITS, 'x'] }],
  ];
  for (const [name, other] of others) {
    pids.push(early.pidOf(name) as number);
    assert.equal(early.take(name, other), undefined);
  }
  await eventually(() => pids.every((p) => !alive(p)), { timeoutMs: 5000 });
});

test('a process that exited before it was handed over is not handed over', async () => {
  const early = EarlyStarts.start(config([server('quits', { args: ['-e', 'process.exit(3)'] })]));
  const pid = early.pidOf('quits') as number;
  await eventually(() => !alive(pid));
  // Gone from the system before node has read its exit status (SIGCHLD, then the exit event on a
  // later turn): a CI run took it in between. Let node see the exit first.
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(early.take('quits', { ...spec, args: ['-e', 'process.exit(3)'] }), undefined);
});

test('a command that does not exist is not reported here, nor handed over', async () => {
  const early = EarlyStarts.start(config([server('missing', { command: '/nonexistent/server' })]));
  await new Promise((r) => setTimeout(r, 100)); // its spawn error is emitted on a later tick: no crash
  assert.equal(early.take('missing', { ...spec, command: '/nonexistent/server' }), undefined);
});

test('stop() stops what was not handed over, with its process group', async () => {
  // A wrapper (as npx or sh -c are) whose child is the server: both go.
  const wrapper = [
    '-e',
    `require('node:child_process').spawn(process.execPath, ${JSON.stringify(WAITS)}, { stdio: 'inherit' }); setInterval(() => {}, 1e6)`,
  ];
  const early = EarlyStarts.start(config([server('w', { args: wrapper })]));
  const pid = early.pidOf('w') as number;
  const grandchild = await eventually(() => {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return kids ? Number(kids.split(/\s+/)[0]) : undefined;
  });
  early.stop();
  assert.equal(early.waiting, 0);
  await eventually(() => !alive(pid) && !alive(grandchild), { timeoutMs: 5000 });
});

test('nothing starts when the gateway will refuse the config (a server name holding the namespace separator)', () => {
  const early = EarlyStarts.start(config([server('ok'), server('a__b')]));
  assert.equal(early.waiting, 0);
});

/** The registry entries of `stateDir` started ahead: server and process id. */
function earlyEntries(stateDir: string): Array<{ server: string; pid: number }> {
  return readdirSync(join(stateDir, 'run'))
    .map((f) => JSON.parse(readFileSync(join(stateDir, 'run', f), 'utf8')) as RegistryEntry)
    .filter((e) => e.early)
    .map((e) => ({ server: e.server, pid: e.pid }));
}

test("what starts ahead is in the state directory's registry until adopted or stopped; this gateway's own reap leaves it", async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'gh-early-'));
  t.after(() => rmSync(stateDir, { recursive: true, force: true }));
  const early = EarlyStarts.start({
    ...config([server('a'), server('b')]),
    gateway: { stateDir },
  } as unknown as Config);
  t.after(() => early.stop());
  const [a, b] = [early.pidOf('a') as number, early.pidOf('b') as number];
  assert.deepEqual(
    earlyEntries(stateDir).sort((x, y) => x.server.localeCompare(y.server)),
    [
      { server: 'a', pid: a },
      { server: 'b', pid: b },
    ],
  );
  // The sandbox host reaps when it opens, after the early start: what waits for its connection stays.
  assert.deepEqual(await new ProcessRegistry(stateDir).reap(), []);
  assert.ok(alive(a) && alive(b));
  const child = early.take('a', spec);
  t.after(() => child?.kill('SIGKILL'));
  assert.deepEqual(earlyEntries(stateDir), [{ server: 'b', pid: b }], 'adopted: its connection registers it');
  await early.stop();
  assert.deepEqual(earlyEntries(stateDir), [], 'stopped: gone from the registry');
});

test('a gateway killed outright while its servers start ahead leaves none running: the next gateway on the state directory kills them', async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'gh-early-'));
  t.after(() => rmSync(stateDir, { recursive: true, force: true }));
  const cfg = { servers: [server('a')], gateway: { stateDir } };
  const module = new URL('./early-start.ts', import.meta.url).href;
  // A gateway as far as its early start: it prints the server's process id and waits to be killed.
  const gateway = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { EarlyStarts } = await import(${JSON.stringify(module)});
       const early = EarlyStarts.start(${JSON.stringify(cfg)});
       console.log(early.pidOf('a')); setInterval(() => {}, 1e6);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => gateway.kill('SIGKILL'));
  const pid = await new Promise<number>((resolve) => gateway.stdout.once('data', (d) => resolve(Number(String(d)))));
  t.after(() => {
    try {
      process.kill(-pid, 'SIGKILL'); // whatever the test's end, the server does not outlive it
    } catch {
      // gone
    }
  });
  assert.ok(alive(pid));
  gateway.kill('SIGKILL');
  await new Promise((r) => gateway.once('exit', r));
  assert.ok(alive(pid), 'its own process group: killing the gateway does not stop it');
  const reaped = await new ProcessRegistry(stateDir).reap();
  assert.deepEqual(
    reaped.map((e) => e.pid),
    [pid],
  );
  await eventually(() => !alive(pid), { timeoutMs: 5000 });
  assert.deepEqual(earlyEntries(stateDir), []);
});
