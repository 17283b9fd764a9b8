/**
 * `npm run bench`: direct client -> echo upstream versus client -> Gatehouse -> the same upstream (over
 * Streamable HTTP, and over stdio), at several concurrencies, in one run on this machine. Reports
 * calls/s, p50/p99 latency, ratios to direct, gateway CPU µs per call and gateway RSS, and writes
 * bench/results/<date>.{md,json} and bench/results/latest.md. Options: --quick, --n 1,16,64, --json.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const asJson = args.includes('--json');
const ns = (args[args.indexOf('--n') + 1] && args.includes('--n') ? args[args.indexOf('--n') + 1] : '1,16,64').split(',').map(Number);
const WARM = quick ? 500 : 2000;
const MEASURE = quick ? 2000 : 8000;
const say = (m: string) => process.stderr.write(`bench: ${m}\n`);
const env: NodeJS.ProcessEnv = { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn' };
delete env.NODE_TEST_CONTEXT;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

interface Load { calls: number; errors: number; callsPerSec: number; p50ms: number; p99ms: number }
interface Row extends Load { path: string; n: number; cpuUsPerCall?: number; rssPeakMb?: number }

function startPrinting(cmd: string, argv: string[]): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve({ child, line });
    });
    child.once('exit', (c) => reject(new Error(`${argv[0]} exited with ${c}`)));
  });
}

function load(url: string, tool: string, n: number): Promise<Load> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bench/load.ts'), url, tool, String(n), String(WARM), String(MEASURE)], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (c) => (c === 0 ? resolve(JSON.parse(out) as Load) : reject(new Error(`load exited with ${c}`))));
  });
}

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
}
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

async function throughGateway(pid: number, url: string, tool: string, n: number, path: string): Promise<Row> {
  let peak = rssMb(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 200);
  const before = cpuTicks(pid);
  const r = await load(url, tool, n);
  const ticks = cpuTicks(pid) - before;
  clearInterval(timer);
  // CPU over the whole load run (warm-up + measure) divided by the calls of that run, estimated from the measured rate.
  const totalCalls = r.callsPerSec * (WARM + MEASURE) / 1000;
  return { ...r, path, n, cpuUsPerCall: (ticks / CLK_TCK) * 1e6 / Math.max(1, totalCalls), rssPeakMb: peak };
}

// Measure what operators run: the built JavaScript (dist/), not the TypeScript source.
say('building dist/ (tsc)');
execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });

const rows: Row[] = [];
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
const children: ChildProcess[] = [];
try {
  say('starting the echo upstream');
  const echo = await startPrinting(process.execPath, [join(ROOT, 'bench/echo-server.ts')]);
  children.push(echo.child);
  const echoUrl = (JSON.parse(echo.line) as { url: string }).url;
  for (const n of ns) {
    say(`measuring direct N=${n}`);
    rows.push({ ...(await load(echoUrl, 'echo', n)), path: 'direct (client -> echo over HTTP)', n });
  }
  const port = 20000 + Math.floor(Math.random() * 20000);
  const cfg = join(dir, 'gatehouse.yaml');
  writeFileSync(cfg, [
    'version: 1',
    'gateway:',
    `  listen: { host: 127.0.0.1, port: ${port} }`,
    `  stateDir: ${JSON.stringify(join(dir, 'state'))}`,
    'servers:',
    `  - { name: echo, transport: http, url: ${JSON.stringify(echoUrl)} }`,
    `  - { name: echo_stdio, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(join(ROOT, 'bench/echo-server.ts'))}, "--stdio"] }`,
    '',
  ].join('\n'));
  say('starting gatehouse');
  const t0 = Date.now();
  const gw = await startPrinting(process.execPath, [join(ROOT, 'dist/cli/main.js'), 'start', '--json', '--config', cfg]);
  children.push(gw.child);
  const gwUrl = (JSON.parse(gw.line) as { url: string }).url;
  for (let i = 0; i < 200; i++) {
    if ((await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const coldStartMs = Date.now() - t0;
  const pid = gw.child.pid!;
  const idleRss = rssMb(pid);
  for (const n of ns) {
    say(`measuring gatehouse -> HTTP upstream N=${n}`);
    rows.push(await throughGateway(pid, gwUrl, 'echo__echo', n, 'gatehouse -> echo over HTTP'));
  }
  for (const n of ns) {
    say(`measuring gatehouse -> stdio upstream N=${n}`);
    rows.push(await throughGateway(pid, gwUrl, 'echo_stdio__echo', n, 'gatehouse -> echo over stdio'));
  }
  const date = new Date().toISOString().slice(0, 10);
  const facts = { date, node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', warmupMs: WARM, measureMs: MEASURE, gatewayIdleRssMb: idleRss, gatewayColdStartMs: coldStartMs };
  const result = { facts, rows };
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  const md = render(result);
  writeFileSync(join(ROOT, `bench/results/${date}.json`), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(ROOT, `bench/results/${date}.md`), md);
  writeFileSync(join(ROOT, 'bench/results/latest.md'), md);
  process.stdout.write(asJson ? `${JSON.stringify(result)}\n` : md);
} finally {
  for (const c of children) c.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}

function render(r: { facts: Record<string, unknown>; rows: Row[] }): string {
  const direct = new Map(r.rows.filter((x) => x.path.startsWith('direct')).map((x) => [x.n, x]));
  const f = (v: number | undefined, d = 0) => (v === undefined ? '-' : v.toFixed(d));
  const lines = [
    `# Gatehouse benchmark — ${r.facts.date}`,
    '',
    `Machine: ${r.facts.cpus} cores (${r.facts.cpuModel}), Node ${r.facts.node}. Client, gateway and upstream share these cores.`,
    `Each point: ${r.facts.warmupMs} ms warm-up, ${r.facts.measureMs} ms measured; tools/call with a 1 KB text, N concurrent legacy sessions.`,
    `Gateway idle RSS ${f(r.facts.gatewayIdleRssMb as number, 1)} MB; cold start to /readyz ${r.facts.gatewayColdStartMs} ms (two upstreams).`,
    '',
    '| path | N | calls/s | ratio to direct | p50 ms | p99 ms | added p50 ms | gateway CPU µs/call | gateway RSS peak MB | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const x of r.rows) {
    const d = direct.get(x.n);
    const ratio = d && !x.path.startsWith('direct') ? (x.callsPerSec / d.callsPerSec).toFixed(2) : '1.00';
    const added = d && !x.path.startsWith('direct') ? (x.p50ms - d.p50ms).toFixed(2) : '-';
    lines.push(`| ${x.path} | ${x.n} | ${f(x.callsPerSec)} | ${ratio} | ${f(x.p50ms, 2)} | ${f(x.p99ms, 2)} | ${added} | ${f(x.cpuUsPerCall)} | ${f(x.rssPeakMb, 1)} | ${x.errors} |`);
  }
  lines.push('', 'Ratios compare with the direct row of the same N in the same run. See bench/README.md.', '');
  return lines.join('\n');
}
