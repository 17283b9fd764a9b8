/**
 * `npm run conformance`: the official MCP conformance suite (server scenarios) against our fixture
 * directly, then against the same fixture through Gatehouse (`/servers/fixture/mcp`). Prints a
 * table per suite and writes test/conformance/results/latest.json. Exits 1 when any scenario passes
 * directly but not through the gateway. Suites: the released suite's `active` and `all`, and the
 * prerelease's `--requirements 2026-07-28`. Options: --suite active|all|2026-07-28 (default: all
 * three); --fixture <file> (another fixture script that prints {"url": ...}).
 * Scores come from the suite's machine-readable output (`-o <dir>`: one checks.json per scenario).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, startGateway } from '../support/gateway.ts';
import { startPrintingUrl } from '../support/processes.ts';

export interface Check { id: string; status: string; errorMessage?: string }
export interface ScenarioScore { passed: number; failed: number; warnings: number; problems: string[] }
export type SuiteScores = Record<string, ScenarioScore>;

/** The released suite (0.1.x) and the prerelease that knows the 2026-07-28 requirements (0.2 alpha). */
const STABLE = join(ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const NEXT = join(ROOT, 'node_modules/conformance-next/dist/index.js');
const SUITE_TIMEOUT_MS = 600_000;

/** One scenario's checks, scored as the suite scores them; failures and warnings keep their message. */
export function score(checks: Check[]): ScenarioScore {
  const s: ScenarioScore = { passed: 0, failed: 0, warnings: 0, problems: [] };
  for (const c of checks) {
    if (c.status === 'SUCCESS') s.passed++;
    else if (c.status === 'FAILURE') s.failed++;
    else if (c.status === 'WARNING') s.warnings++;
    else continue;
    if (c.status !== 'SUCCESS') s.problems.push(`${c.status.toLowerCase()} ${c.id}: ${c.errorMessage ?? ''}`.trim());
  }
  return s;
}

/** The scenario a result directory belongs to: `server-<scenario>-<ISO time with dashes>`. */
export function scenarioOf(dir: string): string | undefined {
  return /^server-(.+)-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d+Z$/.exec(dir)?.[1];
}

/**
 * Scores of every scenario the suite saved under `dir`. A scenario that crashed leaves its directory
 * without checks.json; it counts as one failure, with the reason the suite printed in `output`.
 */
export function readResults(dir: string, output: string): SuiteScores {
  const out: SuiteScores = {};
  for (const d of readdirSync(dir).sort()) {
    const scenario = scenarioOf(d);
    if (!scenario) continue;
    const file = join(dir, d, 'checks.json');
    if (existsSync(file)) {
      out[scenario] = score(JSON.parse(readFileSync(file, 'utf8')) as Check[]);
      continue;
    }
    const reason = output.split('\n').find((l) => l.startsWith(`Failed to run scenario ${scenario}: `))?.slice(`Failed to run scenario ${scenario}: `.length);
    out[scenario] = { passed: 0, failed: 1, warnings: 0, problems: [`failure crashed: ${reason ?? 'the scenario saved no checks'}`] };
  }
  return out;
}

/** Runs one suite (`active`, `all`, or `2026-07-28`: the prerelease's --requirements) against `url`. */
export function runSuite(url: string, suite: string): Promise<SuiteScores> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-conformance-'));
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const args = suite === '2026-07-28' ? [NEXT, 'server', '--url', url, '--requirements', suite] : [STABLE, 'server', '--url', url, '--suite', suite];
  const child = spawn(process.execPath, [...args, '-o', dir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), SUITE_TIMEOUT_MS);
  return new Promise<SuiteScores>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      try {
        const scores = readResults(dir, out);
        if (!Object.keys(scores).length) return reject(new Error(`the conformance suite saved no results (exit ${code ?? signal}):\n${out.slice(-2000)}`));
        resolve(scores);
      } catch (err) {
        reject(err);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

export interface Comparison { suite: string; direct: SuiteScores; gateway: SuiteScores; regressions: string[]; differences: string[] }

const clean = (s?: ScenarioScore) => !!s && s.failed === 0 && s.passed > 0;

/**
 * Scenarios whose only SUCCESS check measures optional server behaviour. server-sse-polling: the
 * server MAY close a POST stream mid-call (SEP-1699); a gateway that resumes the upstream stream
 * itself and answers on the open stream scores 0 passed, 0 failed, which is conformant.
 */
export const OPTIONAL = new Set(['server-sse-polling']);

/**
 * A regression: passes directly, fails (or does not run, or passes nothing) through the gateway.
 * A scenario may run fewer checks through the gateway when a check applies only to SSE answers and
 * the gateway answered with JSON (both are allowed by the spec); that is only a difference.
 */
export function regressions(direct: SuiteScores, gateway: SuiteScores): string[] {
  const ok = (s: string) => clean(gateway[s]) || (OPTIONAL.has(s) && gateway[s]?.failed === 0);
  return Object.keys(direct).filter((s) => clean(direct[s]) && !ok(s));
}

/** Scenarios whose checks did not come out the same (counts or messages), either way. */
export function differences(direct: SuiteScores, gateway: SuiteScores): string[] {
  const key = (s?: ScenarioScore) => (s ? JSON.stringify([s.passed, s.failed, s.warnings, s.problems]) : '-');
  return [...new Set([...Object.keys(direct), ...Object.keys(gateway)])].filter((s) => key(direct[s]) !== key(gateway[s]));
}

export const FIXTURE = join(ROOT, 'test/conformance/fixture-server.ts');

export async function compare(suites: string[], script = FIXTURE): Promise<Comparison[]> {
  const fixture = await startPrintingUrl(script);
  const gw = await startGateway(`  - { name: fixture, transport: http, url: ${JSON.stringify(fixture.url)} }\n`);
  try {
    const out: Comparison[] = [];
    for (const suite of suites) {
      process.stderr.write(`conformance: suite ${suite}, direct (${fixture.url})\n`);
      const direct = await runSuite(fixture.url, suite);
      process.stderr.write(`conformance: suite ${suite}, through gatehouse (${gw.url}/servers/fixture/mcp)\n`);
      const gateway = await runSuite(`${gw.url}/servers/fixture/mcp`, suite);
      out.push({ suite, direct, gateway, regressions: regressions(direct, gateway), differences: differences(direct, gateway) });
    }
    return out;
  } finally {
    await gw.close();
    await fixture.stop();
  }
}

export function totals(s: SuiteScores): { passed: number; failed: number; warnings: number } {
  return Object.values(s).reduce((a, x) => ({ passed: a.passed + x.passed, failed: a.failed + x.failed, warnings: a.warnings + x.warnings }), { passed: 0, failed: 0, warnings: 0 });
}

/** A markdown table of one suite, then the checks of every scenario that differs. */
export function table(c: Comparison): string {
  const cell = (x?: ScenarioScore) => (x ? `${clean(x) ? '✓' : '✗'} ${x.passed}/${x.passed + x.failed}${x.warnings ? ` (${x.warnings} warn)` : ''}` : '-');
  const names = [...new Set([...Object.keys(c.direct), ...Object.keys(c.gateway)])];
  const rows = names.map((s) => `| ${s} | ${cell(c.direct[s])} | ${cell(c.gateway[s])} |`);
  const t = (s: SuiteScores) => {
    const x = totals(s);
    return `${x.passed}/${x.passed + x.failed}${x.warnings ? ` (${x.warnings} warn)` : ''}, ${Object.values(s).filter(clean).length}/${Object.keys(s).length} scenarios`;
  };
  const diff = c.differences.flatMap((s) => [
    `- ${s}${c.regressions.includes(s) ? ' (REGRESSION)' : ''}`,
    ...(c.direct[s]?.problems ?? []).map((p) => `  - direct: ${p}`),
    ...(c.gateway[s]?.problems ?? []).map((p) => `  - gateway: ${p}`),
  ]);
  return [`### suite: ${c.suite}`, '', '| scenario | direct | through gatehouse |', '|---|---|---|', ...rows, `| **total** | ${t(c.direct)} | ${t(c.gateway)} |`, '', ...(diff.length ? ['differences:', ...diff, ''] : [])].join('\n');
}

if (import.meta.main) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const suite = arg('--suite');
  const suites = suite ? [suite] : ['active', 'all', '2026-07-28'];
  const results = await compare(suites, arg('--fixture') ?? FIXTURE);
  for (const r of results) process.stdout.write(`${table(r)}\n`);
  mkdirSync(join(ROOT, 'test/conformance/results'), { recursive: true });
  writeFileSync(join(ROOT, 'test/conformance/results/latest.json'), `${JSON.stringify({ date: new Date().toISOString(), results }, null, 2)}\n`);
  const broken = results.filter((r) => r.suite !== '2026-07-28' && !Object.values(r.direct).some(clean)).map((r) => r.suite);
  if (broken.length) {
    process.stderr.write(`conformance: the fixture passes no scenario directly in ${broken.map((s) => `\`${s}\``).join(', ')}: the fixture is broken\n`);
    process.exit(2);
  }
  const bad = results.flatMap((r) => r.regressions.map((s) => `${r.suite}/${s}`));
  if (bad.length) {
    process.stderr.write(`conformance: passes directly but not through gatehouse: ${bad.join(', ')}\n`);
    process.exit(1);
  }
  process.exit(0);
}
