/**
 * The benchmark's result model and its Markdown rendering (pure, no I/O): one table per path, each
 * gateway row compared with the direct row of the same N from the same run.
 */

export type PathId = 'direct' | 'gatehouse-http' | 'gatehouse-stdio';

const PATHS: Record<PathId, string> = {
  direct: 'direct: load -> echo upstream (Streamable HTTP)',
  'gatehouse-http': 'through Gatehouse -> echo upstream over Streamable HTTP (tool `echo__echo`)',
  'gatehouse-stdio': 'through Gatehouse -> echo upstream over stdio (tool `echo_stdio__echo`)',
};

export interface Measurement {
  calls: number;
  errors: number;
  firstError?: string;
  callsPerSec: number;
  p50ms: number;
  p99ms: number;
  cpuUsPerCall?: number;
  rssPeakMb?: number;
}

export interface Row extends Measurement {
  path: PathId;
  n: number;
  /** set when this point could not be measured at all */
  failure?: string;
}

export interface Facts {
  date: string;
  id: string;
  commit?: string;
  node: string;
  cores: number;
  cpuModel: string;
  warmupMs: number;
  measureMs: number;
  gateway: { started: true; coldStartMs: number; idleRssMb: number } | { started: false; error: string };
}

export interface Result {
  facts: Facts;
  rows: Row[];
}

export interface Comparison {
  ratio: number;
  addedP50ms: number;
}

/** calls/s of `row` over calls/s of `direct`, and the p50 latency it adds. */
export function compare(row: Measurement, direct: Measurement | undefined): Comparison | undefined {
  if (!direct?.callsPerSec || !row.calls) return undefined;
  return { ratio: row.callsPerSec / direct.callsPerSec, addedP50ms: row.p50ms - direct.p50ms };
}

const num = (v: number | undefined, digits = 0): string =>
  v === undefined ? '-' : v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function table(path: PathId, rows: Row[], direct: Map<number, Row>): string[] {
  const gateway = path !== 'direct';
  const head = gateway
    ? [
        'N',
        'calls/s',
        'p50 ms',
        'p99 ms',
        'ratio to direct',
        'added p50 ms',
        'gateway CPU µs/call',
        'gateway RSS peak MB',
        'errors',
      ]
    : ['N', 'calls/s', 'p50 ms', 'p99 ms', 'errors'];
  const out = [`### ${PATHS[path]}`, '', `| ${head.join(' | ')} |`, `|${head.map(() => '---:').join('|')}|`];
  for (const r of rows) {
    if (r.failure) {
      out.push(
        `| ${r.n} | not measured: ${r.failure.replaceAll('|', '\\|').replaceAll('\n', ' ')} |${' |'.repeat(head.length - 2)}`,
      );
      continue;
    }
    const base = [num(r.n), num(r.callsPerSec), num(r.p50ms, 2), num(r.p99ms, 2)];
    const c = compare(r, direct.get(r.n));
    const extra = gateway
      ? [c ? `${num(c.ratio, 2)}x` : '-', c ? num(c.addedP50ms, 2) : '-', num(r.cpuUsPerCall), num(r.rssPeakMb, 1)]
      : [];
    out.push(`| ${[...base, ...extra, num(r.errors)].join(' | ')} |`);
  }
  const firstError = rows.find((r) => r.firstError)?.firstError;
  if (firstError) out.push('', `First error: \`${firstError.replaceAll('`', "'")}\``);
  return [...out, ''];
}

export function render(result: Result): string {
  const { facts, rows } = result;
  const direct = new Map(rows.filter((r) => r.path === 'direct' && !r.failure).map((r) => [r.n, r]));
  const lines = [
    `# Gatehouse benchmark, ${facts.date} (${facts.id})`,
    '',
    `- Machine: ${facts.cores} cores (${facts.cpuModel}), Node ${facts.node}; load generator, gateway and upstream share the cores.`,
    `- Commit: ${facts.commit ?? 'unknown'}.`,
    `- Each point: ${facts.warmupMs} ms warm-up, then ${facts.measureMs} ms measured; \`tools/call\` echo with a 1 KB text in a closed loop, N concurrent legacy (2025-11-25) sessions.`,
    facts.gateway.started
      ? `- Gateway: idle RSS ${num(facts.gateway.idleRssMb, 1)} MB after start; cold start to \`/readyz\` 200 in ${num(facts.gateway.coldStartMs)} ms (both upstreams connected).`
      : `- **Gateway: could not be started, so only the direct rows were measured.** Reason: ${facts.gateway.error}`,
    '',
  ];
  for (const path of Object.keys(PATHS) as PathId[]) {
    const mine = rows.filter((r) => r.path === path);
    if (mine.length) lines.push(...table(path, mine, direct));
  }
  lines.push('Ratios compare with the direct row of the same N in the same run; see `bench/README.md`.', '');
  return lines.join('\n');
}
