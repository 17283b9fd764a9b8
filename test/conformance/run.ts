/**
 * `npm run conformance`: the official MCP conformance suite (server scenarios) against our fixture
 * directly, then against the same fixture behind Gatehouse (`/servers/fixture/mcp`, the gateway
 * started through its CLI). Prints a table per suite and writes test/conformance/results/latest.json.
 *
 * Suites: `active` and `all` from the released suite (@modelcontextprotocol/conformance), and
 * `2026-07-28` (`--requirements 2026-07-28`) from the prerelease installed as `conformance-next`.
 * Options: --suite <name>[,<name>] (default: all three), --direct-only (skip the gateway),
 * --fixture-era both|legacy|modern (the eras the fixture serves; default both: Gatehouse then talks
 * 2026-07-28 to it, `legacy` makes it bridge to a 2025-11-25-only server), --fixture-tools classic
 * (its sampling and elicitation tools ask by server-to-client request, as the reference servers'
 * do, instead of returning input_required: see fixture-classic.ts);
 * GATEHOUSE_CONFORMANCE_LOG=<file> appends the gateway's log to that file.
 * Exit status: 1 when the gateway's score is below the direct score (or the gateway run failed),
 * or when a suite could not run; 0 otherwise. Scenarios that fail directly are reported, not fatal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { childEnv, freePort, stopper } from '../support/processes.ts';
import { eventually } from '../support/eventually.ts';
import {
  failedChecks,
  gatewayBelow,
  parseSummary,
  regressions,
  scenarioOfFolder,
  table,
  type SuiteRun,
} from './report.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
const STABLE = join(ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const NEXT = join(ROOT, 'node_modules/conformance-next/dist/index.js');
export const SUITES: Record<string, string[]> = {
  active: [STABLE, '--suite', 'active'],
  all: [STABLE, '--suite', 'all'],
  '2026-07-28': [NEXT, '--requirements', '2026-07-28'],
};
const SUITE_TIMEOUT_MS = 600_000;

/** Every process this run started and that has not exited: stopped with it on SIGINT or SIGTERM. */
const running = new Set<ChildProcess>();
function track<T extends ChildProcess>(child: T): T {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Run one suite against `url`. Never throws: a suite that cannot run comes back with `error`. */
export async function runSuite(url: string, suite: string): Promise<SuiteRun> {
  const [bin, ...selection] = SUITES[suite] ?? [];
  if (!bin) return { suite, scores: {}, error: `unknown suite \`${suite}\`` };
  if (!existsSync(bin)) return { suite, scores: {}, error: `conformance suite not installed: ${bin}` };
  const out = await mkdtemp(join(tmpdir(), 'gatehouse-conformance-'));
  const args = [bin, 'server', '--url', url, '-o', out, ...selection];
  try {
    const text = await new Promise<string>((done) => {
      const child = track(spawn(process.execPath, args, { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] }));
      let buf = '';
      child.stdout.on('data', (d) => (buf += d));
      child.stderr.on('data', (d) => (buf += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), SUITE_TIMEOUT_MS);
      child.on('error', (err) => (buf += `\n${err.message}`));
      child.on('close', () => {
        clearTimeout(timer);
        done(buf);
      });
    });
    const scores = parseSummary(text);
    for (const folder of readdirSync(out)) {
      const name = scenarioOfFolder(folder) ?? '';
      const file = join(out, folder, 'checks.json');
      if (scores[name] && !scores[name].ok && existsSync(file))
        scores[name].failures = failedChecks(JSON.parse(readFileSync(file, 'utf8')));
    }
    if (!Object.keys(scores).length)
      return { suite, scores, error: `the conformance suite printed no summary: ${text.slice(-1500)}` };
    return { suite, scores };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

export interface Proc {
  url: string;
  stop(): Promise<void>;
}

/** Start the fixture on a free loopback port, serving `era` (both, legacy or modern); resolves with its MCP URL. */
export function startFixture(era = 'both', tools = 'input-required'): Promise<Proc> {
  const args = [join(ROOT, 'test/conformance/fixture-server.ts'), '--port', '0', '--era', era, '--tools', tools];
  const child = track(spawn(process.execPath, args, { env: childEnv(), stdio: ['ignore', 'pipe', 'inherit'] }));
  return new Promise((done, fail) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error('the fixture printed no url in 15 s'));
    }, 15_000);
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{') && l.endsWith('}'));
      if (!line) return;
      clearTimeout(timer);
      done({ url: (JSON.parse(line) as { url: string }).url, stop: stopper(child) });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`the fixture exited with ${code}`));
    });
  });
}

