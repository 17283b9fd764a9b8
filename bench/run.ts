/**
 * `npm run bench`: the direct baseline (load -> echo upstream) against the same load through
 * Gatehouse (to the echo upstream over Streamable HTTP, and over stdio), at N = 1, 16, 64 concurrent
 * sessions, in one run on this machine. Writes bench/results/<date>-<id>.{md,json} and
 * bench/results/latest.md, and prints the Markdown (or, with --json, the JSON) on stdout; progress
 * goes to stderr. When Gatehouse cannot be started the direct rows are still measured and written,
 * the report says why, and the exit status is 1.
 *   node bench/run.ts [--quick] [--n 1,16,64] [--json]
 *   node bench/run.ts --replicas [--quick] [--n 16]   (two replicas against one, behind nginx)
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { render, type Facts, type Measurement, type PathId, type Result, type Row } from './report.ts';

const ROOT = join(import.meta.dirname, '..');
const ECHO = join(ROOT, 'bench/echo-server.ts');
const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    n: { type: 'string', default: '1,16,64' },
    json: { type: 'boolean' },
    replicas: { type: 'boolean' },
  },
});
const ns = opts.n.split(',').map((s) => Number(s.trim()));
if (ns.some((n) => !Number.isInteger(n) || n < 1)) {
  process.stderr.write(`bench: bad \`--n ${opts.n}\`: expected positive integers separated by commas\n`);
  process.exit(2);
}
const WARMUP_MS = opts.quick ? 500 : 2000;
const MEASURE_MS = opts.quick ? 2000 : 8000;
const env: NodeJS.ProcessEnv = { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn' };
delete env.NODE_TEST_CONTEXT;
const say = (message: string) => process.stderr.write(`bench: ${message}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const children = new Set<ChildProcess>();
const LABELS: Record<PathId, string> = {
  direct: 'direct',
  'gatehouse-http': 'gatehouse -> HTTP upstream',
  'gatehouse-stdio': 'gatehouse -> stdio upstream',
};

/** Runs a node script; `ready` sees stdout as it grows and resolves the start once it returns a value. */
function launch<T>(
  args: string[],
  ready: (stdout: string) => T | undefined,
  timeoutMs: number,
): Promise<{ child: ChildProcess; value: T; stderr: () => string }> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  let err = '';
  const stderr = () => err.trim().split('\n').slice(-5).join('\n');
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`\`${args.join(' ')}\` not ready after ${timeoutMs} ms ${stderr()}`)),
      timeoutMs,
    );
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const value = ready(out);
      if (value !== undefined) {
        clearTimeout(timer);
        resolve({ child, value, stderr });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`\`${args.slice(0, 2).join(' ')}\` exited (${signal ?? code}): ${stderr() || 'no output'}`));
    });
  });
}

const firstJsonLine = <T>(out: string): T | undefined => {
  const line = out.split('\n').find((l, i, all) => i < all.length - 1 && l.startsWith('{'));
  return line ? (JSON.parse(line) as T) : undefined;
};

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  if ((await Promise.race([exited.then(() => true), sleep(5000).then(() => false)])) === false) child.kill('SIGKILL');
}

async function measure(url: string, tool: string, n: number, pid?: number): Promise<Measurement> {
  const args = [
    join(ROOT, 'bench/load.ts'),
    '--url',
    url,
    '--tool',
    tool,
    '--clients',
    String(n),
    '--warmup',
    String(WARMUP_MS),
    '--measure',
    String(MEASURE_MS),
  ];
  if (pid) args.push('--pid', String(pid));
  const { value } = await launch(args, (out) => firstJsonLine<Measurement>(out), WARMUP_MS + MEASURE_MS + 60_000);
  return value;
}

