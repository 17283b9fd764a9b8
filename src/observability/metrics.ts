/**
 * Prometheus metrics (`/metrics`). Label values are bounded: server and tool names come from the
 * catalogue (never from caller input: an unknown tool is recorded with empty labels), outcomes from
 * the error catalogue.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly #calls: Counter<'server' | 'tool' | 'outcome'>;
  readonly #latency: Histogram<'server' | 'outcome'>;
  readonly #requests: Counter<'method' | 'era'>;
  readonly upstreamUp: Gauge<'server'>;
  /** 0 closed, 1 half-open, 2 open (src/upstream/breaker.ts). */
  readonly upstreamCircuit: Gauge<'server'>;
  readonly upstreamCircuitChanges: Counter<'server' | 'to'>;
  readonly sessions: Gauge;
  /** READ calls let through while the audit store could not write (`audit.readWhenUnavailable: allow`). */
  readonly auditFailOpen: Counter;
  /** 1 while this process hears the other replicas' changes over Redis (src/sessions/fanout.ts). */
  readonly fanoutUp: Gauge;
  /** 1 while limits are enforced locally, divided, because Redis failed. */
  readonly limitsDegraded: Gauge;

  constructor() {
    // prom-client's own names already start with process_ or nodejs_: gatehouse_process_cpu_seconds_total, gatehouse_nodejs_heap_size_used_bytes.
    collectDefaultMetrics({ register: this.registry, prefix: 'gatehouse_' });
    this.#calls = new Counter({
      name: 'gatehouse_tool_calls_total',
      help: 'tools/call requests by server, tool and outcome',
      labelNames: ['server', 'tool', 'outcome'],
      registers: [this.registry],
    });
    this.#latency = new Histogram({
      name: 'gatehouse_tool_call_duration_seconds',
      help: 'tools/call latency through the gateway',
      labelNames: ['server', 'outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [this.registry],
    });
    this.#requests = new Counter({
      name: 'gatehouse_requests_total',
      help: 'json-rpc requests by method and protocol era',
      labelNames: ['method', 'era'],
      registers: [this.registry],
    });
    this.upstreamUp = new Gauge({
      name: 'gatehouse_upstream_up',
      help: '1 when the upstream is connected',
      labelNames: ['server'],
      registers: [this.registry],
    });
    this.upstreamCircuit = new Gauge({
      name: 'gatehouse_upstream_circuit_state',
      help: 'circuit breaker per upstream: 0 closed, 1 half-open, 2 open',
      labelNames: ['server'],
      registers: [this.registry],
    });
    this.upstreamCircuitChanges = new Counter({
      name: 'gatehouse_upstream_circuit_changes_total',
      help: 'circuit breaker transitions per upstream, by the state entered',
      labelNames: ['server', 'to'],
      registers: [this.registry],
    });
    this.sessions = new Gauge({
      name: 'gatehouse_legacy_sessions',
      help: 'open legacy (2025-11-25) sessions in this process',
      registers: [this.registry],
    });
    this.fanoutUp = new Gauge({
      name: 'gatehouse_fanout_up',
      help: '1 while replica fan-out over Redis is subscribed; 0 when Redis is away (sessions are re-read on every request) or not configured',
      registers: [this.registry],
    });
    this.limitsDegraded = new Gauge({
      name: 'gatehouse_limits_degraded',
      help: '1 while limits are enforced locally (divided by fallbackDivisor) because Redis failed',
      registers: [this.registry],
    });
    this.auditFailOpen = new Counter({
      name: 'gatehouse_audit_fail_open_total',
      help: 'READ calls executed without a write-ahead audit record (audit store unavailable, readWhenUnavailable: allow)',
      registers: [this.registry],
    });
  }

  recordCall(server: string, tool: string, outcome: string, seconds: number): void {
    this.#calls.inc({ server, tool, outcome });
    this.#latency.observe({ server, outcome }, seconds);
  }

  /** Known methods only; anything else is counted as `other`. */
  recordRequest(method: string, known: boolean, era: string): void {
    this.#requests.inc({ method: known ? method : 'other', era });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