/** Start Gatehouse through its CLI in front of the fixture; resolves once GET /readyz answers 200. */
export async function startGatehouse(fixtureUrl: string, readyMs = 30_000): Promise<Proc> {
  const cli = join(ROOT, 'src/cli/main.ts');
  if (!existsSync(cli)) throw new Error(`gatehouse cli not found: ${cli}`);
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-conformance-gw-'));
  const port = await freePort();
  const config = join(dir, 'gatehouse.yaml');
  writeFileSync(
    config,
    [
      'version: 1',
      `gateway: { listen: { host: 127.0.0.1, port: ${port} }, stateDir: ${JSON.stringify(join(dir, 'state'))} }`,
      `servers: [{ name: fixture, transport: http, url: ${JSON.stringify(fixtureUrl)} }]`,
      '',
    ].join('\n'),
  );
  const child = track(
    spawn(process.execPath, [cli, 'start', '--config', config], {
      cwd: ROOT,
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  // The gateway's own log: the last 4 kB are quoted if it fails to start; all of it goes to
  // $GATEHOUSE_CONFORMANCE_LOG when set (to diagnose a scenario that fails only through the gateway).
  const logFile = process.env.GATEHOUSE_CONFORMANCE_LOG;
  let log = '';
  const keep = (d: Buffer) => {
    log = (log + d.toString()).slice(-4000);
    if (logFile) appendFileSync(logFile, d);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const stopChild = stopper(child);
  const stop = async () => {
    await stopChild();
    await rm(dir, { recursive: true, force: true });
  };
  const base = `http://127.0.0.1:${port}`;
  // Ready, or exited: either ends the wait.
  const ready = await eventually(
    async () => {
      if (child.exitCode !== null) return 'exited';
      const r = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
      return r?.status === 200 && 'ready';
    },
    { timeoutMs: readyMs, intervalMs: 200 },
  ).catch(() => 'timed out');
  if (ready === 'ready') return { url: `${base}/servers/fixture/mcp`, stop };
  const why =
    child.exitCode !== null
      ? `gatehouse exited with ${child.exitCode}`
      : `gatehouse was not ready in ${readyMs / 1000} s`;
  await stop();
  throw new Error(`${why}; its last output:\n${log.trim()}`);
}

export interface ConformanceRun {
  date: string;
  /** The eras the fixture served (`--fixture-era`). */
  fixtureEra: string;
  /** How its tools ask the client (`--fixture-tools`): `input-required` or `classic`. */
  fixtureTools?: string;
  direct: SuiteRun[];
  gateway?: SuiteRun[];
  /** Why the run through Gatehouse did not happen or did not finish. */
  gatewayError?: string;
  /** The `active` suite again, against the fixture with classic client-request tools (the default run only). */
  classic?: ConformanceRun;
}

/** The suites against the fixture directly, then (unless `directOnly`) through Gatehouse. */
export async function runConformance(
  suites: string[],
  opts: { directOnly?: boolean; era?: string; tools?: string } = {},
): Promise<ConformanceRun> {
  const fixture = await startFixture(opts.era, opts.tools);
  const result: ConformanceRun = {
    date: new Date().toISOString(),
    fixtureEra: opts.era ?? 'both',
    fixtureTools: opts.tools ?? 'input-required',
    direct: [],
  };
  try {
    for (const suite of suites) {
      process.stderr.write(`conformance: suite ${suite}, direct\n`);
      result.direct.push(await runSuite(fixture.url, suite));
    }
    if (opts.directOnly) return result;
    let gw: Proc;
    try {
      gw = await startGatehouse(fixture.url);
    } catch (err) {
      result.gatewayError = (err as Error).message;
      return result;
    }
    try {
      result.gateway = [];
      for (const suite of suites) {
        process.stderr.write(`conformance: suite ${suite}, through gatehouse\n`);
        result.gateway.push(await runSuite(gw.url, suite));
      }
    } finally {
      await gw.stop();
    }
    return result;
  } finally {
    await fixture.stop();
  }
}

/** Whether the run fails: a suite that could not run directly, or a gateway score below the direct one. */
export function failed(run: ConformanceRun, directOnly: boolean): string[] {
  const why = run.direct.filter((d) => d.error).map((d) => `suite \`${d.suite}\` did not run directly: ${d.error}`);
  if (directOnly) return why;
  if (run.gatewayError) return [...why, `the run through gatehouse failed: ${run.gatewayError.split('\n')[0]}`];
  for (const d of run.direct) {
    const g = run.gateway?.find((x) => x.suite === d.suite);
    if (!gatewayBelow(d, g)) continue;
    const lost = g && !g.error ? regressions(d.scores, g.scores) : [];
    why.push(
      `suite \`${d.suite}\`: the gateway scores below the direct run${g?.error ? ` (${g.error})` : ''}${lost.length ? ` (passes directly only: ${lost.join(', ')})` : ''}`,
    );
  }
  return why;
}

if (import.meta.main) {
  // `npm run conformance` stopped (Ctrl-C, kill, a CI timeout): the fixture, the gateway and the suite with it.
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      for (const child of running) child.kill('SIGTERM');
      process.exit(130);
    });
  const arg = (name: string) =>
    process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined;
  const suites = arg('--suite')?.split(',') ?? Object.keys(SUITES);
  const directOnly = process.argv.includes('--direct-only');
  const run = await runConformance(suites, { directOnly, era: arg('--fixture-era'), tools: arg('--fixture-tools') });
  for (const d of run.direct)
    process.stdout.write(
      `${table(
        d,
        run.gateway?.find((g) => g.suite === d.suite),
        directOnly ? undefined : run.gatewayError,
      )}\n`,
    );
  // By default, also the fixture whose tools ask by server-to-client request, as reference servers' do.
  if (!arg('--fixture-tools') && suites.includes('active')) {
    run.classic = await runConformance(['active'], { directOnly, era: arg('--fixture-era'), tools: 'classic' });
    process.stdout.write('\n(the fixture with classic client-request tools, fixture-classic.ts)\n');
    for (const d of run.classic.direct)
      process.stdout.write(
        `${table(
          d,
          run.classic.gateway?.find((g) => g.suite === d.suite),
          directOnly ? undefined : run.classic.gatewayError,
        )}\n`,
      );
  }
  mkdirSync(join(ROOT, 'test/conformance/results'), { recursive: true });
  writeFileSync(join(ROOT, 'test/conformance/results/latest.json'), `${JSON.stringify(run, null, 2)}\n`);
  const problems = [
    ...failed(run, directOnly),
    ...(run.classic ? failed(run.classic, directOnly).map((p) => `classic tools: ${p}`) : []),
  ];
  for (const p of problems) process.stderr.write(`conformance: ${p}\n`);
  process.exit(problems.length ? 1 : 0);
}
