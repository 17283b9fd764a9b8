/**
 * Prometheus metrics (`/metrics`). Label values are bounded: server and tool names come from the
 * catalogue (never from caller input: an unknown tool is recorded with empty labels), outcomes from
 * the error catalogue.
 *
 * The gateway's own families are a few maps of numbers kept here and rendered in the text format
 * prom-client writes (same lines, same order; metrics.test.ts compares the two). The process and
 * runtime families are prom-client's default metrics, loaded with prom-client at the first scrape: it
 * is about 90 modules (it requires the OpenTelemetry API) and a gateway nobody scrapes never needs
 * them. Their collection starts then: the GC histogram counts collections from the first scrape on.
 */
import type { Registry } from 'prom-client';

type LabelValues<L extends string> = Partial<Record<L, string | number>>;

interface Series {
  labels: Record<string, string | number | undefined>;
  value: number;
}

/** prom-client's rendering of a number. */
function valueText(value: number): string {
  if (Number.isNaN(value)) return 'Nan';
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf';
  return `${value}`;
}

const escapeText = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function labelText(labels: Record<string, string | number | undefined>): string {
  const parts = Object.entries(labels).map(
    ([k, v]) => `${k}="${typeof v === 'string' ? escapeText(v).replace(/"/g, '\\"') : v}"`,
  );
  return parts.join(',');
}

function line(name: string, labels: string, value: number): string {
  return `${name}${labels ? `{${labels}}` : ''} ${valueText(value)}`;
}

abstract class Family<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly #sorted: string[];
  /** By the label values (in label-name order), in first-seen order, as prom-client keeps them. */
  protected series = new Map<string, Series>();

  constructor(name: string, help: string, labelNames: readonly L[]) {
    this.name = name;
    this.help = help;
    this.#sorted = [...labelNames].sort();
    if (!labelNames.length) this.series.set('', { labels: {}, value: 0 });
  }

  protected key(labels: LabelValues<L>): string {
    return this.#sorted.map((n) => `${n}:${labels[n as L]}`).join(',');
  }

  remove(labels: LabelValues<L>): void {
    this.series.delete(this.key(labels));
  }

  clear(): void {
    this.series.clear();
  }

  abstract readonly type: string;

  /** One line per series (counters and gauges; histograms write their buckets). */
  protected lines(): string[] {
    return [...this.series.values()].map((s) => line(this.name, labelText(s.labels), s.value));
  }

  render(): string {
    return [`# HELP ${escapeText(this.name)} ${escapeText(this.help)}`, `# TYPE ${escapeText(this.name)} ${this.type}`]
      .concat(this.lines())
      .join('\n');
  }
}

class Counter<L extends string = never> extends Family<L> {
  readonly type = 'counter';

  inc(labels: LabelValues<L> = {}, by = 1): void {
    const key = this.key(labels);
    const s = this.series.get(key);
    if (s) s.value += by;
    else this.series.set(key, { labels, value: by });
  }
}

class Gauge<L extends string = never> extends Family<L> {
  readonly type = 'gauge';

  set(labels: LabelValues<L>, value: number): void;
  set(value: number): void;
  set(a: LabelValues<L> | number, b?: number): void {
    const [labels, value] = typeof a === 'number' ? [{}, a] : [a, b as number];
    this.series.set(this.key(labels), { labels, value });
  }
}

class Histogram<L extends string> extends Family<L> {
  readonly type = 'histogram';
  readonly #buckets: number[];
  readonly #counts = new Map<string, { counts: number[]; sum: number; count: number }>();

  constructor(name: string, help: string, labelNames: readonly L[], buckets: number[]) {
    super(name, help, labelNames);
    this.series.clear();
    this.#buckets = buckets;
  }

  observe(labels: LabelValues<L>, value: number): void {
    const key = this.key(labels);
    let h = this.#counts.get(key);
    if (!h) {
      h = { counts: this.#buckets.map(() => 0), sum: 0, count: 0 };
      this.#counts.set(key, h);
      this.series.set(key, { labels, value: 0 });
    }
    const i = this.#buckets.findIndex((b) => value <= b);
    if (i >= 0) h.counts[i]++;
    h.sum += value;
    h.count += 1;
  }

  override remove(labels: LabelValues<L>): void {
    super.remove(labels);
    this.#counts.delete(this.key(labels));
  }

  protected override lines(): string[] {
    const out: string[] = [];
    for (const [key, s] of this.series) {
      const h = this.#counts.get(key);
      if (!h) continue;
      const shared = labelText(s.labels);
      const withLe = (le: string) => [`le="${le}"`, shared].filter(Boolean).join(',');
      let acc = 0;
      this.#buckets.forEach((b, i) => {
        acc += h.counts[i];
        out.push(line(`${this.name}_bucket`, withLe(String(b)), acc));
      });
      out.push(line(`${this.name}_bucket`, withLe('+Inf'), h.count));
      out.push(line(`${this.name}_sum`, shared, h.sum), line(`${this.name}_count`, shared, h.count));
    }
    return out;
  }
}

