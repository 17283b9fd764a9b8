import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { Metrics } from './metrics.ts';

/** The gateway's families as prom-client defined them before they were kept by hand: the reference rendering. */
function reference() {
  const registers = [new Registry()];
  const server = ['server'] as const;
  return {
    registry: registers[0],
    calls: new Counter({
      name: 'gatehouse_tool_calls_total',
      help: 'tools/call requests by server, tool and outcome',
      labelNames: ['server', 'tool', 'outcome'],
      registers,
    }),
    latency: new Histogram({
      name: 'gatehouse_tool_call_duration_seconds',
      help: 'tools/call latency through the gateway',
      labelNames: ['server', 'outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    requests: new Counter({
      name: 'gatehouse_requests_total',
      help: 'json-rpc requests by method and protocol era',
      labelNames: ['method', 'era'],
      registers,
    }),
    up: new Gauge({
      name: 'gatehouse_upstream_up',
      help: '1 when the upstream is connected',
      labelNames: server,
      registers,
    }),
    circuit: new Gauge({
      name: 'gatehouse_upstream_circuit_state',
      help: 'circuit breaker per upstream: 0 closed, 1 half-open, 2 open',
      labelNames: server,
      registers,
    }),
    changes: new Counter({
      name: 'gatehouse_upstream_circuit_changes_total',
      help: 'circuit breaker transitions per upstream, by the state entered',
      labelNames: ['server', 'to'],
      registers,
    }),
    sessions: new Gauge({
      name: 'gatehouse_legacy_sessions',
      help: 'open legacy (2025-11-25) sessions in this process',
      registers,
    }),
    fanout: new Gauge({
      name: 'gatehouse_fanout_up',
      help: '1 while replica fan-out over Redis is subscribed; 0 when Redis is away (sessions are re-read on every request) or not configured',
      registers,
    }),
    degraded: new Gauge({
      name: 'gatehouse_limits_degraded',
      help: '1 while limits are enforced locally (divided by fallbackDivisor) because Redis failed',
      registers,
    }),
    failOpen: new Counter({
      name: 'gatehouse_audit_fail_open_total',
      help: 'READ calls executed without a write-ahead audit record (audit store unavailable, readWhenUnavailable: allow)',
      registers,
    }),
    exportLag: new Gauge({
      name: 'gatehouse_audit_export_lag_records',
      help: 'audit records each export has not delivered yet, from the cursor every replica shares (the last position less the cursor)',
      labelNames: ['export'],
      registers,
    }),
    exportFailures: new Counter({
      name: 'gatehouse_audit_export_failures_total',
      help: 'failed attempts of this process to deliver a batch of audit records, by export (each is retried; nothing is dropped)',
      labelNames: ['export'],
      registers,
    }),
    buffered: new Gauge({
      name: 'gatehouse_upstream_buffered_bytes',
      help: 'bytes held from upstream servers and not yet parsed, all servers together',
      registers,
    }),
    refused: new Counter({
      name: 'gatehouse_upstream_messages_refused_total',
      help: 'upstream messages refused unparsed: too_large (over the server messages.maxBytes), budget (over gateway.maxUpstreamBufferedBytes), notification (dropped from a notification stream)',
      labelNames: ['reason'],
      registers,
    }),
    connections: new Counter({
      name: 'gatehouse_connections_refused_total',
      help: 'http connections refused: total (over gateway.maxConnections) and address (over gateway.maxConnectionsPerAddress) as they arrived, pipelined (closed for sending more than 32 requests ahead of their answers)',
      labelNames: ['reason'],
      registers,
    }),
    requestBytes: new Gauge({
      name: 'gatehouse_request_buffered_bytes',
      help: 'bytes of client requests held: bodies being read and requests not yet answered, all tenants together',
      registers,
    }),
    overBudget: new Counter({
      name: 'gatehouse_requests_over_budget_total',
      help: "requests refused over gateway.maxBufferedRequestBytes: tenant (over its tenant's half), unauthenticated (over the half of requests read before authentication), total (over the whole)",
      labelNames: ['reason'],
      registers,
    }),
    methodsRefused: new Counter({
      name: 'gatehouse_upstream_methods_refused_total',
      help: 'messages from upstream servers whose method the gateway does not take from servers, by server and kind: request (answered -32601), notification (dropped)',
      labelNames: ['server', 'kind'],
      registers,
    }),
  };
}

test('the gateway families render as prom-client rendered them, after the runtime families', async () => {
  const m = new Metrics();
  const r = reference();
  const both = (mine: () => void, theirs: () => void) => {
    mine();
    theirs();
  };
  const odd = 'a"b\\c\nd';
  for (const [server, tool, outcome, s] of [
    ['fs', 'read', 'ok', 0.0004],
    ['fs', 'read', 'ok', 0.003],
    ['fs', 'write', 'E_DENIED', 0.2],
    ['web', odd, 'ok', 75],
    ['fs', 'read', 'ok', 0.0025],
    ['', '', 'E_UNKNOWN_TOOL', 0.001],
  ] as const) {
    both(
      () => m.recordCall(server, tool, outcome, s),
      () => {
        r.calls.inc({ server, tool, outcome });
        r.latency.observe({ server, outcome }, s);
      },
    );
  }
  both(
    () => m.recordRequest('tools/call', true, 'modern'),
    () => r.requests.inc({ method: 'tools/call', era: 'modern' }),
  );
  both(
    () => m.recordRequest('x/y', false, 'legacy'),
    () => r.requests.inc({ method: 'other', era: 'legacy' }),
  );
  both(
    () => m.recordRequest('tools/call', true, 'modern'),
    () => r.requests.inc({ method: 'tools/call', era: 'modern' }),
  );
  for (const [server, v] of [
    ['fs', 1],
    ['web', 1],
    ['gone', 1],
    ['fs', 0],
  ] as const)
    both(
      () => m.upstreamUp.set({ server }, v),
      () => r.up.set({ server }, v),
    );
  both(
    () => m.upstreamUp.remove({ server: 'gone' }),
    () => r.up.remove({ server: 'gone' }),
  );
  both(
    () => m.upstreamUp.set({ server: 'gone' }, 1),
    () => r.up.set({ server: 'gone' }, 1),
  );
  both(
    () => m.upstreamCircuit.set({ server: 'fs' }, 2),
    () => r.circuit.set({ server: 'fs' }, 2),
  );
  both(
    () => m.upstreamCircuitChanges.inc({ server: 'fs', to: 'open' }),
    () => r.changes.inc({ server: 'fs', to: 'open' }),
  );
  both(
    () => m.upstreamCircuitChanges.inc({ server: 'fs', to: 'open' }),
    () => r.changes.inc({ server: 'fs', to: 'open' }),
  );
  both(
    () => m.sessions.set(3),
    () => r.sessions.set(3),
  );
  both(
    () => m.auditFailOpen.inc(),
    () => r.failOpen.inc(),
  );
  both(
    () => m.upstreamRefused.inc({ reason: 'budget' }),
    () => r.refused.inc({ reason: 'budget' }),
  );
  both(
    () => m.connectionsRefused.inc({ reason: 'address' }),
    () => r.connections.inc({ reason: 'address' }),
  );
  both(
    () => m.requestsOverBudget.inc({ reason: 'tenant' }),
    () => r.overBudget.inc({ reason: 'tenant' }),
  );
  both(
    () => m.upstreamMethodsRefused.inc({ server: 'fs', kind: 'notification' }),
    () => r.methodsRefused.inc({ server: 'fs', kind: 'notification' }),
  );
  both(
    () => m.auditExportFailures.inc({ export: 'siem' }, 2),
    () => r.exportFailures.inc({ export: 'siem' }, 2),
  );
  // The exports' lag is read at the scrape; an export without a failure yet shows 0 failures.
  both(
    () => {
      m.exportLag = async () => ({ siem: 12, archive: 0 });
    },
    () => {
      r.exportLag.set({ export: 'siem' }, 12);
      r.exportLag.set({ export: 'archive' }, 0);
      r.exportFailures.inc({ export: 'archive' }, 0);
    },
  );
  // The held bytes are read at the scrape, from the gateway's budgets.
  both(
    () => {
      m.bufferedBytes = () => 4096;
    },
    () => r.buffered.set(4096),
  );
  both(
    () => {
      m.requestBufferedBytes = () => 8192;
    },
    () => r.requestBytes.set(8192),
  );
  const { contentType, body } = await m.render();
  const expected = await r.registry.metrics();
  assert.equal(contentType, r.registry.contentType);
  assert.ok(body.endsWith(`\n\n${expected}`), body);
  const runtime = body.slice(0, -expected.length);
  assert.match(runtime, /^# HELP gatehouse_process_cpu_user_seconds_total /);
  assert.match(runtime, /^gatehouse_nodejs_heap_size_used_bytes \d+$/m);
});

test('families with no series yet render their header only; unlabelled ones start at 0', async () => {
  const { body } = await new Metrics().render();
  const own = body.slice(body.indexOf('# HELP gatehouse_tool_calls_total'));
  assert.equal(await reference().registry.metrics(), own);
  assert.match(own, /^gatehouse_fanout_up 0$/m);
});
