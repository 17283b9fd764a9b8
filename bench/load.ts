/**
 * The load generator, run as its own process: N virtual clients, each with its own legacy MCP session
 * (initialize, initialized), call `tools/call <tool>` with a 1 KB text in a closed loop. Cheap per
 * call (undici keep-alive pool, minimal SSE parsing). Prints one JSON line with the results.
 *   node bench/load.ts <url> <tool> <clients> <warmupMs> <measureMs>
 */
import { Pool } from 'undici';
import { createHistogram } from 'node:perf_hooks';

const [url, tool, nArg, warmArg, measureArg] = process.argv.slice(2);
const n = Number(nArg);
const u = new URL(url);
const pool = new Pool(u.origin, { connections: n, pipelining: 1, keepAliveTimeout: 60_000 });
const text = 'x'.repeat(1024);
const base = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

async function post(body: unknown, headers: Record<string, string>): Promise<{ sid?: string; text: string; status: number }> {
  const r = await pool.request({ path: u.pathname, method: 'POST', headers: { ...base, ...headers }, body: JSON.stringify(body) });
  const out = await r.body.text();
  const sid = r.headers['mcp-session-id'];
  return { sid: typeof sid === 'string' ? sid : undefined, text: out, status: r.statusCode };
}

async function session(): Promise<Record<string, string>> {
  const init = await post({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } }, {});
  if (!init.sid) throw new Error(`initialize failed: ${init.status} ${init.text.slice(0, 200)}`);
  const h = { 'mcp-session-id': init.sid, 'mcp-protocol-version': '2025-11-25' };
  await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, h);
  return h;
}

const hist = createHistogram();
let calls = 0;
let errors = 0;
let measuring = false;
let stop = false;

async function client(h: Record<string, string>): Promise<void> {
  let id = 1;
  while (!stop) {
    const t0 = process.hrtime.bigint();
    const r = await post({ jsonrpc: '2.0', id: id++, method: 'tools/call', params: { name: tool, arguments: { text } } }, h);
    const ok = r.status === 200 && r.text.includes('"result"') && r.text.includes(text.slice(0, 64));
    if (measuring) {
      if (ok) {
        calls++;
        hist.record(Number(process.hrtime.bigint() - t0) || 1);
      } else errors++;
    }
  }
}

const headers = await Promise.all(Array.from({ length: n }, () => session()));
const running = headers.map((h) => client(h));
await new Promise((r) => setTimeout(r, Number(warmArg)));
measuring = true;
const start = process.hrtime.bigint();
await new Promise((r) => setTimeout(r, Number(measureArg)));
measuring = false;
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
stop = true;
await Promise.all(running);
await pool.close();
process.stdout.write(`${JSON.stringify({ calls, errors, callsPerSec: calls / seconds, p50ms: hist.percentile(50) / 1e6, p99ms: hist.percentile(99) / 1e6 })}\n`);
