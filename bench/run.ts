/**
 * `npm run bench`: the same load on every path, in one run on this machine — direct to the echo
 * upstream, through a raw node:http relay (the floor for any gateway), through Gatehouse as shipped
 * and through Gatehouse with the whole control plane on (API-key identity, a deny-by-default policy,
 * durable audit, redaction), to an HTTP and a stdio upstream — plus tools/list of 200 tools, cold
 * start, idle RSS and `gatehouse --help`. Every path is measured --reps times, interleaved with the
 * others (so a noisy minute hits all paths alike), and the report gives medians. Writes
 * bench/results/<date>-<id>.{md,json} and bench/results/latest.md, and prints the Markdown (or, with
 * --json, the JSON) on stdout; progress goes to stderr. When a gateway cannot be started the other
 * rows are still measured and written, the report says why, and the exit status is 1.
 *   node bench/run.ts [--quick] [--n 1,16] [--reps 3] [--json] [--against DIR]
 * `--against DIR`: also a gateway from DIR/dist (another build, e.g. a `git worktree` of an earlier
 * commit, built with `node scripts/build.mjs` there) with the whole control plane, measured right
 * after this build's in every repetition; the report adds its rows and the per-repetition ratios.
 *   node bench/run.ts --replicas [--quick] [--n 16]   (two replicas against one, behind nginx)
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { render, type Facts, type Measurement, type PathId, type Result, type Row } from './report.ts';
import { asJavaScript, buildDist, gitCommit } from './machine.ts';
import { freePort } from '../test/support/processes.ts';

const ROOT = join(import.meta.dirname, '..');
// Run as JavaScript, as the gateway runs from dist/ (type stripping would add ~17 MB and start time to each).
const ECHO = asJavaScript(join(ROOT, 'bench/echo-server.ts'));
const RELAY = asJavaScript(join(ROOT, 'bench/relay.ts'));
const LIST_TOOLS = 200;
const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    n: { type: 'string', default: '1,16' },
    reps: { type: 'string' },
    json: { type: 'boolean' },
    replicas: { type: 'boolean' },
    against: { type: 'string' },
  },
});
const AGAINST = opts.against ? resolve(opts.against) : undefined;
if (AGAINST && !existsSync(join(AGAINST, 'dist/cli/main.js'))) {
  process.stderr.write(
    `bench: \`--against ${opts.against}\` has no dist/cli/main.js: build it there first (node scripts/build.mjs)\n`,
  );
  process.exit(2);
}
const ns = opts.n.split(',').map((s) => Number(s.trim()));
if (ns.some((n) => !Number.isInteger(n) || n < 1)) {
  process.stderr.write(`bench: bad \`--n ${opts.n}\`: expected positive integers separated by commas\n`);
  process.exit(2);
}
const REPS = Number(opts.reps ?? (opts.quick ? 1 : 3));
if (!Number.isInteger(REPS) || REPS < 1 || REPS > 20) {
  process.stderr.write(`bench: bad \`--reps ${opts.reps}\`: expected an integer from 1 to 20\n`);
  process.exit(2);
}
const WARMUP_MS = opts.quick ? 500 : 2000;
const MEASURE_MS = opts.quick ? 2000 : 8000;
/**
 * Before the first repetition, every path runs this long at the largest N, unrecorded: V8 keeps
 * optimising a gateway's code for seconds under load (in 2026-12-06-a2dab9, without this round, the
 * whole control plane's CPU per call fell from 266 to 250 to 241 µs over stdio, and from 333 to 305
 * to 293 over HTTP, repetition by repetition), and a gateway runs for days: the repetitions measure it
 * warm, as they do the relay and the upstream.
 */