export class Metrics {
  readonly #calls = new Counter<'server' | 'tool' | 'outcome'>(
    'gatehouse_tool_calls_total',
    'tools/call requests by server, tool and outcome',
    ['server', 'tool', 'outcome'],
  );
  readonly #latency = new Histogram<'server' | 'outcome'>(
    'gatehouse_tool_call_duration_seconds',
    'tools/call latency through the gateway',
    ['server', 'outcome'],
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  );
  readonly #requests = new Counter<'method' | 'era'>(
    'gatehouse_requests_total',
    'json-rpc requests by method and protocol era',
    ['method', 'era'],
  );
  readonly upstreamUp = new Gauge<'server'>('gatehouse_upstream_up', '1 when the upstream is connected', ['server']);
  /** 0 closed, 1 half-open, 2 open (src/upstream/breaker.ts). */
  readonly upstreamCircuit = new Gauge<'server'>(
    'gatehouse_upstream_circuit_state',
    'circuit breaker per upstream: 0 closed, 1 half-open, 2 open',
    ['server'],
  );
  readonly upstreamCircuitChanges = new Counter<'server' | 'to'>(
    'gatehouse_upstream_circuit_changes_total',
    'circuit breaker transitions per upstream, by the state entered',
    ['server', 'to'],
  );
  readonly sessions = new Gauge('gatehouse_legacy_sessions', 'open legacy (2025-11-25) sessions in this process', []);
  /** 1 while this process hears the other replicas' changes over Redis (src/sessions/fanout.ts). */
  readonly fanoutUp = new Gauge(
    'gatehouse_fanout_up',
    '1 while replica fan-out over Redis is subscribed; 0 when Redis is away (sessions are re-read on every request) or not configured',
    [],
  );
  /** 1 while limits are enforced locally, divided, because Redis failed. */
  readonly limitsDegraded = new Gauge(
    'gatehouse_limits_degraded',
    '1 while limits are enforced locally (divided by fallbackDivisor) because Redis failed',
    [],
  );
  /** READ calls let through while the audit store could not write (`audit.readWhenUnavailable: allow`). */
  readonly auditFailOpen = new Counter(
    'gatehouse_audit_fail_open_total',
    'READ calls executed without a write-ahead audit record (audit store unavailable, readWhenUnavailable: allow)',
    [],
  );
  /** Records each audit export has not delivered yet (src/audit/exports.ts), read at each scrape. */
  readonly #exportLag = new Gauge<'export'>(
    'gatehouse_audit_export_lag_records',
    'audit records each export has not delivered yet, from the cursor every replica shares (the last position less the cursor)',
    ['export'],
  );
  /** Failed attempts to deliver a batch, by export: a rate above zero is an export failing now. */
  readonly auditExportFailures = new Counter<'export'>(
    'gatehouse_audit_export_failures_total',
    'failed attempts of this process to deliver a batch of audit records, by export (each is retried; nothing is dropped)',
    ['export'],
  );
  /** Bytes held from upstreams and not yet parsed (src/util/byte-budget.ts), read at each scrape. */
  readonly #upstreamBuffered = new Gauge(
    'gatehouse_upstream_buffered_bytes',
    'bytes held from upstream servers and not yet parsed, all servers together',
    [],
  );
  /** Upstream messages refused or dropped unparsed, by why (src/util/byte-budget.ts). */
  readonly upstreamRefused = new Counter<'reason'>(
    'gatehouse_upstream_messages_refused_total',
    'upstream messages refused unparsed: too_large (over the server messages.maxBytes), budget (over gateway.maxUpstreamBufferedBytes), notification (dropped from a notification stream)',
    ['reason'],
  );
  /** HTTP connections refused as they arrived, by the cap they were over, or closed for pipelining too far ahead (src/listeners/connection-gate.ts). */
  readonly connectionsRefused = new Counter<'reason'>(
    'gatehouse_connections_refused_total',
    'http connections refused: total (over gateway.maxConnections) and address (over gateway.maxConnectionsPerAddress) as they arrived, pipelined (closed for sending more than 32 requests ahead of their answers)',
    ['reason'],
  );
  /** Bytes of client requests held (src/util/request-budget.ts), read at each scrape. */
  readonly #requestBuffered = new Gauge(
    'gatehouse_request_buffered_bytes',
    'bytes of client requests held: bodies being read and requests not yet answered, all tenants together',
    [],
  );
  /** Requests refused over the budget of request bytes, by the bound they were over (src/listeners/request-bytes.ts). */
  readonly requestsOverBudget = new Counter<'reason'>(
    'gatehouse_requests_over_budget_total',
    "requests refused over gateway.maxBufferedRequestBytes: tenant (over its tenant's half), unauthenticated (over the half of requests read before authentication), total (over the whole)",
    ['reason'],
  );
  /** Methods a server sent that the gateway does not take from servers (src/protocol/upstream-methods.ts). */
  readonly upstreamMethodsRefused = new Counter<'server' | 'kind'>(
    'gatehouse_upstream_methods_refused_total',
    'messages from upstream servers whose method the gateway does not take from servers, by server and kind: request (answered -32601), notification (dropped)',
    ['server', 'kind'],
  );
  /** What #upstreamBuffered reads. */
  bufferedBytes: () => number = () => 0;
  /** What #requestBuffered reads. */
  requestBufferedBytes: () => number = () => 0;
  /** What #exportLag reads: records not yet delivered, by configured export. */
  exportLag: () => Promise<Record<string, number>> = async () => ({});
  /** In the order they are rendered (the order prom-client registered them in). */
  readonly #families: Family<string>[] = [
    this.#calls,
    this.#latency,
    this.#requests,
    this.upstreamUp,
    this.upstreamCircuit,
    this.upstreamCircuitChanges,
    this.sessions,
    this.fanoutUp,
    this.limitsDegraded,
    this.auditFailOpen,
    this.#exportLag,
    this.auditExportFailures,
    this.#upstreamBuffered,
    this.upstreamRefused,
    this.connectionsRefused,
    this.#requestBuffered,
    this.requestsOverBudget,
    this.upstreamMethodsRefused,
  ];
  #runtime: Promise<Registry> | undefined;

  recordCall(server: string, tool: string, outcome: string, seconds: number): void {
    this.#calls.inc({ server, tool, outcome });
    this.#latency.observe({ server, outcome }, seconds);
  }

  /** Known methods only; anything else is counted as `other`. */
  recordRequest(method: string, known: boolean, era: string): void {
    this.#requests.inc({ method: known ? method : 'other', era });
  }

  /**
   * prom-client's process and runtime metrics, started at the first scrape. That scrape waits for a
   * few samples of the event-loop delay monitor (every 10 ms): without one its minimum reads 9.2e9 s.
   */
  #runtimeRegistry(): Promise<Registry> {
    this.#runtime ??= import('prom-client').then(async ({ Registry, collectDefaultMetrics }) => {
      const registry = new Registry();
      // prom-client's own names already start with process_ or nodejs_: gatehouse_process_cpu_seconds_total, gatehouse_nodejs_heap_size_used_bytes.
      collectDefaultMetrics({ register: registry, prefix: 'gatehouse_' });
      await new Promise((resolve) => setTimeout(resolve, 25));
      return registry;
    });
    return this.#runtime;
  }

  async render(): Promise<{ contentType: string; body: string }> {
    const runtime = await this.#runtimeRegistry();
    const before = await runtime.metrics();
    this.#upstreamBuffered.set(this.bufferedBytes());
    this.#requestBuffered.set(this.requestBufferedBytes());
    // The exports configured now: one removed by a reload leaves the lag gauge; a failing store leaves it empty.
    const lag = await this.exportLag().catch(() => ({}));
    this.#exportLag.clear();
    for (const [name, n] of Object.entries(lag)) {
      this.#exportLag.set({ export: name }, n);
      this.auditExportFailures.inc({ export: name }, 0); // shown at 0 before the first failure
    }
    const own = this.#families.map((f) => f.render()).join('\n\n');
    return { contentType: runtime.contentType, body: `${before}\n${own}\n` };
  }
}
