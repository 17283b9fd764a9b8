/**
 * `gatehouse start` starts a local server while the gateway itself starts (src/upstream/early-start.ts):
 * the connection adopts that process (the server starts once, and the process the gateway talks to
 * is the one started ahead), and a start that fails leaves no server running.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, stdioServer } from './support/gateway.ts';
import { childEnv, freePort } from './support/processes.ts';
import { eventually } from './support/eventually.ts';

const CLI = join(ROOT, 'src/cli/main.ts');
const COUNT = join(ROOT, 'test/fixtures/upstreams/count-starts.ts');
const HOSTILE = join(ROOT, 'test/fixtures/upstreams/hostile-server.ts');
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-early-start-'));
const started: number[] = [];

after(() => {
  for (const pid of started) if (alive(pid)) process.kill(-pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Running and not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * A config on `port` whose one server logs each of its starts into `log`; the server ignores SIGTERM
 * and the end of its input (so only a SIGKILL stops it), writing a heartbeat file.
 */
function config(name: string, port: number, log: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: ${port} }\n  stateDir: ${JSON.stringify(join(dir, name))}\n` +
      `servers:\n${stdioServer('hostile', COUNT, [HOSTILE])}    env: { START_LOG: ${JSON.stringify(log)}, HEARTBEAT_FILE: ${JSON.stringify(`${log}.beat`)} }\n`,
  );
  return file;
}

/** The processes logged as started in `log`: their ids. */
function starts(log: string): number[] {
  if (!existsSync(log)) return [];
  const pids = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => Number(l.split(' ')[0]));
  started.push(...pids);
  return pids;
}

test('a server started ahead is the one the gateway talks to, started once', async () => {
  const port = await freePort();
  const log = join(dir, 'adopted.log');
  const gw = spawn(process.execPath, [CLI, 'start', '--json', '--config', config('adopted', port, log)], {
    env: childEnv({ GATEHOUSE_LOG_LEVEL: 'warn' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((r) => gw.once('exit', r));
  let said = '';
  gw.stderr.on('data', (d: Buffer) => (said += d.toString()));
  try {
    // A gateway that exits (a port another test took meanwhile) or never gets ready says why.
    const ready = await eventually(
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200,
      { timeoutMs: 30_000, intervalMs: 100 },
    ).catch((err: Error) => err);
    assert.equal(ready instanceof Error ? ready.message : 'ready', 'ready', `the gateway said: ${said.slice(-2000)}`);
    const pids = starts(log);
    assert.equal(pids.length, 1, `started once: ${pids.join(', ')}`);
    // The one process is the gateway's child, the connection's (initialised and listed: /readyz is 200).
    const children = readFileSync(`/proc/${gw.pid}/task/${gw.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    assert.deepEqual(children, pids);
  } finally {
    gw.kill('SIGTERM'); // it stops its servers, with SIGKILL for one that ignores SIGTERM, then exits
    await exited;
  }
  const [pid] = starts(log);
  await eventually(() => !alive(pid), { timeoutMs: 5000 }).catch(() => undefined);
  assert.ok(!alive(pid), 'the server stopped with the gateway');
});

