/**
 * Traces end to end: a real gateway exporting over OTLP/HTTP (JSON) to a receiver written here on
 * loopback, in front of a real HTTP MCP server (SDK v1) that records the headers it gets. A tools/call
 * is one SERVER span with one child per pipeline stage; a trusted caller's traceparent continues its
 * trace, an untrusted one's is ignored; the upstream gets the execute stage's traceparent; the audit
 * records and the log line carry the trace id. And the metric names (no doubled prefix).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway, type TestGateway } from './support/gateway.ts';
import { logTo } from './support/logs.ts';
import { postModernCall } from './support/rpc.ts';
import { eventually } from './support/eventually.ts';
import { legacyHttp, type TestServer } from './fixtures/upstreams/sdk-http-servers.ts';
import { TOOL_CALL_PIPELINE } from '../src/pipeline/index.ts';

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  status: { code: number };
}

let receiver: Server;
const spans: Span[] = [];
let upstream: TestServer;
let trusted: TestGateway;
let untrusted: TestGateway;
const logLines: Array<Record<string, unknown>> = [];

const ID = 'a3ce929d0e0e47364bf92f3577b34da6';
const PARENT = 'b7ad6b7169203331';

before(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') {
        const doc = JSON.parse(body) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Span[] }> }> };
        for (const rs of doc.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  upstream = await legacyHttp();
  const saved = { ...process.env };
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  process.env.OTEL_BSP_SCHEDULE_DELAY = '50';
  const log = logTo(
    'debug',
    (c) => {
      for (const l of c.split('\n')) if (l) logLines.push(JSON.parse(l));
    },
    { base: undefined },
  );
  const server = `  - { name: web, transport: http, url: ${JSON.stringify(upstream.url)}, tools: { echo: { class: READ } } }\n`;
  try {
    // The caller on loopback is a trusted proxy for one gateway, not for the other.
    trusted = await startGateway(server, {
      gateway: '  trustedProxies: [127.0.0.1]\n',
      top: 'inventory: { newTools: accept }\n',
      log,
    });
    untrusted = await startGateway(server, { top: 'inventory: { newTools: accept }\n' });
  } finally {
    for (const k of ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_BSP_SCHEDULE_DELAY'])
      if (saved[k] === undefined) delete process.env[k];
  }
});

after(async () => {
  await trusted?.close();
  await untrusted?.close();
  await upstream?.close();
  receiver?.close();
});

function modernCall(base: string, note: string, traceparent?: string): Promise<Response> {
  return postModernCall(base, 'web__echo', { text: note }, { id: 1, headers: traceparent ? { traceparent } : {} });
}

async function spansOf(traceId: string, n: number): Promise<Span[]> {
  const mine = () => spans.filter((s) => s.traceId === traceId);
  // Not enough spans in time: the caller's assertions say which are missing.
  return eventually(() => mine().length >= n && mine(), { timeoutMs: 10_000, intervalMs: 50 }).catch(() => mine());
}

test('a trusted caller’s trace continues: a SERVER span, a child per stage, the upstream joins, audit and log carry the id', async () => {
  const r = await modernCall(trusted.url, 'traced', `00-${ID}-${PARENT}-01`);
  const text = await r.text();
  assert.equal(r.status, 200, text);
  assert.match(text, /traced/);
  const stages = TOOL_CALL_PIPELINE.map(([n]) => n);
  const mine = await spansOf(ID, stages.length + 1);
  const req = mine.find((s) => s.name === 'tools/call');
  assert.ok(req, 'the request span');
  assert.equal(req.kind, 2);
  assert.equal(req.parentSpanId, PARENT);
  const children = mine.filter((s) => s.parentSpanId === req.spanId);
  assert.deepEqual(
    children.map((s) => s.name),
    stages.map((n) => `stage ${n}`),
    'one child per stage, in pipeline order',
  );
  assert.ok(children.every((s) => s.status.code === 0));

  const execute = children.find((s) => s.name === 'stage execute')!;
  const sent = upstream.seen.filter((s) => s.method === 'POST' && s.headers.traceparent);
  assert.ok(
    sent.some((s) => s.headers.traceparent === `00-${ID}-${execute.spanId}-01`),
    'the upstream got the execute stage as its parent',
  );

  const records = (await trusted.gw.store.audit.read({ kind: 'call.intent', limit: 1000 }))
    .map((x) => x.event)
    .filter((e) => e.tool === 'web__echo');
  assert.ok(
    records.some((e) => e.traceId === ID),
    'the audit record carries the trace id',
  );
  assert.ok(
    logLines.some((l) => l.traceId === ID && l.method === 'tools/call'),
    'a log line carries the trace id',
  );
});

test('an untrusted caller’s traceparent is ignored: a new trace, W3C ids, no parent', async () => {
  const r = await modernCall(untrusted.url, 'not traced by the caller', `00-${ID.replace('a3', 'c4')}-${PARENT}-01`);
  assert.equal(r.status, 200);
  await r.text();
  const records = (await untrusted.gw.store.audit.read({ kind: 'call.intent', limit: 1000 })).map((x) => x.event);
  const traceId = records.at(-1)!.traceId!;
  assert.match(traceId, /^[0-9a-f]{32}$/);
  assert.notEqual(traceId, ID.replace('a3', 'c4'));
  const mine = await spansOf(traceId, TOOL_CALL_PIPELINE.length + 1);
  const req = mine.find((s) => s.name === 'tools/call')!;
  assert.equal(req.parentSpanId, undefined);
});

test('metric names carry the gatehouse_ prefix once', async () => {
  const text = await (await fetch(`${trusted.url}/metrics`)).text();
  assert.match(text, /^gatehouse_process_cpu_seconds_total /m);
  assert.match(text, /^gatehouse_nodejs_heap_size_used_bytes /m);
  assert.doesNotMatch(text, /gatehouse_process_process_|gatehouse_process_nodejs_/);
});

test('every metric the dashboard and docs/operations.md name is exported', async () => {
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const root = join(import.meta.dirname, '..');
  const text = await (await fetch(`${trusted.url}/metrics`)).text();
  const families = new Set([...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]));
  const named = (s: string) =>
    [...s.matchAll(/gatehouse_[a-z0-9_]*[a-z0-9]/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''));
  const dashboard = JSON.parse(readFileSync(join(root, 'deploy/grafana/gatehouse.json'), 'utf8')) as {
    panels: Array<{ targets: Array<{ expr: string }> }>;
  };
  const inDashboard = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => named(t.expr)));
  const inDocs = named(readFileSync(join(root, 'docs/operations.md'), 'utf8')).filter(
    (n) => !/^gatehouse_process_(process|nodejs)$/.test(n),
  );
  assert.ok(inDashboard.length > 5 && inDocs.length > 5);
  for (const n of new Set([...inDashboard, ...inDocs])) assert.ok(families.has(n), `${n} is not exported`);
});
