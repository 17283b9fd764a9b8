/**
 * How long a client waits for the whole tool list of a large deployment: 50 echo upstreams over
 * Streamable HTTP with 20 tools each (1,000 tools), behind one `gatehouse start` from dist/ (as
 * shipped). One legacy session lists every page (following nextCursor) 50 times in a row; the report
 * gives the median and the 90th percentile of the whole listing, and the same for one upstream's 20
 * tools listed directly. Writes bench/results/<date>-<id>-catalog.{md,json}.
 *   node bench/catalog.ts [--servers 50] [--tools 20] [--rounds 50]
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = join(import.meta.dirname, '..');
const { values: opts } = parseArgs({
  options: {
    servers: { type: 'string', default: '50' },
    tools: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '50' },
  },
});
const SERVERS = Number(opts.servers);
const TOOLS = Number(opts.tools);
const ROUNDS = Number(opts.rounds);
const env: NodeJS.ProcessEnv = { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn' };
const children: ChildProcess[] = [];
const say = (m: string) => process.stderr.write(`bench catalog: ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

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

/** Every page of tools/list; the tool count and the wall time of the whole listing. */
async function listAll(url: string, headers: Record<string, string>): Promise<{ tools: number; ms: number }> {
  const t0 = performance.now();
  let tools = 0;
  let cursor: string | undefined;
  for (let id = 1; ; id++) {
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
  return { tools, ms: performance.now() - t0 };
}

async function measure(url: string): Promise<{ tools: number; p50: number; p90: number }> {
  const headers = await session(url);
  await listAll(url, headers); // warm-up
  const times: number[] = [];
  let tools = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const r = await listAll(url, headers);
    times.push(r.ms);
    tools = r.tools;
  }
  times.sort((a, b) => a - b);
  return { tools, p50: times[Math.floor(times.length / 2)], p90: times[Math.floor(times.length * 0.9)] };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-catalog-'));
  try {
    say(`starting ${SERVERS} echo upstreams with ${TOOLS} tools each`);
    const urls = await Promise.all(Array.from({ length: SERVERS }, () => echo()));
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')],
      {
        stdio: 'inherit',
      },
    );
    const port = await freePort();
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
    const gw = spawn(process.execPath, ['dist/cli/main.js', 'start', '-c', config], {
      cwd: ROOT,
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
    say('measuring');
    const direct = await measure(urls[0]);
    const through = await measure(`http://127.0.0.1:${port}/mcp`);
    const id = randomBytes(3).toString('hex');
    const date = new Date().toISOString().slice(0, 10);
    const md = [
      `# Gatehouse catalogue benchmark, ${date} (${id})`,
      '',
      `- Machine: ${cpus().length} cores (${cpus()[0]?.model.trim()}), Node ${process.version}; ${SERVERS} echo upstreams over Streamable HTTP, ${TOOLS} tools each, one gateway (dist/, as shipped).`,
      `- Each figure: the whole listing (every page, following nextCursor) over one legacy session, ${ROUNDS} times in a row after a warm-up.`,
      '',
      '| listing | tools | p50 ms | p90 ms |',
      '|---|---:|---:|---:|',
      `| one upstream, direct | ${direct.tools} | ${direct.p50.toFixed(2)} | ${direct.p90.toFixed(2)} |`,
      `| every upstream, through Gatehouse | ${through.tools} | ${through.p50.toFixed(2)} | ${through.p90.toFixed(2)} |`,
      '',
    ].join('\n');
    const results = join(ROOT, 'bench/results');
    mkdirSync(results, { recursive: true });
    writeFileSync(join(results, `${date}-${id}-catalog.md`), md);
    writeFileSync(join(results, `${date}-${id}-catalog.json`), `${JSON.stringify({ direct, through }, null, 2)}\n`);
    process.stdout.write(md);
  } finally {
    for (const c of children) c.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
