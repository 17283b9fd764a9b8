/**
 * The benchmark's result model and its Markdown rendering (pure, no I/O). Every path is measured
 * several times, interleaved with the others, and each row holds the medians of its repetitions; a
 * row is compared with the direct row and the raw relay row of the same N from the same run, never
 * with another run (absolute figures differ several-fold between machines of the same kind).
 */

export type PathId =
  | 'direct'
  | 'relay'
  | 'gatehouse-http'
  | 'gatehouse-stdio'
  | 'full-http'
  | 'full-stdio'
  | 'against-http'
  | 'against-stdio'
  | 'list-direct'
  | 'list-gatehouse'
  | 'list-full';

const PATHS: Record<PathId, string> = {
  direct: 'direct: load -> echo upstream (Streamable HTTP)',
  relay: 'raw relay: load -> node:http relay that checks and records nothing -> echo upstream',
  'gatehouse-http': 'Gatehouse as shipped -> echo upstream over Streamable HTTP (tool `echo__echo`)',
  'gatehouse-stdio': 'Gatehouse as shipped -> echo upstream over stdio (tool `echo_stdio__echo`)',
  'full-http': 'Gatehouse, whole control plane -> echo upstream over Streamable HTTP',
  'full-stdio': 'Gatehouse, whole control plane -> echo upstream over stdio',
  'against-http': 'The other build (`--against`), whole control plane -> echo upstream over Streamable HTTP',
  'against-stdio': 'The other build (`--against`), whole control plane -> echo upstream over stdio',
  'list-direct': 'tools/list of 200 tools, direct',
  'list-gatehouse': 'tools/list of 200 tools through Gatehouse as shipped (`/servers/echo/mcp`)',
  'list-full': 'tools/list of 200 tools through Gatehouse, whole control plane',
};

/** Which paths a gateway serves, and the baseline each list path compares with. */
const GATEWAY_PATHS = new Set<PathId>([
  'gatehouse-http',
  'gatehouse-stdio',
  'full-http',
  'full-stdio',
  'against-http',
  'against-stdio',
  'list-gatehouse',
  'list-full',
]);

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
  /** How many repetitions the medians are over. */
  reps?: number;
  /** set when this point could not be measured at all */
  failure?: string;
}

/** A start's facts; `idlePrivateMb` is the anonymous part of the idle RSS (absent in results of older runs). */
interface StartFacts {
  coldStartMs: number;
  idleRssMb: number;
  idlePrivateMb?: number;
}
type Started = ({ started: true } & StartFacts) | { started: false; error: string };

export interface Facts {
  date: string;
  id: string;
  commit?: string;
  node: string;
  cores: number;
  cpuModel: string;
  warmupMs: number;
  measureMs: number;
  /** The unrecorded warm-up round before the first repetition: every path this long at the largest N (absent in older results). */
  roundMs?: number;
  reps?: number;
  /** Gatehouse as shipped (no identity, no policy). */
  gateway: Started;
  /** Gatehouse with API-key identity, a deny-by-default policy, durable audit and redaction. */
  full?: Started;
  /** `--against`: another build's gateway with the whole control plane, measured in turn with this one's. */
  against?: Started;
  /** Its commit, when its directory is a git checkout. */
  againstCommit?: string;
  relay?: StartFacts;
  /** `gatehouse --help` from dist/, median wall time of several runs. */
  helpMs?: number;
  /** Gatehouse with no servers (its own start, without the upstreams'): median of three starts. */
  bare?: StartFacts;
  /** Gatehouse as shipped with only the stdio echo server (one tool), then only the HTTP one (its tools): median of three starts each. */
  withStdio?: StartFacts;
  withHttp?: StartFacts;
}

export interface Result {
  facts: Facts;
  rows: Row[];
}

export interface Comparison {
  ratio: number;
  addedP50ms: number;
}

/** calls/s of `row` over calls/s of `base`, and the p50 latency it adds. */
export function compare(row: Measurement, base: Measurement | undefined): Comparison | undefined {
  if (!base?.callsPerSec || !row.calls) return undefined;
  return { ratio: row.callsPerSec / base.callsPerSec, addedP50ms: row.p50ms - base.p50ms };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function medianOf(values: Array<number | undefined>): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length ? median(known) : undefined;
}