test('a start that fails after its server started (its state directory cannot be made) stops that server', async () => {
  const log = join(dir, 'failed.log');
  const file = config('failed', 0, log);
  writeFileSync(join(dir, 'failed'), 'a file where the state directory should be');
  const gw = spawn(process.execPath, [CLI, 'start', '--config', file], {
    env: childEnv({ GATEHOUSE_LOG_LEVEL: 'info' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  gw.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise((r) => gw.once('exit', r));
  assert.notEqual(code, 0);
  assert.match(err, /could not start: /);
  // Started ahead (the state directory is made later), as the log says: stopped with the failed start.
  const said = err
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg: string; servers?: Array<{ server: string; pid: number }> })
    .find((l) => l.msg === 'servers started while the gateway starts');
  const pid = said?.servers?.[0]?.pid;
  assert.equal(said?.servers?.[0]?.server, 'hostile', err);
  assert.ok(pid);
  started.push(pid);
  await eventually(() => !alive(pid), { timeoutMs: 5000 }).catch(() => undefined);
  assert.ok(!alive(pid), 'the server started ahead is no longer running');
});

test('a start whose port is taken starts no server at all', async () => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const log = join(dir, 'taken.log');
  try {
    const port = (taken.address() as { port: number }).port;
    const gw = spawn(process.execPath, [CLI, 'start', '--config', config('taken', port, log)], {
      env: childEnv({ GATEHOUSE_LOG_LEVEL: 'silent' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    gw.stderr.on('data', (d: Buffer) => (err += d.toString()));
    assert.equal(await new Promise((r) => gw.once('exit', r)), 1);
    assert.match(err, /could not start: address 127\.0\.0\.1:\d+ is already in use/);
    // A negative within a window, on purpose: a server spawned just before the exit would still log its start.
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(starts(log), []);
  } finally {
    taken.close();
  }
});

test('what an earlier gateway left running is killed before a server starts ahead', async () => {
  const port = await freePort();
  const log = join(dir, 'reaped.log');
  const file = config('reaped', port, log);
  // A server an earlier gateway (gone: its owner is no process) left running, in the registry.
  const leftover = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)'], { detached: true, stdio: 'ignore' });
  started.push(leftover.pid as number);
  const stat = readFileSync(`/proc/${leftover.pid}/stat`, 'utf8');
  const run = join(dir, 'reaped', 'run');
  mkdirSync(run, { recursive: true, mode: 0o700 });
  writeFileSync(
    join(run, 'leftover.json'),
    JSON.stringify({
      id: 'leftover',
      server: 'old',
      tenant: 'default',
      pid: leftover.pid,
      startTime: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19],
      groups: [],
      sandboxed: false,
      owner: { pid: 2 ** 22 + 1, startTime: '1' },
    }),
  );
  writeFileSync(
    file,
    readFileSync(file, 'utf8').replace('HEARTBEAT_FILE:', `CHECK_PID: "${leftover.pid}", HEARTBEAT_FILE:`),
  );
  const gw = spawn(process.execPath, [CLI, 'start', '--config', file], {
    env: childEnv({ GATEHOUSE_LOG_LEVEL: 'warn' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((r) => gw.once('exit', r));
  try {
    const line = await eventually(() => (existsSync(log) ? readFileSync(log, 'utf8').trim() : undefined), {
      timeoutMs: 30_000,
    });
    assert.match(line, / gone$/, 'the leftover was gone when the server started');
    assert.ok(!alive(leftover.pid as number));
  } finally {
    gw.kill('SIGTERM');
    await exited;
  }
});

test('a signal while the gateway starts stops every server it started, ahead or by a connection meanwhile, before it exits', async () => {
  // At several moments of a start: as the server started ahead logs its start, and a little later,
  // when the gateway's connections may be starting theirs. Before, a signal stopped the servers
  // started ahead and exited, while the start went on long enough for a connection to spawn its
  // own: that server (it ignores SIGTERM) was left running.
  for (const delay of [0, 150, 300]) {
    const port = await freePort();
    const log = join(dir, `signalled-${delay}.log`);
    const gw = spawn(process.execPath, [CLI, 'start', '--config', config(`signalled-${delay}`, port, log)], {
      env: childEnv({ GATEHOUSE_LOG_LEVEL: 'warn' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise((r) => gw.once('exit', r));
    await eventually(() => starts(log).length > 0, { timeoutMs: 30_000, intervalMs: 10 });
    await new Promise((r) => setTimeout(r, delay));
    gw.kill('SIGTERM');
    await exited;
    // Whatever it started is gone once it has exited (a SIGKILL for these, which ignore SIGTERM).
    await new Promise((r) => setTimeout(r, 300));
    for (const pid of starts(log)) assert.ok(!alive(pid), `signalled ${delay} ms in: server ${pid} still runs`);
  }
});
