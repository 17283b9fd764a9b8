/**
 * How long a client waits for the whole tool list of a large deployment: 50 echo upstreams over
 * Streamable HTTP with 20 tools each (1,000 tools), behind one `gatehouse start` from dist/ (as
 * shipped). One legacy session lists every page (following nextCursor) 50 times in a row; the report
 * gives the median and the 90th percentile of the whole listing, the pages it took, and the gateway's
 * CPU time per listing (from /proc/<pid>/stat, all threads: steadier than wall time on a shared
 * machine), and the same for one upstream's 20 tools listed directly. Writes
 * bench/results/<date>-<id>-catalog.{md,json}.
 *   node bench/catalog.ts [--servers 50] [--tools 20] [--rounds 50] [--reps 1]
 *        [--against <dir>] [--cpu-prof <dir>]
 * `--against <dir>`: a second gateway started from <dir>/dist/cli/main.js (another build, with its own
 * package.json and node_modules beside it) behind the same upstreams; the two are measured in turn,
 * `--reps` times each, interleaved, so a noisy minute hits both alike. `--cpu-prof <dir>`: the
 * gateways run with `node --cpu-prof` and write their profiles there when stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildDist, machineLine } from './machine.ts';
import { freePort } from '../test/support/processes.ts';

const ROOT = join(import.meta.dirname, '..');
const { values: opts } = parseArgs({
  options: {
    servers: { type: 'string', default: '50' },
    tools: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '50' },
    reps: { type: 'string', default: '1' },
    against: { type: 'string' },
    'cpu-prof': { type: 'string' },
  },
});
const SERVERS = Number(opts.servers);
const TOOLS = Number(opts.tools);
const ROUNDS = Number(opts.rounds);
const REPS = Number(opts.reps);
/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on Linux). */
const TICKS = 100;
const env: NodeJS.ProcessEnv = { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn' };
const children: ChildProcess[] = [];
const say = (m: string) => process.stderr.write(`bench catalog: ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** An echo upstream with `TOOLS` tools; resolves with its URL. */
function echo(): Promise<string> {
  const child = spawn(process.execPath, [join(ROOT, 'bench/echo-server.ts'), '--tools', String(TOOLS)], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once('exit', (code) => reject(new Error(`echo server exited (${code})`)));
  });
}

/** The JSON-RPC result in a JSON or SSE body. */
function resultOf(type: string, body: string): { tools?: unknown[]; nextCursor?: string } {
  const text = type.startsWith('text/event-stream')
    ? (body
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trim())
        .find((d) => d.includes('"result"')) ?? '{}')
    : body;
  return (JSON.parse(text) as { result?: { tools?: unknown[]; nextCursor?: string } }).result ?? {};
}

async function session(url: string): Promise<Record<string, string>> {
  const init = {
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench-catalog', version: '1' } },
  };
  const r = await fetch(url, { method: 'POST', headers: HEADERS, body: JSON.stringify(init) });
  await r.text();
  const sid = r.headers.get('mcp-session-id');
  if (!sid) throw new Error(`initialize at ${url} answered ${r.status} without a session`);
  const h = { ...HEADERS, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
  await (
    await fetch(url, {
      method: 'POST',
      headers: h,
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    })
  ).text();
  return h;
}

/** Every page of tools/list; the tool count, the pages and the wall time of the whole listing. */
async function listAll(
  url: string,
  headers: Record<string, string>,
): Promise<{ tools: number; pages: number; ms: number }> {
  const t0 = performance.now();
  let tools = 0;
  let cursor: string | undefined;
  let id = 1;
  for (; ; id++) {
    const params = cursor ? { cursor } : {};
    const r = await fetch(url, {
      method: 'POST',
      headers,
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/list', params }),
    });
    const result = resultOf(r.headers.get('content-type') ?? '', await r.text());
    tools += result.tools?.length ?? 0;
    cursor = result.nextCursor;
    if (!cursor) break;
  }
  return { tools, pages: id, ms: performance.now() - t0 };
}

/** CPU time (user + system, all threads) a process has used, in ms. */
function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / TICKS;
}

interface Target {
  label: string;
  url: string;
  pid?: number;
  headers?: Record<string, string>;
  times: number[];
  cpu: number[];
  tools: number;
  pages: number;
}

/** `ROUNDS` whole listings in a row (after one warm-up on a new session); adds to `t`'s figures. */
async function measure(t: Target): Promise<void> {
  t.headers ??= await session(t.url);
  await listAll(t.url, t.headers); // warm-up
  const cpu0 = cpuMs(t.pid);
  for (let i = 0; i < ROUNDS; i++) {
    const r = await listAll(t.url, t.headers);
    t.times.push(r.ms);
    t.tools = r.tools;
    t.pages = r.pages;
  }
  t.cpu.push((cpuMs(t.pid) - cpu0) / ROUNDS);
}

function summary(t: Target): { tools: number; pages: number; p50: number; p90: number; cpuMs: number | null } {
  const times = [...t.times].sort((a, b) => a - b);
  const cpu = [...t.cpu].sort((a, b) => a - b);
  const cpuMid = cpu[Math.floor(cpu.length / 2)];
  return {
    tools: t.tools,
    pages: t.pages,
    p50: times[Math.floor(times.length / 2)],
    p90: times[Math.floor(times.length * 0.9)],
    cpuMs: Number.isNaN(cpuMid) ? null : cpuMid,
  };
}

/** A gateway from `root`/dist in front of every upstream; resolves with its URL and pid once ready. */
async function gateway(root: string, dir: string, urls: string[]): Promise<{ url: string; pid?: number }> {
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'gatehouse.yaml');
  const servers = urls.map((u, i) => `  - { name: s${i}, transport: http, url: ${JSON.stringify(u)} }`);
  writeFileSync(
    config,
    [
      'version: 1',
      'gateway:',
      `  listen: { host: 127.0.0.1, port: ${port} }`,
      `  stateDir: ${JSON.stringify(join(dir, 'state'))}`,
      'servers:',
      ...servers,
      '',
    ].join('\n'),
  );
  const prof = opts['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', opts['cpu-prof']] : [];
  const gw = spawn(process.execPath, [...prof, 'dist/cli/main.js', 'start', '-c', config], {
    cwd: root,
    env,
    stdio: 'ignore',
  });
  children.push(gw);
  for (let i = 0; i < 600; i++) {
    const r = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
    if (r?.status === 200) break;
    await r?.body?.cancel();
    await sleep(100);
  }
  return { url: `http://127.0.0.1:${port}/mcp`, pid: gw.pid };
}

function row(label: string, s: ReturnType<typeof summary>): string {
  const cpu = s.cpuMs === null ? '-' : s.cpuMs.toFixed(2);
  return `| ${label} | ${s.tools} | ${s.pages} | ${s.p50.toFixed(2)} | ${s.p90.toFixed(2)} | ${cpu} |`;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-catalog-'));
  try {
    say(`starting ${SERVERS} echo upstreams with ${TOOLS} tools each`);
    const urls = await Promise.all(Array.from({ length: SERVERS }, () => echo()));
    buildDist();
    const fresh = () => ({ times: [], cpu: [], tools: 0, pages: 0 });
    const direct: Target = { label: 'one upstream, direct', url: urls[0], ...fresh() };
    const targets: Target[] = [
      { label: 'every upstream, through Gatehouse', ...(await gateway(ROOT, join(dir, 'gw'), urls)), ...fresh() },
    ];
    if (opts.against)
      targets.push({
        label: `every upstream, through Gatehouse from \`${opts.against}\``,
        ...(await gateway(opts.against, join(dir, 'against'), urls)),
        ...fresh(),
      });
    say('measuring');
    await measure(direct);
    for (let rep = 0; rep < REPS; rep++) for (const t of targets) await measure(t);
    const id = randomBytes(3).toString('hex');
    const date = new Date().toISOString().slice(0, 10);
    const through = summary(targets[0]);
    const against = targets[1] && summary(targets[1]);
    const md = [
      `# Gatehouse catalogue benchmark, ${date} (${id})`,
      '',
      `- Machine: ${machineLine()}; ${SERVERS} echo upstreams over Streamable HTTP, ${TOOLS} tools each, one gateway (dist/, as shipped).`,
      `- Each figure: the whole listing (every page, following nextCursor) over one legacy session, ${ROUNDS} times in a row after a warm-up${REPS > 1 ? `, ${REPS} times per gateway, interleaved` : ''}; gateway CPU is user + system time of its process per whole listing (median of the repetitions).`,
      '',
      '| listing | tools | pages | p50 ms | p90 ms | gateway CPU ms |',
      '|---|---:|---:|---:|---:|---:|',
      row(direct.label, summary(direct)),
      row(targets[0].label, through),
      ...(against ? [row(targets[1].label, against)] : []),
      '',
    ].join('\n');
    const results = join(ROOT, 'bench/results');
    mkdirSync(results, { recursive: true });
    writeFileSync(join(results, `${date}-${id}-catalog.md`), md);
    writeFileSync(
      join(results, `${date}-${id}-catalog.json`),
      `${JSON.stringify({ direct: summary(direct), through, ...(against ? { against } : {}) }, null, 2)}\n`,
    );
    process.stdout.write(md);
  } finally {
    const running = children.filter((c) => c.exitCode === null && c.signalCode === null);
    for (const c of running) c.kill('SIGTERM');
    // A profiled gateway writes its profile as it exits.
    if (opts['cpu-prof']) await Promise.all(running.map((c) => new Promise((r) => c.once('exit', r))));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