/** One row per (path, N): the median of each figure over the repetitions that were measured. */
export function medians(rows: Row[]): Row[] {
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const key = `${r.path} ${r.n}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((reps) => {
    const ok = reps.filter((r) => !r.failure);
    const first = reps[0];
    if (!ok.length) return { ...first, reps: 0 };
    return {
      path: first.path,
      n: first.n,
      reps: ok.length,
      calls: ok.reduce((a, r) => a + r.calls, 0),
      errors: reps.reduce((a, r) => a + r.errors, 0),
      firstError: reps.find((r) => r.firstError)?.firstError,
      callsPerSec: median(ok.map((r) => r.callsPerSec)),
      p50ms: median(ok.map((r) => r.p50ms)),
      p99ms: median(ok.map((r) => r.p99ms)),
      cpuUsPerCall: medianOf(ok.map((r) => r.cpuUsPerCall)),
      rssPeakMb: medianOf(ok.map((r) => r.rssPeakMb)),
    };
  });
}

const num = (v: number | undefined, digits = 0): string =>
  v === undefined ? '-' : v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

const ratioCell = (c: Comparison | undefined): string => (c ? `${num(c.ratio, 2)}x` : '-');
const addedCell = (c: Comparison | undefined): string => (c ? num(c.addedP50ms, 2) : '-');
const escapeCell = (s: string): string => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** The row each path is compared with: direct for calls, direct listing for listings. */
function baselineOf(path: PathId): PathId {
  return path.startsWith('list-') ? 'list-direct' : 'direct';
}

function measuredCells(r: Row, gateway: boolean, base: Row | undefined, relay: Row | undefined): string[] {
  const cells = [num(r.n), num(r.callsPerSec), num(r.p50ms, 2), num(r.p99ms, 2)];
  if (r.path !== 'direct' && r.path !== 'list-direct') cells.push(ratioCell(compare(r, base)));
  if (gateway && !r.path.startsWith('list-')) cells.push(ratioCell(compare(r, relay)));
  if (r.path !== 'direct' && r.path !== 'list-direct') cells.push(addedCell(compare(r, base)));
  if (r.path === 'relay' || gateway) cells.push(num(r.cpuUsPerCall));
  if (gateway) cells.push(num(r.rssPeakMb, 1));
  return [...cells, num(r.errors)];
}

function header(path: PathId): string[] {
  const gateway = GATEWAY_PATHS.has(path);
  const base = path === 'direct' || path === 'list-direct';
  const head = ['N', 'calls/s', 'p50 ms', 'p99 ms'];
  if (!base) head.push(path.startsWith('list-') ? 'ratio to direct listing' : 'ratio to direct');
  if (gateway && !path.startsWith('list-')) head.push('ratio to relay');
  if (!base) head.push('added p50 ms');
  if (path === 'relay' || gateway) head.push(`${gateway ? 'gateway' : 'relay'} CPU µs/call`);
  if (gateway) head.push('gateway RSS peak MB');
  return [...head, 'errors'];
}

function table(path: PathId, rows: Row[], all: Row[]): string[] {
  const head = header(path);
  const find = (p: PathId, n: number) => all.find((r) => r.path === p && r.n === n && !r.failure);
  const out = [`### ${PATHS[path]}`, '', `| ${head.join(' | ')} |`, `|${head.map(() => '---:').join('|')}|`];
  for (const r of rows) {
    if (r.failure || r.reps === 0) {
      const why = escapeCell(r.failure ?? 'no repetition could be measured');
      out.push(`| ${r.n} | not measured: ${why} |${' |'.repeat(head.length - 2)}`);
      continue;
    }
    const cells = measuredCells(r, GATEWAY_PATHS.has(path), find(baselineOf(path), r.n), find('relay', r.n));
    out.push(`| ${cells.join(' | ')} |`);
  }
  const firstError = rows.find((r) => r.firstError)?.firstError;
  if (firstError) out.push('', `First error: \`${firstError.replaceAll('`', "'")}\``);
  return [...out, ''];
}

function startedLine(name: string, s: Started | undefined): string | undefined {
  if (!s) return undefined;
  if (!s.started) return `- **${name}: could not be started, so its rows were not measured.** Reason: ${s.error}`;
  return `- ${name}: idle RSS ${rss(s)} after start; cold start to \`/readyz\` 200 in ${num(s.coldStartMs)} ms (both upstreams connected).`;
}

/** `79.4 MB (24.1 private)`: the idle RSS, and the part of it that is the process's own when known. */
function rss(s: StartFacts): string {
  return `${num(s.idleRssMb, 1)} MB${s.idlePrivateMb === undefined ? '' : ` (${num(s.idlePrivateMb, 1)} private)`}`;
}

function startedFacts(s: Started | undefined): StartFacts | undefined {
  return s?.started ? s : undefined;
}

/** The issue's summary: one line per configuration at the highest N measured, with +p50 at N=1. */
function summary(all: Row[], facts: Facts): string[] {
  const ns = [...new Set(all.map((r) => r.n))].sort((a, b) => a - b);
  const top = ns[ns.length - 1];
  const find = (p: PathId, n: number | undefined) => all.find((r) => r.path === p && r.n === n && !r.failure);
  const other = `Other build${facts.againstCommit ? ` (${facts.againstCommit})` : ''}`;
  const configs: Array<[PathId, string, Started | undefined]> = [
    ['relay', 'raw node:http relay', undefined],
    ['gatehouse-stdio', 'Gatehouse as shipped, stdio upstream', facts.gateway],
    ['gatehouse-http', 'Gatehouse as shipped, HTTP upstream', facts.gateway],
    ['full-stdio', 'Gatehouse whole control plane, stdio', facts.full],
    ['full-http', 'Gatehouse whole control plane, HTTP', facts.full],
    ['against-stdio', `${other}, whole control plane, stdio`, facts.against],
    ['against-http', `${other}, whole control plane, HTTP`, facts.against],
  ];
  const out = [
    `| config | N=${top} calls/s (x direct) | CPU µs/call at N=${top} | +p50 at N=1 | cold start | idle RSS (private) |`,
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const [path, label, started] of configs) {
    const r = find(path, top);
    if (!r) continue;
    const c = compare(r, find('direct', top));
    const one = find(path, 1);
    const added = one ? compare(one, find('direct', 1)) : undefined;
    const s = path === 'relay' ? facts.relay : startedFacts(started);
    out.push(
      `| ${label} | ${num(r.callsPerSec)} (${ratioCell(c)}) | ${num(r.cpuUsPerCall)} | ${added ? `${num(added.addedP50ms, 2)} ms` : '-'} | ${s ? `${num(s.coldStartMs)} ms` : '-'} | ${s ? rss(s) : '-'} |`,
    );
  }
  return out.length > 2 ? [...out, ''] : [];
}

/**
 * This build against the other (`--against`), repetition by repetition: each pair was measured
 * minutes apart at most, so the ratios share the machine's noise where medians of two runs do not.
 */
function pairs(raw: Row[]): string[] {
  const out: string[] = [];
  for (const [mine, other, label] of [
    ['full-stdio', 'against-stdio', 'stdio'],
    ['full-http', 'against-http', 'HTTP'],
  ] as const) {
    for (const n of [...new Set(raw.map((r) => r.n))].sort((a, b) => a - b)) {
      const a = raw.filter((r) => r.path === mine && r.n === n);
      const b = raw.filter((r) => r.path === other && r.n === n);
      const calls: number[] = [];
      const cpu: number[] = [];
      for (let i = 0; i < Math.min(a.length, b.length); i++) {
        if (a[i].failure || b[i].failure || !b[i].callsPerSec) continue;
        calls.push(a[i].callsPerSec / b[i].callsPerSec);
        const [x, y] = [a[i].cpuUsPerCall, b[i].cpuUsPerCall];
        if (x !== undefined && y) cpu.push(x / y);
      }
      if (!calls.length) continue;
      const list = (xs: number[]) => xs.map((x) => num(x, 2)).join(', ');
      out.push(
        `- ${label}, N=${n}: calls/s ${list(calls)} (median ${num(median(calls), 2)}); CPU per call ${cpu.length ? `${list(cpu)} (median ${num(median(cpu), 2)})` : '-'}`,
      );
    }
  }
  return out.length ? ['This build over the other, whole control plane, per repetition:', '', ...out, ''] : [];
}

export function render(result: Result): string {
  const { facts } = result;
  const rows = medians(result.rows);
  const reps = facts.reps ?? 1;
  const lines = [
    `# Gatehouse benchmark, ${facts.date} (${facts.id})`,
    '',
    `- Machine: ${facts.cores} cores (${facts.cpuModel}), Node ${facts.node}; load generator, gateway and upstream share the cores.`,
    `- Commit: ${facts.commit ?? 'unknown'}.`,
    `- Each point: ${facts.warmupMs} ms warm-up, then ${facts.measureMs} ms measured${facts.roundMs ? `, after a warm-up round in which every path ran ${facts.roundMs} ms at the largest N, unrecorded` : ''}; \`tools/call\` echo with a 1 KB text in a closed loop, N concurrent legacy (2025-11-25) sessions. ${reps > 1 ? `Every path measured ${reps} times, interleaved with the others; each figure is the median.` : 'One repetition (figures are single measurements).'}`,
    startedLine('Gateway as shipped', facts.gateway),
    startedLine(
      'Gateway, whole control plane (API-key identity, deny-by-default policy, durable audit, redaction)',
      facts.full,
    ),
    startedLine(
      `The other build (\`--against\`${facts.againstCommit ? `, commit ${facts.againstCommit}` : ''}), whole control plane`,
      facts.against,
    ),
    facts.bare === undefined
      ? undefined
      : `- Gateway alone (no servers, a new state directory; median of three starts): cold start to \`/readyz\` 200 in ${num(facts.bare.coldStartMs)} ms, idle RSS ${rss(facts.bare)}.`,
    facts.withStdio === undefined
      ? undefined
      : `- Gateway with only the stdio echo server (one tool; median of three starts): cold start in ${num(facts.withStdio.coldStartMs)} ms, idle RSS ${rss(facts.withStdio)}.`,
    facts.withHttp === undefined
      ? undefined
      : `- Gateway with only the HTTP echo server (200 tools, the server the listings use; median of three starts): cold start in ${num(facts.withHttp.coldStartMs)} ms, idle RSS ${rss(facts.withHttp)}.`,
    facts.helpMs === undefined ? undefined : `- \`gatehouse --help\` (dist/): ${num(facts.helpMs)} ms.`,
    '',
    ...summary(rows, facts),
    ...pairs(result.rows),
  ].filter((l): l is string => l !== undefined);
  for (const path of Object.keys(PATHS) as PathId[]) {
    const mine = rows.filter((r) => r.path === path);
    if (mine.length) lines.push(...table(path, mine, rows));
  }
  lines.push('Ratios compare with the row of the same N in the same run; see `bench/README.md`.', '');
  return lines.join('\n');
}