const ROUND_MS = opts.quick ? 0 : 10_000;
const env: NodeJS.ProcessEnv = { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn' };
delete env.NODE_TEST_CONTEXT;
const say = (message: string) => process.stderr.write(`bench: ${message}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const children = new Set<ChildProcess>();

/** Runs a node script; `ready` sees stdout as it grows and resolves the start once it returns a value. */
function launch<T>(
  args: string[],
  ready: (stdout: string) => T | undefined,
  timeoutMs: number,
): Promise<{ child: ChildProcess; value: T; ms: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  let err = '';
  const stderr = () => err.trim().split('\n').slice(-5).join('\n');
  child.stderr?.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`\`${args.join(' ')}\` not ready after ${timeoutMs} ms ${stderr()}`)),
      timeoutMs,
    );
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const value = ready(out);
      if (value !== undefined) {
        clearTimeout(timer);
        resolve({ child, value, ms: performance.now() - t0 });
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

/** One point of load: where, what, how many clients, whose CPU to read. */
interface Job {
  path: PathId;
  url: string;
  tool: string;
  pid?: number;
  token?: string;
  list?: boolean;
}

async function point(job: Job, n: number, warmupMs = WARMUP_MS, measureMs = MEASURE_MS): Promise<Row> {
  say(`measuring ${job.path} N=${n} ...`);
  const args = [join(ROOT, 'bench/load.ts'), '--url', job.url, '--tool', job.tool, '--clients', String(n)];
  args.push('--warmup', String(warmupMs), '--measure', String(measureMs));
  if (job.pid) args.push('--pid', String(job.pid));
  if (job.token) args.push('--token', job.token);
  if (job.list) args.push('--method', 'tools/list');
  try {
    const { value: m } = await launch(args, (out) => firstJsonLine<Measurement>(out), warmupMs + measureMs + 60_000);
    const cpu = m.cpuUsPerCall === undefined ? '' : `, ${Math.round(m.cpuUsPerCall)} µs CPU/call`;
    say(`  ${Math.round(m.callsPerSec)} calls/s, p50 ${m.p50ms.toFixed(2)} ms, ${m.errors} errors${cpu}`);
    return { path: job.path, n, ...m };
  } catch (err) {
    say(`  failed: ${(err as Error).message}`);
    const failure = (err as Error).message;
    return { path: job.path, n, calls: 0, errors: 0, callsPerSec: 0, p50ms: 0, p99ms: 0, failure };
  }
}

/**
 * A process's resident memory, and the part of it that is its own (anonymous pages: heaps, stacks,
 * caches). The rest is file-backed, mostly the pages of the Node binary's code that ran: shared with
 * every other process running that binary, and dropped by the kernel under pressure.
 */
function memoryMb(pid: number): { idleRssMb: number; idlePrivateMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
  return { idleRssMb: kb('VmRSS'), idlePrivateMb: kb('RssAnon') };
}

/**
 * The gateway's config. `full`: API keys required, a deny-by-default policy that allows exactly the
 * bench's tools, arguments and results kept redacted in the audit trail, durable audit (the default).
 */
function writeConfig(dir: string, port: number, servers: Servers, full: boolean): string {
  mkdirSync(dir, { recursive: true });
  const entries = [
    ...(servers.http ? [`  - { name: echo, transport: http, url: ${JSON.stringify(servers.http)} }`] : []),
    ...(servers.stdio
      ? [
          `  - { name: echo_stdio, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(ECHO)}, "--stdio"] }`,
        ]
      : []),
  ];
  const lines = [
    'version: 1',
    'gateway:',
    `  listen: { host: 127.0.0.1, port: ${port} }`,
    `  stateDir: ${JSON.stringify(join(dir, 'state'))}`,
    ...(entries.length ? ['servers:', ...entries] : ['servers: []']),
  ];
  if (full) {
    writeFileSync(
      join(dir, 'policy.yaml'),
      "rules:\n  - id: bench\n    tools: [echo__echo, echo_stdio__echo, 'echo__tool_*']\n    effect: allow\n",
    );
    lines.push(
      'identity:',
      `  resource: http://127.0.0.1:${port}/mcp`,
      '  apiKeys: true',
      'policy:',
      '  files: [policy.yaml]',
      'audit:',
      '  arguments: redacted',
      '  results: redacted',
    );
  }
  const config = join(dir, 'gatehouse.yaml');
  writeFileSync(config, `${lines.join('\n')}\n`);
  return config;
}

/** An API key for the full gateway, made with its build's CLI as an operator would. */
function apiKey(config: string, root: string): string {
  const out = execFileSync(
    process.execPath,
    ['dist/cli/main.js', 'keys', 'create', '-n', 'bench', '-t', 'default', '-r', 'agent', '-c', config, '--json'],
    { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return (JSON.parse(out.toString()) as { key: string }).key;
}

/** The upstreams a gateway is configured with: the HTTP echo server at its URL, the stdio one it spawns. */
interface Servers {
  http?: string;
  stdio?: boolean;
}

interface Gateway {
  child: ChildProcess;
  base: string;
  coldStartMs: number;
  token?: string;
}

/** Starts `gatehouse start` from `root`'s dist/ and waits for GET /readyz to answer 200 (every upstream connected). */
async function startGateway(dir: string, servers: Servers, full: boolean, root = ROOT): Promise<Gateway> {
  const port = await freePort();
  const config = writeConfig(dir, port, servers, full);
  const token = full ? apiKey(config, root) : undefined;
  const t0 = performance.now();
  const child = spawn(process.execPath, ['dist/cli/main.js', 'start', '--config', config], {
    cwd: root,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const deadline = t0 + 30_000;
  while (performance.now() < deadline && !exited()) {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(
      () => undefined,
    );
    await res?.body?.cancel();
    if (res?.status === 200)
      return { child, base: `http://127.0.0.1:${port}`, coldStartMs: performance.now() - t0, token };
    await sleep(20);
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

/** `gatehouse --help` from dist/: the median wall time of five runs (after one that fills the compile cache). */
function helpMs(): number {
  const times: number[] = [];
  for (let i = 0; i < 6; i++) {
    const t0 = performance.now();
    execFileSync(process.execPath, ['dist/cli/main.js', '--help'], { cwd: ROOT, env, stdio: 'ignore' });
    if (i > 0) times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[2];
}

/**
 * Starts with one kind of upstream at a time, or none (the gateway's own start: the stdio echo server
 * takes about as long to start as the gateway): a fresh state directory each, started three times;
 * the median cold start, and the idle RSS 1 s after it was ready.
 */
async function startsWith(
  dir: string,
  label: string,
  servers: Servers,
): Promise<{ coldStartMs: number; idleRssMb: number; idlePrivateMb: number } | undefined> {
  const runs: Array<{ coldStartMs: number; idleRssMb: number; idlePrivateMb: number }> = [];
  try {
    for (let i = 0; i < 3; i++) {
      const gw = await startGateway(join(dir, `start-${i}`), servers, false);
      await sleep(1000);
      runs.push({ coldStartMs: gw.coldStartMs, ...memoryMb(gw.child.pid ?? 0) });
      await stop(gw.child);
    }
  } catch (err) {
    say(`gatehouse ${label} could not be started: ${(err as Error).message}`);
    return undefined;
  }
  const mid = (xs: number[]) => xs.sort((a, b) => a - b)[1];
  const r = {
    coldStartMs: mid(runs.map((x) => x.coldStartMs)),
    idleRssMb: mid(runs.map((x) => x.idleRssMb)),
    idlePrivateMb: mid(runs.map((x) => x.idlePrivateMb)),
  };
  say(`  gatehouse ${label}: ready in ${Math.round(r.coldStartMs)} ms, idle RSS ${r.idleRssMb.toFixed(1)} MB`);
  return r;
}

/** Starts a gateway and records its start; a gateway that cannot start is reported, not fatal. */
async function tryGateway(
  dir: string,
  echoUrl: string,
  full: boolean,
  root = ROOT,
): Promise<{ gw?: Gateway; facts: Facts['gateway'] }> {
  const kind = full ? 'whole control plane' : 'as shipped';
  const name = root === ROOT ? `gatehouse (${kind})` : `the other build (${root}, ${kind})`;
  say(`starting ${name}`);
  try {
    const gw = await startGateway(dir, { http: echoUrl, stdio: true }, full, root);
    await sleep(1000);
    const facts = { started: true as const, coldStartMs: gw.coldStartMs, ...memoryMb(gw.child.pid ?? 0) };
    say(`  ready in ${Math.round(facts.coldStartMs)} ms, idle RSS ${facts.idleRssMb.toFixed(1)} MB`);
    return { gw, facts };
  } catch (err) {
    say(`${name} could not be started: ${(err as Error).message}`);
    return { facts: { started: false, error: (err as Error).message } };
  }
}

/** The jobs of one repetition: every call path, then the listings (at the largest N). */
function jobsOf(
  echoUrl: string,
  relayUrl: string,
  relayPid: number,
  plain?: Gateway,
  full?: Gateway,
  against?: Gateway,
): Job[] {
  const jobs: Job[] = [
    { path: 'direct', url: echoUrl, tool: 'echo' },
    { path: 'relay', url: relayUrl, tool: 'echo', pid: relayPid },
  ];
  for (const [gw, http, stdio] of [
    [plain, 'gatehouse-http', 'gatehouse-stdio'],
    [full, 'full-http', 'full-stdio'],
    [against, 'against-http', 'against-stdio'],
  ] as const) {
    if (!gw) continue;
    const common = { url: `${gw.base}/mcp`, pid: gw.child.pid, token: gw.token };
    jobs.push({ ...common, path: http, tool: 'echo__echo' }, { ...common, path: stdio, tool: 'echo_stdio__echo' });
  }
  return jobs;
}

function listJobs(echoUrl: string, plain?: Gateway, full?: Gateway): Job[] {
  const jobs: Job[] = [{ path: 'list-direct', url: echoUrl, tool: '', list: true }];
  if (plain)
    jobs.push({
      path: 'list-gatehouse',
      url: `${plain.base}/servers/echo/mcp`,
      tool: '',
      list: true,
      pid: plain.child.pid,
    });
  if (full) {
    const url = `${full.base}/servers/echo/mcp`;
    jobs.push({ path: 'list-full', url, tool: '', list: true, pid: full.child.pid, token: full.token });
  }
  return jobs;
}

async function measureAll(dir: string): Promise<{ rows: Row[]; facts: Partial<Facts> }> {
  const rows: Row[] = [];
  say(
    `starting the echo upstream (${REPS} repetition(s); ${WARMUP_MS} ms warm-up, ${MEASURE_MS} ms measured per point)`,
  );
  const echo = await launch(
    [ECHO, '--tools', String(LIST_TOOLS)],
    (out) => firstJsonLine<{ url: string }>(out),
    15_000,
  );
  const relay = await launch(
    [RELAY, '--upstream', echo.value.url],
    (out) => firstJsonLine<{ url: string }>(out),
    15_000,
  );
  const relayPid = relay.child.pid ?? 0;
  await sleep(500);
  const relayFacts = { coldStartMs: relay.ms, ...memoryMb(relayPid) };
  say('building dist/');
  // What operators run: the built JavaScript (type stripping alone costs ~27 MB of RSS).
  buildDist();
  const help = helpMs();
  say(`gatehouse --help: ${Math.round(help)} ms`);
  const bare = await startsWith(join(dir, 'bare'), 'without servers', {});
  const withStdio = await startsWith(join(dir, 'stdio-only'), 'with the stdio upstream only', { stdio: true });
  const withHttp = await startsWith(join(dir, 'http-only'), 'with the HTTP upstream only', { http: echo.value.url });
  const plain = await tryGateway(join(dir, 'plain'), echo.value.url, false);
  const full = await tryGateway(join(dir, 'full'), echo.value.url, true);
  const against = AGAINST ? await tryGateway(join(dir, 'against'), echo.value.url, true, AGAINST) : undefined;
  const jobs = jobsOf(echo.value.url, relay.value.url, relayPid, plain.gw, full.gw, against?.gw);
  const largest = Math.max(...ns);
  if (ROUND_MS) {
    say(`warm-up round: every path ${ROUND_MS} ms at N=${largest}, not recorded`);
    for (const job of jobs) await point(job, largest, ROUND_MS, 1000);
  }
  for (let rep = 1; rep <= REPS; rep++) {
    say(`repetition ${rep} of ${REPS}`);
    for (const n of ns) for (const job of jobs) rows.push(await point(job, n));
    for (const job of listJobs(echo.value.url, plain.gw, full.gw)) rows.push(await point(job, largest));
  }
  return {
    rows,
    facts: {
      gateway: plain.facts,
      full: full.facts,
      ...(AGAINST ? { against: against?.facts, againstCommit: gitCommit(AGAINST) } : {}),
      relay: relayFacts,
      helpMs: help,
      bare,
      withStdio,
      withHttp,
    },
  };
}

/** The run's scratch directory (configs, state), removed at the end, or when the run is stopped. */
let scratch: string | undefined;

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
  scratch = dir;
  let measured: { rows: Row[]; facts: Partial<Facts> } = {
    rows: [],
    facts: { gateway: { started: false, error: 'not attempted' } },
  };
  try {
    measured = await measureAll(dir);
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
    roundMs: ROUND_MS,
    reps: REPS,
    gateway: { started: false, error: 'not attempted' },
    ...measured.facts,
  };
  const result: Result = { facts, rows: measured.rows };
  const markdown = render(result);
  const results = join(ROOT, 'bench/results');
  mkdirSync(results, { recursive: true });
  const name = `${facts.date}-${facts.id}`;
  writeFileSync(join(results, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(results, `${name}.md`), markdown);
  writeFileSync(join(results, 'latest.md'), markdown);
  say(`wrote bench/results/${name}.md, .json and latest.md`);
  process.stdout.write(opts.json ? `${JSON.stringify(result)}\n` : markdown);
  return facts.gateway.started && facts.full?.started !== false && facts.against?.started !== false ? 0 : 1;
}

// Stopped (Ctrl-C, kill): what this run started goes with it (--replicas cleans up after itself).
if (!opts.replicas)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      // The scratch directory holds the gateways' state: removed once they have stopped writing to it.
      void Promise.all([...children].map((c) => stop(c))).then(() => {
        if (scratch) rmSync(scratch, { recursive: true, force: true });
        process.exit(130);
      });
    });
  }
// --replicas: two replicas against one behind nginx (bench/replicas.ts), instead of the paths above.
process.exitCode = opts.replicas
  ? await (await import('./replicas.ts')).runReplicas({
      quick: Boolean(opts.quick),
      ns: process.argv.includes('--n') ? ns : [16],
    })
  : await main();
