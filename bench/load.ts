/**
 * The load generator, run as its own process so its cost is visible and bounded: N virtual clients,
 * each with its own legacy (2025-11-25) MCP session over Streamable HTTP (initialize,
 * notifications/initialized), call `tools/call <tool>` with a 1 KB text in a closed loop. Cheap per
 * call: an undici keep-alive pool (one connection per client) and whole-body JSON/SSE parsing.
 * A warm-up, then a measured window whose per-call latencies go into a histogram. With --pid, it also
 * reads that process's CPU time (/proc/<pid>/stat) at the window's edges and samples its RSS.
 * Prints one JSON line: calls, errors, callsPerSec, p50ms, p99ms (and cpuUsPerCall, rssPeakMb).
 * `--method tools/list` lists tools instead (an answer counts when it holds at least one tool);
 * `--token` sends `Authorization: Bearer <token>`.
 *   node bench/load.ts --url <mcp url> --tool <name> [--clients 16] [--quick] [--pid <gateway pid>]
 *                      [--method tools/call|tools/list] [--token <api key>]
 */
import { Pool } from 'undici';
import { createHistogram } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { findResponse, resultText, toolCount } from './wire.ts';

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' },
    tool: { type: 'string', default: 'echo' },
    clients: { type: 'string', default: '1' },
    quick: { type: 'boolean' },
    warmup: { type: 'string' },
    measure: { type: 'string' },
    pid: { type: 'string' },
    method: { type: 'string', default: 'tools/call' },
    token: { type: 'string' },
  },
});
if (!opts.url) throw new Error('missing `--url`');
const n = Number(opts.clients);
const warmupMs = Number(opts.warmup ?? (opts.quick ? 500 : 2000));
const measureMs = Number(opts.measure ?? (opts.quick ? 2000 : 8000));
const pid = opts.pid ? Number(opts.pid) : undefined;
const url = new URL(opts.url);
const VERSION = '2025-11-25';
const TOOL = JSON.stringify(opts.tool);
const LIST = opts.method === 'tools/list';
if (!LIST && opts.method !== 'tools/call') throw new Error(`unknown --method \`${opts.method}\``);
const callRequest = (id: number, text: string) =>
  `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":${TOOL},"arguments":{"text":"${text}"}}}`;
const listRequest = (id: number) => `{"jsonrpc":"2.0","id":${id},"method":"tools/list","params":{}}`;
/** 1 KB of text that differs per call (session and call numbers first), so a stale or replayed answer is an error. */
const textFor = (client: number, id: number) => `${client}:${id}:`.padEnd(1024, 'x');

const pool = new Pool(url.origin, {
  connections: n,
  pipelining: 1,
  keepAliveTimeout: 60_000,
  headersTimeout: 30_000,
  bodyTimeout: 30_000,
});

interface Reply {
  status: number;
  contentType: string;
  sessionId?: string;
  body: string;
}

async function post(body: string, headers: Record<string, string>): Promise<Reply> {
  const r = await pool.request({ path: url.pathname, method: 'POST', headers, body });
  const text = await r.body.text();
  const sid = r.headers['mcp-session-id'];
  return {
    status: r.statusCode,
    contentType: String(r.headers['content-type'] ?? ''),
    sessionId: typeof sid === 'string' ? sid : undefined,
    body: text,
  };
}

async function openSession(): Promise<Record<string, string>> {
  const base: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
  };
  const init = JSON.stringify({
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: VERSION, capabilities: {}, clientInfo: { name: 'gatehouse-bench', version: '1' } },
  });
  const r = await post(init, base);
  if (r.status !== 200 || !r.sessionId || !findResponse(r.contentType, r.body, 0)?.result) {
    throw new Error(`initialize failed: HTTP ${r.status} ${r.body.slice(0, 300)}`);
  }
  const headers = { ...base, 'mcp-session-id': r.sessionId, 'mcp-protocol-version': VERSION };
  const ack = await post(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), headers);
  if (ack.status !== 202 && ack.status !== 200)
    throw new Error(`notifications/initialized failed: HTTP ${ack.status} ${ack.body.slice(0, 300)}`);
  return headers;
}

async function closeSession(headers: Record<string, string>): Promise<void> {
  const r = await pool.request({
    path: url.pathname,
    method: 'DELETE',
    headers: {
      'mcp-session-id': headers['mcp-session-id'],
      'mcp-protocol-version': VERSION,
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
    },
  });
  await r.body.dump();
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
/** user + system CPU seconds of a process (fields 14 and 15 of /proc/<pid>/stat). */
function cpuSeconds(p: number): number {
  const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}
function rssMb(p: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

const histogram = createHistogram();
let calls = 0;
let errors = 0;
let firstError: string | undefined;
let measuring = false;
let stopping = false;

function fail(message: string): void {
  errors++;
  firstError ??= message.slice(0, 300);
}

async function client(headers: Record<string, string>, index: number): Promise<void> {
  for (let id = 1; !stopping; id++) {
    const t0 = process.hrtime.bigint();
    try {
      const text = textFor(index, id);
      const r = await post(LIST ? listRequest(id) : callRequest(id, text), headers);
      const response = r.status === 200 ? findResponse(r.contentType, r.body, id) : undefined;
      const ok = LIST ? toolCount(response) > 0 : resultText(response) === text;
      if (!measuring) continue;
      if (ok) {
        calls++;
        histogram.record(process.hrtime.bigint() - t0 || 1n);
      } else fail(`HTTP ${r.status} ${r.body.slice(0, 300)}`);
    } catch (err) {
      if (measuring) fail((err as Error).message);
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sessions = await Promise.all(Array.from({ length: n }, () => openSession())).catch((err: Error) => {
  process.stderr.write(`load: could not open ${n} sessions at \`${url.href}\`: ${err.message}\n`);
  process.exit(1);
});
let rssPeak = pid ? rssMb(pid) : 0;
const sampler = pid ? setInterval(() => (rssPeak = Math.max(rssPeak, rssMb(pid))), 100) : undefined;
const running = sessions.map((h, i) => client(h, i));
await sleep(warmupMs);
measuring = true;
const cpu0 = pid ? cpuSeconds(pid) : 0;
const t0 = process.hrtime.bigint();
await sleep(measureMs);
measuring = false;
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = pid ? cpuSeconds(pid) - cpu0 : 0;
if (pid) rssPeak = Math.max(rssPeak, rssMb(pid));
clearInterval(sampler);
stopping = true;
await Promise.race([Promise.all(running), sleep(30_000)]);
await Promise.allSettled(sessions.map((h) => closeSession(h)));
await pool.close();

const result = {
  calls,
  errors,
  ...(firstError ? { firstError } : {}),
  callsPerSec: calls / seconds,
  p50ms: calls ? histogram.percentile(50) / 1e6 : 0,
  p99ms: calls ? histogram.percentile(99) / 1e6 : 0,
  ...(pid ? { cpuUsPerCall: calls ? (cpu * 1e6) / calls : 0, rssPeakMb: rssPeak } : {}),
};
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
