/**
 * The newcomer's path, with real processes: `node bin/gatehouse.js` on the machine's Node 20 runs
 * itself again under Node 24 (help, exit status, a real SDK client over `gatehouse stdio`, signals);
 * `npm pack` makes a package whose bin runs from dist/; a start that fails (port taken) spawns no
 * upstream and leaves an audit trail that verifies; a missing package's npm error is in the log at
 * info, and no log line names its upstream twice.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { EVERYTHING, ROOT, startCli } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';

const NODE20 = '/usr/bin/node';
const BIN = join(ROOT, 'bin/gatehouse.js');
const CLI = join(ROOT, 'src/cli/main.ts');
const old = spawnSync(NODE20, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout?.trim();
const skipOld = !old || Number(old.split('.')[0]) >= 24 ? `no Node older than 24 at ${NODE20}` : false;

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-newcomer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function env(extra: Record<string, string> = {}): Record<string, string> {
  const e = { ...process.env, ...extra } as Record<string, string>;
  delete e.NODE_TEST_CONTEXT;
  return e;
}

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function collect(child: ChildProcess): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((res) => child.once('close', (code, signal) => res({ code, signal, stdout, stderr })));
}

function run(cmd: string, args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Promise<Ran> {
  return collect(spawn(cmd, args, { env: opts.env ?? env(), cwd: opts.cwd ?? dir, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** Resolves with the first stdout (or stderr) text that matches, or rejects after `ms`. */
function waitFor(child: ChildProcess, stream: 'stdout' | 'stderr', re: RegExp, ms = 30_000): Promise<RegExpMatchArray> {
  return new Promise((res, rej) => {
    let text = '';
    const timer = setTimeout(() => rej(new Error(`no ${re} on ${stream} within ${ms} ms:\n${text}`)), ms);
    child[stream]!.on('data', (d: Buffer) => {
      text += d.toString();
      const m = text.match(re);
      if (m) {
        clearTimeout(timer);
        res(m);
      }
    });
  });
}

const everything = (name: string) =>
  `  - name: ${name}\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(EVERYTHING)}, stdio]\n`;

function config(name: string, servers: string, port = 0): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: ${port} }\n  stateDir: ${JSON.stringify(join(dir, `state-${name}`))}\nservers:\n${servers}`,
  );
  return file;
}

/** The children of a process (Linux). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

test('Node 20: `node bin/gatehouse.js --help` runs under Node 24; the exit status passes through', {
  skip: skipOld,
}, async () => {
  const help = await run(NODE20, [BIN, '--help']);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /Usage: gatehouse/);
  assert.doesNotMatch(help.stderr, /ERR_UNKNOWN_FILE_EXTENSION/);
  const missing = await run(NODE20, [BIN, 'config', 'validate', join(dir, 'nope.yaml')]);
  assert.equal(missing.code, 2, 'a usage error is still 2');
  assert.match(missing.stderr, /nope\.yaml` not found/);
});

test('Node 20: `npx gatehouse` in the checkout, and `npx --prefix <checkout> gatehouse` anywhere else, run this gatehouse', {
  skip: skipOld,
}, async () => {
  const node20 = env({ PATH: `/usr/bin:/bin:${process.env.PATH}` });
  const inside = await run('npx', ['gatehouse', '--version'], { cwd: ROOT, env: node20 });
  assert.equal(inside.code, 0, inside.stderr);
  assert.equal(inside.stdout.trim(), '0.1.0');
  const outside = await run(
    'npx',
    ['--prefix', ROOT, 'gatehouse', 'config', 'validate', join(ROOT, 'examples/quickstart.yaml')],
    { cwd: dir, env: node20 },
  );
  assert.equal(outside.code, 0, outside.stderr);
  assert.match(outside.stdout, /quickstart\.yaml: valid \(2 servers\)/);
});

test('Node 20: a desktop client runs `node bin/gatehouse.js stdio` (SDK v1 client, command /usr/bin/node) and lists and calls tools', {
  skip: skipOld,
}, async () => {
  const file = config('stdio', everything('everything'));
  const client = new Client({ name: 'newcomer', version: '1' });
  await client.connect(
    new StdioClientTransport({
      command: NODE20,
      args: [BIN, 'stdio', '--config', file],
      env: env({ GATEHOUSE_LOG_LEVEL: 'warn' }),
      stderr: 'ignore',
    }),
  );
  try {
    const { tools } = await client.listTools();
    assert.ok(
      tools.some((t) => t.name === 'everything__echo'),
      tools.map((t) => t.name).join(','),
    );
    const r = await client.callTool({ name: 'everything__echo', arguments: { message: 'from node 20' } });
    assert.deepEqual(r.content, [{ type: 'text', text: 'Echo: from node 20' }]);
  } finally {
    await client.close();
  }
});