async function point(path: PathId, url: string, tool: string, n: number, pid?: number): Promise<Row> {
  say(`measuring ${LABELS[path]} N=${n} ...`);
  try {
    const m = await measure(url, tool, n, pid);
    const gw =
      m.cpuUsPerCall === undefined
        ? ''
        : `, gateway ${Math.round(m.cpuUsPerCall)} µs CPU/call, RSS peak ${m.rssPeakMb?.toFixed(1)} MB`;
    say(
      `  ${Math.round(m.callsPerSec)} calls/s, p50 ${m.p50ms.toFixed(2)} ms, p99 ${m.p99ms.toFixed(2)} ms, ${m.errors} errors${gw}`,
    );
    return { path, n, ...m };
  } catch (err) {
    say(`  failed: ${(err as Error).message}`);
    return { path, n, calls: 0, errors: 0, callsPerSec: 0, p50ms: 0, p99ms: 0, failure: (err as Error).message };
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/** Starts `gatehouse start` from the source and waits for GET /readyz to answer 200. */
async function startGateway(
  dir: string,
  echoUrl: string,
): Promise<{ child: ChildProcess; url: string; coldStartMs: number }> {
  const port = await freePort();
  const config = join(dir, 'gatehouse.yaml');
  writeFileSync(
    config,
    [
      'version: 1',
      'gateway:',
      `  listen: { host: 127.0.0.1, port: ${port} }`,
      `  stateDir: ${JSON.stringify(join(dir, 'state'))}`,
      'servers:',
      `  - { name: echo, transport: http, url: ${JSON.stringify(echoUrl)} }`,
      `  - { name: echo_stdio, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(ECHO)}, "--stdio"] }`,
      '',
    ].join('\n'),
  );
  // Measure what operators run: the built JavaScript (dist/), not the TypeScript source (type
  // stripping alone costs ~27 MB of RSS).
  execFileSync(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')],
    { stdio: 'inherit' },
  );
  const t0 = performance.now();
  const child = spawn(process.execPath, ['dist/cli/main.js', 'start', '--config', config], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const deadline = t0 + 30_000;
  while (performance.now() < deadline && !exited()) {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(
      () => undefined,
    );
    await res?.body?.cancel();
    if (res?.status === 200) return { child, url: `http://127.0.0.1:${port}/mcp`, coldStartMs: performance.now() - t0 };
    await sleep(50);
  }
  const lines = err
    .trim()
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const tail = lines.find((l) => /^(\w*Error\b|gatehouse:)/.test(l)) ?? lines.slice(-3).join(' / ');
  await stop(child);
  throw new Error(
    exited()
      ? `\`gatehouse start\` exited with ${child.exitCode ?? child.signalCode}: ${tail || 'no output'}`
      : `\`/readyz\` not 200 within 30 s${tail ? `: ${tail}` : ''}`,
  );
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
  const rows: Row[] = [];
  let gateway: Facts['gateway'] = { started: false, error: 'not attempted' };
  try {
    say(`starting the echo upstream (${WARMUP_MS} ms warm-up, ${MEASURE_MS} ms measured per point)`);
    const echo = await launch([ECHO], (out) => firstJsonLine<{ url: string }>(out), 15_000);
    for (const n of ns) rows.push(await point('direct', echo.value.url, 'echo', n));
    say('starting gatehouse');
    try {
      const gw = await startGateway(dir, echo.value.url);
      await sleep(1000);
      const pid = gw.child.pid!;
      gateway = { started: true, coldStartMs: gw.coldStartMs, idleRssMb: rssMb(pid) };
      say(`  ready in ${Math.round(gw.coldStartMs)} ms, idle RSS ${gateway.idleRssMb.toFixed(1)} MB`);
      for (const n of ns) rows.push(await point('gatehouse-http', gw.url, 'echo__echo', n, pid));
      for (const n of ns) rows.push(await point('gatehouse-stdio', gw.url, 'echo_stdio__echo', n, pid));
      await stop(gw.child);
    } catch (err) {
      gateway = { started: false, error: (err as Error).message };
      say(`gatehouse could not be started: ${gateway.error}`);
    }
  } finally {
    await Promise.all([...children].map((c) => stop(c)));
    rmSync(dir, { recursive: true, force: true });
  }
  const facts: Facts = {
    date: new Date().toISOString().slice(0, 10),
    id: randomBytes(3).toString('hex'),
    commit: gitCommit(),
    node: process.version,
    cores: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    warmupMs: WARMUP_MS,
    measureMs: MEASURE_MS,
    gateway,
  };
  const result: Result = { facts, rows };
  const markdown = render(result);
  const results = join(ROOT, 'bench/results');
  mkdirSync(results, { recursive: true });
  const name = `${facts.date}-${facts.id}`;
  writeFileSync(join(results, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(results, `${name}.md`), markdown);
  writeFileSync(join(results, 'latest.md'), markdown);
  say(`wrote bench/results/${name}.md, .json and latest.md`);
  process.stdout.write(opts.json ? `${JSON.stringify(result)}\n` : markdown);
  return facts.gateway.started ? 0 : 1;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const c of children) c.kill('SIGTERM');
    process.exit(130);
  });
}
// --replicas: two replicas against one behind nginx (bench/replicas.ts), instead of the paths above.
process.exitCode = opts.replicas
  ? await (await import('./replicas.ts')).runReplicas({
      quick: Boolean(opts.quick),
      ns: process.argv.includes('--n') ? ns : [16],
    })
  : await main();