test("the README's desktop-client snippet works as written: `node` found on a PATH whose Node is 20, absolute paths", {
  skip: skipOld,
}, async () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const block = readme.match(/```json\n(\{\n {2}"mcpServers"[\s\S]*?)```/)?.[1];
  assert.ok(block, 'a desktop-client snippet in the README');
  const server = (
    JSON.parse(block.replaceAll('/path/to/gatehouse', ROOT)) as {
      mcpServers: Record<string, { command: string; args: string[]; env?: Record<string, string> }>;
    }
  ).mcpServers.gatehouse;
  assert.equal(server.command, 'node');
  assert.deepEqual(server.args.slice(0, 3), [BIN, 'stdio', '--config']);
  assert.ok(existsSync(server.args[3]), server.args[3]);
  // The README's config is the quickstart (sandboxed, the repository's state): the same command with a test config.
  const args = [...server.args.slice(0, 3), config('desktop', everything('everything'))];
  const client = new Client({ name: 'desktop', version: '1' });
  const transport = new StdioClientTransport({
    command: server.command,
    args,
    env: { PATH: '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...server.env },
    stderr: 'ignore',
  });
  await client.connect(transport);
  try {
    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === 'everything__echo'));
  } finally {
    await client.close();
  }
});

test('Node 20: SIGTERM reaches the gateway (a clean stop: the audit chain verifies); a child killed by a signal kills the launcher the same way', {
  skip: skipOld,
}, async () => {
  const file = config('signals', everything('everything'));
  const child = spawn(NODE20, [BIN, 'start', '--json', '--config', file], {
    env: env(),
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const done = collect(child);
  await waitFor(child, 'stdout', /"url":"http:\/\/127\.0\.0\.1:\d+\/mcp"/);
  assert.equal(childrenOf(child.pid!).length, 1, 'the launcher runs one Node 24 child');
  child.kill('SIGTERM');
  const r = await done;
  assert.equal(r.code, 0, `${r.signal} ${r.stderr}`);
  const verify = await run(process.execPath, [CLI, 'audit', 'verify', '--config', file]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.match(verify.stdout, /the chain is intact/);

  const stdio = spawn(NODE20, [BIN, 'stdio', '--config', file], {
    env: env({ GATEHOUSE_LOG_LEVEL: 'silent' }),
    cwd: dir,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const ended = collect(stdio);
  const inner = await eventually(() => {
    const found = childrenOf(stdio.pid!);
    return found.length > 0 && found;
  });
  assert.equal(inner.length, 1);
  process.kill(inner[0], 'SIGKILL');
  const k = await ended;
  assert.equal(k.signal, 'SIGKILL', `exit ${k.code}`);
});

test('`gatehouse stdio` stopped with SIGTERM (as a client that stops waiting does) stops cleanly: exit 0, its audit stream closed', async () => {
  const file = config('stdio-term', everything('everything'));
  const child = spawn(process.execPath, [CLI, 'stdio', '--config', file], {
    env: env({ GATEHOUSE_LOG_LEVEL: 'silent' }),
    cwd: dir,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const done = collect(child);
  const init = { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } };
  child.stdin!.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: init })}\n`);
  await waitFor(child, 'stdout', /"id":1,"result"/);
  child.kill('SIGTERM');
  const r = await done;
  assert.deepEqual([r.code, r.signal], [0, null], r.stderr);
  const closed = await run(process.execPath, [CLI, 'audit', 'search', '--kind', 'stream.closed', '--json', '-c', file]);
  assert.equal(closed.code, 0, closed.stderr);
  assert.match(closed.stdout, /stream\.closed/, 'the stream was closed, as a clean stop does');
  const verify = await run(process.execPath, [CLI, 'audit', 'verify', '--config', file]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});

/** Every process below `pid`, deepest last (Linux). */
function descendantsOf(pid: number): number[] {
  return childrenOf(pid).flatMap((c) => [c, ...descendantsOf(c)]);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * SIGTERM to npm's own process, as `kill` or a process manager sends it; every process that was below
 * it (`tree`) must be gone within 15 s. What is left is reported, then killed.
 */
async function stopNpm(npm: ChildProcess, exited: Promise<unknown>, tree: number[]): Promise<void> {
  try {
    npm.kill('SIGTERM');
    await exited;
    const left = await eventually(() => tree.every((pid) => !alive(pid)), { timeoutMs: 15_000 }).catch(() =>
      tree.filter(alive),
    );
    assert.equal(left, true, `still running after npm stopped: ${JSON.stringify(left)}`);
  } finally {
    for (const pid of tree.filter(alive)) process.kill(pid, 'SIGKILL');
  }
}

test('`npm start` stopped with SIGTERM (kill, a process manager) stops the gateway and its servers; every long-running npm script is `exec node`', async () => {
  // npm runs a script as `sh -c <script>` and signals only that shell: a script that is not
  // `exec node ...` leaves the node process (and the gateway it launched) running, port and all.
  const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
    .scripts;
  for (const name of ['start', 'test', 'test:unit', 'bench', 'conformance', 'schema'])
    assert.match(scripts[name], /^exec node /, `the \`${name}\` script`);

  const file = config('npm-start', everything('everything'));
  const npm = spawn('npm', ['start', '--', '--config', file, '--json'], {
    env: env(),
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // 'exit', not 'close': what npm leaves running holds its pipes open.
  const exited = new Promise((res) => npm.once('exit', res));
  const [, url] = await waitFor(npm, 'stdout', /"url":"(http:\/\/127\.0\.0\.1:\d+\/mcp)"/, 120_000);
  const tree = await eventually(() => {
    const below = descendantsOf(npm.pid!);
    return below.length >= 3 && below; // the launcher, the gateway under Node 24, its server
  });
  await stopNpm(npm, exited, tree);
  await assert.rejects(fetch(url.replace('/mcp', '/healthz')), 'nothing listens any more');
  const verify = await run(process.execPath, [CLI, 'audit', 'verify', '--config', file]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});

test('`npm test` stopped with SIGTERM stops the test runner and the tests it runs', async () => {
  const pidFile = join(dir, 'sleeper.pid');
  const npm = spawn('npm', ['test', '--', join(ROOT, 'test/fixtures/sleeper.ts')], {
    env: env({ SLEEPER_PID_FILE: pidFile }),
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((res) => npm.once('exit', res));
  const sleeper = await eventually(() => existsSync(pidFile) && Number(readFileSync(pidFile, 'utf8')), {
    timeoutMs: 60_000,
  });
  const tree = descendantsOf(npm.pid!);
  assert.ok(tree.includes(sleeper), 'the test runs below npm');
  await stopNpm(npm, exited, tree);
});

test('npm pack: the package lists bin/ and what bin needs; its bin runs dist/ (on Node 20 too)', async () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
    files: string[];
    scripts: Record<string, string>;
  };
  assert.equal(pkg.bin.gatehouse, 'bin/gatehouse.js');
  assert.ok(pkg.files.includes('dist') && /npm run build/.test(pkg.scripts.prepack), 'dist/ is built when packing');
  // --ignore-scripts: the listing, without building dist/ in a shared checkout.
  const pack = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: env(),
  });
  assert.equal(pack.status, 0, pack.stderr);
  const files = (JSON.parse(pack.stdout) as Array<{ files: Array<{ path: string }> }>)[0].files.map((f) => f.path);
  for (const f of ['bin/gatehouse.js', 'bin/node24.js', 'package.json', 'README.md', 'examples/quickstart.yaml'])
    assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
  assert.ok(
    !files.some((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('.tools/')),
    'no sources, tests or tools',
  );

  // An installed copy: the packed files, dist/ built from src, dependencies beside it. Under a folder
  // with a space and a non-ASCII letter, as a home folder may be: the built entry resolves the
  // bundle's chunks by URL itself (scripts/build.mjs), and a chunk reached by two spellings of its
  // URL would load twice.
  const nm = join(dir, 'Program Files é/node_modules');
  const at = join(nm, 'gatehouse');
  mkdirSync(at, { recursive: true });
  for (const f of files.filter((p) => !p.startsWith('dist/'))) cpSync(join(ROOT, f), join(at, f));
  const build = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--outdir', join(at, 'dist/cli')], {
    encoding: 'utf8',
  });
  assert.ok(existsSync(join(at, 'dist/cli/main.js')), build.stdout + build.stderr);
  for (const d of readdirSync(join(ROOT, 'node_modules')))
    if (!d.startsWith('.')) symlinkSync(join(ROOT, 'node_modules', d), join(nm, d));
  const on24 = await run(process.execPath, [join(at, 'bin/gatehouse.js'), '--help']);
  assert.equal(on24.code, 0, on24.stderr);
  assert.match(on24.stdout, /Usage: gatehouse/);
  if (!skipOld) {
    const on20 = await run(NODE20, [join(at, 'bin/gatehouse.js'), 'init', join(dir, 'from-package.yaml')], {
      env: env({ GATEHOUSE_NODE: process.execPath }),
    });
    assert.equal(on20.code, 0, on20.stderr);
    assert.match(readFileSync(join(dir, 'from-package.yaml'), 'utf8'), /^version: 1$/m);
  }

  // dist/ is a bundle (scripts/build.mjs): a gateway from it serves a call end to end, its audit
  // records go through the writer thread (power-loss durability: a file of its own in dist/), and the
  // trail verifies with the packed CLI.
  const bin = join(at, 'bin/gatehouse.js');
  const home = join(dir, 'packed-gateway');
  mkdirSync(home);
  const gw = await startCli(
    `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: 0 }\n  stateDir: ${JSON.stringify(join(home, 'state'))}\naudit:\n  durability: power-loss\nservers:\n${everything('everything')}`,
    home,
    bin,
  );
  try {
    const client = new Client({ name: 'packed', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
    const r = await client.callTool({ name: 'everything__echo', arguments: { message: 'from the bundle' } });
    assert.deepEqual(r.content, [{ type: 'text', text: 'Echo: from the bundle' }]);
    await client.close();
  } finally {
    await gw.stop();
  }
  const verify = await run(process.execPath, [bin, 'audit', 'verify', '--config', gw.file]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  const calls = await run(process.execPath, [
    bin,
    'audit',
    'search',
    '--tool',
    'everything__echo',
    '--kind',
    'call.outcome',
    '--json',
    '--config',
    gw.file,
  ]);
  assert.match(calls.stdout, /"outcome": ?"ok"/, calls.stdout + calls.stderr);
});

let taken: Server;
before(async () => {
  taken = createServer();
  await new Promise<void>((res) => taken.listen(0, '127.0.0.1', res));
});
after(() => taken.close());

test('a start that fails (port taken) spawns no upstream, and `audit verify` finds nothing wrong; its progress is in lines off a terminal', async () => {
  const port = (taken.address() as { port: number }).port;
  const marker = join(dir, 'upstream-started');
  const spy = `  - name: spy\n    transport: stdio\n    command: /bin/sh\n    args: ["-c", ${JSON.stringify(`echo started >> ${marker}; exec ${process.execPath} ${EVERYTHING} stdio`)}]\n`;
  const file = config('taken', spy, port);
  const r = await run(process.execPath, [CLI, 'start', '--config', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`could not start: address 127\\.0\\.0\\.1:${port} is already in use`));
  // A negative within a window, on purpose: a server spawned just before the exit would still write its marker.
  await new Promise((res) => setTimeout(res, 500));
  assert.equal(existsSync(marker), false, 'no upstream was started');
  const verify = await run(process.execPath, [CLI, 'audit', 'verify', '--config', file]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.match(verify.stdout, /^\d+ records in 1 streams: the chain is intact$/m);
  assert.doesNotMatch(verify.stderr, /\r/);
  assert.match(verify.stderr, /^verified \d+ records\n$/m);
});

test("a missing package: npm's own error is in the log at info and in the upstream's error; one `upstream` key per line", async () => {
  const ghost = `  - name: ghost\n    transport: stdio\n    command: npx\n    args: ["--no", "mcp-server-gatehouse-does-not-exist"]\n    env: { npm_config_offline: "true" }\n`;
  const file = config('ghost', ghost);
  const child = spawn(process.execPath, [CLI, 'start', '--config', file], {
    env: env(),
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const done = collect(child);
  await waitFor(child, 'stderr', /upstream handshake failed/);
  child.kill('SIGTERM');
  const r = await done;
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('{'));
  for (const l of lines) assert.ok((l.match(/"upstream":/g) ?? []).length <= 1, `duplicate key in ${l}`);
  const logs = lines.map((l) => JSON.parse(l) as { level: number; msg: string; stderr?: string; err?: string });
  assert.ok(
    logs.some((l) => l.msg === 'upstream stderr' && l.level === 30 && /ENOTCACHED/.test(l.stderr ?? '')),
    r.stderr,
  );
  const failed = logs.find((l) => l.msg === 'upstream handshake failed');
  assert.match(failed?.err ?? '', /its stderr: npm error code ENOTCACHED/);
  const inv = await run(process.execPath, [CLI, 'inventory', '--refresh', '--config', file]);
  assert.match(inv.stderr, /ghost: not reachable \(down\): .*its stderr: npm error code ENOTCACHED/);
});
