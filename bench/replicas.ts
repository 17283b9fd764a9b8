/**
 * `npm run bench -- --replicas`: throughput of two Gatehouse replicas against one, behind nginx, on
 * this machine, reported as a ratio. Both setups are the deployment of docs/operations.md: PostgreSQL
 * (a fresh schema, dropped afterwards) for state and audit, Redis (a fresh key prefix) for limits and
 * fan-out, nginx (Debian package) round-robin in front, the built `dist/` as operators run it, the
 * echo upstream over Streamable HTTP. The same load (`bench/load.ts`, N sessions, 1 KB echo) goes
 * through nginx to one replica, then to two. On a machine whose cores are shared by load generator,
 * nginx, replicas, upstream and PostgreSQL, the ratio says how much a second process buys here, not
 * what it buys on separate hosts.
 *   node bench/run.ts --replicas [--quick] [--n 16]
 * Needs PostgreSQL (GATEHOUSE_TEST_PG_URL or postgres://postgres@127.0.0.1:5432/test) and Redis on
 * 127.0.0.1:6379. Writes bench/results/<date>-<id>-replicas.{md,json}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSchema, startNginx, type Nginx } from '../test/support/scale-out.ts';
import { dropPgSchema, freshPgSchema, pgTestUrl } from '../test/support/services.ts';
import { freePort } from '../test/support/processes.ts';
import type { Measurement } from './report.ts';
import { buildDist, gitCommit } from './machine.ts';

const ROOT = join(import.meta.dirname, '..');
const ECHO = join(ROOT, 'bench/echo-server.ts');

interface Options {
  quick: boolean;
  ns: number[];
}
interface Point {
  replicas: number;
  n: number;
  m: Measurement | { failure: string };
}

const say = (message: string) => process.stderr.write(`bench: ${message}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn' };
  delete e.NODE_TEST_CONTEXT;
  return e;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  if ((await Promise.race([exited.then(() => true), sleep(5000).then(() => false)])) === false) child.kill('SIGKILL');
}

/** A node script printing one JSON line on stdout; its value. */
function jsonLine<T>(
  args: string[],
  timeoutMs: number,
  children: Set<ChildProcess>,
): Promise<{ child: ChildProcess; value: T }> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: env(), stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[0]} printed nothing in ${timeoutMs} ms`)), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l, i, all) => i < all.length - 1 && l.startsWith('{'));
      if (line) {
        clearTimeout(timer);
        resolve({ child, value: JSON.parse(line) as T });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args[0]} exited with ${code}`));
    });
  });
}

async function startReplica(
  dir: string,
  name: string,
  port: number,
  lbPort: number,
  pgUrl: string,
  prefix: string,
  echoUrl: string,
  key: string,
  children: Set<ChildProcess>,
): Promise<ChildProcess> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      'version: 1',
      'gateway:',
      `  listen: { host: 127.0.0.1, port: ${port} }`,
      `  stateDir: ${JSON.stringify(join(dir, name))}`,
      `  publicUrl: http://127.0.0.1:${lbPort}`,
      '  trustedProxies: [127.0.0.1]',
      'storage:',
      '  driver: postgres',
      `  postgresUrl: ${JSON.stringify(pgUrl)}`,
      'inventory: { newTools: accept }',
      'limits:',
      `  redis: { url: "redis://127.0.0.1:6379", keyPrefix: ${JSON.stringify(prefix)}, fallbackDivisor: 2 }`,
      '  rules: [{ id: generous, scope: principal, rate: { points: 1000000, perSeconds: 1 } }]',
      'servers:',
      `  - { name: echo, transport: http, url: ${JSON.stringify(echoUrl)} }`,
      '',
    ].join('\n'),
  );
  const child = spawn(process.execPath, ['dist/cli/main.js', 'start', '--config', file], {
    cwd: ROOT,
    env: { ...env(), GATEHOUSE_SECRETS_KEY: key },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.add(child);
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`replica ${name} exited with ${child.exitCode}`);
    const r = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
    await r?.body?.cancel();
    if (r?.status === 200) return child;
    await sleep(50);
  }
  throw new Error(`replica ${name} not ready in 30 s`);
}

function render(points: Point[], facts: Record<string, unknown>): string {
  const ok = (p: Point | undefined) => (p && 'callsPerSec' in p.m ? p.m : undefined);
  const lines = [
    `# Gatehouse replicas benchmark, ${facts.date} (${facts.id})`,
    '',
    `- Machine: ${facts.cores} cores (${facts.cpuModel}), Node ${facts.node}; load generator, nginx, replicas, echo upstream, PostgreSQL and Redis share the cores.`,
    `- Commit: ${facts.commit ?? 'unknown'}. Each point: ${facts.warmupMs} ms warm-up, then ${facts.measureMs} ms measured; \`tools/call\` echo (1 KB) over Streamable HTTP through nginx, N concurrent legacy sessions.`,
    '- Replicas: `dist/`, PostgreSQL store and audit, Redis limits and fan-out, HTTP upstream.',
    `- Load average (1 min) before and after: ${Number(facts.loadBefore).toFixed(2)}, ${Number(facts.loadAfter).toFixed(2)} (anything above 0 is other work on the machine, and the figures are only comparable within one run).`,
    '',
    '| N | 1 replica calls/s | p50 ms | p99 ms | 2 replicas calls/s | p50 ms | p99 ms | ratio 2:1 |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const n of [...new Set(points.map((p) => p.n))]) {
    const one = ok(points.find((p) => p.n === n && p.replicas === 1));
    const two = ok(points.find((p) => p.n === n && p.replicas === 2));
    const f = (m: Measurement | undefined, k: 'callsPerSec' | 'p50ms' | 'p99ms') => {
      if (!m) return 'failed';
      return k === 'callsPerSec' ? Math.round(m[k]).toLocaleString('en') : m[k].toFixed(2);
    };
    const ratio = one && two && one.callsPerSec > 0 ? `${(two.callsPerSec / one.callsPerSec).toFixed(2)}x` : '-';
    lines.push(
      `| ${n} | ${f(one, 'callsPerSec')} | ${f(one, 'p50ms')} | ${f(one, 'p99ms')} | ${f(two, 'callsPerSec')} | ${f(two, 'p50ms')} | ${f(two, 'p99ms')} | ${ratio} |`,
    );
  }
  const failures = points.filter((p) => 'failure' in p.m);
  for (const p of failures)
    lines.push('', `${p.replicas} replica(s), N=${p.n} failed: ${(p.m as { failure: string }).failure}`);
  return `${lines.join('\n')}\n`;
}

export async function runReplicas(o: Options): Promise<number> {
  const warmupMs = o.quick ? 500 : 2000;
  const measureMs = o.quick ? 2000 : 8000;
  const loadBefore = loadavg()[0];
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-replicas-'));
  const schema = freshPgSchema();
  const children = new Set<ChildProcess>();
  const points: Point[] = [];
  let lb: Nginx | undefined;
  let schemaMade = false;
  // Stopped (Ctrl-C, kill): the replicas, nginx, the echo server and the schema go with it.
  const stopped = () => {
    void (async () => {
      await lb?.stop().catch(() => {});
      await Promise.all([...children].map((c) => stop(c)));
      if (schemaMade) await dropPgSchema(schema).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    })();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, stopped);
  try {
    say('building dist/');
    buildDist();
    await createSchema(schema);
    schemaMade = true;
    const u = new URL(pgTestUrl());
    u.searchParams.set('options', `-c search_path=${schema}`);
    u.searchParams.set('application_name', `gatehouse-bench-${schema}`);
    const key = randomBytes(32).toString('base64');
    const prefix = `gatehouse-bench:${schema}:`;
    const echo = await jsonLine<{ url: string }>([ECHO], 15_000, children);
    const ports = [await freePort(), await freePort()];
    const lbPort = await freePort();
    say('starting two replicas');
    for (const [i, p] of ports.entries())
      await startReplica(dir, `r${i + 1}`, p, lbPort, u.toString(), prefix, echo.value.url, key, children);
    for (const replicas of [1, 2]) {
      lb = await startNginx(ports.slice(0, replicas), lbPort);
      for (const n of o.ns) {
        say(`measuring ${replicas} replica(s) behind nginx, N=${n} ...`);
        try {
          const { value } = await jsonLine<Measurement>(
            [
              join(ROOT, 'bench/load.ts'),
              '--url',
              `${lb.url}/mcp`,
              '--tool',
              'echo__echo',
              '--clients',
              String(n),
              '--warmup',
              String(warmupMs),
              '--measure',
              String(measureMs),
            ],
            warmupMs + measureMs + 60_000,
            children,
          );
          say(
            `  ${Math.round(value.callsPerSec)} calls/s, p50 ${value.p50ms.toFixed(2)} ms, p99 ${value.p99ms.toFixed(2)} ms, ${value.errors} errors`,
          );
          points.push({ replicas, n, m: value });
        } catch (err) {
          points.push({ replicas, n, m: { failure: (err as Error).message } });
        }
      }
      await lb.stop();
      lb = undefined;
    }
  } catch (err) {
    say(`replicas mode failed: ${(err as Error).message}`);
    return 1;
  } finally {
    await lb?.stop();
    await Promise.all([...children].map((c) => stop(c)));
    if (schemaMade) await dropPgSchema(schema).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
  const commit = gitCommit();
  const facts = {
    date: new Date().toISOString().slice(0, 10),
    id: randomBytes(3).toString('hex'),
    commit,
    node: process.version,
    cores: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    warmupMs,
    measureMs,
    loadBefore,
    loadAfter: loadavg()[0],
  };
  const markdown = render(points, facts);
  const results = join(ROOT, 'bench/results');
  mkdirSync(results, { recursive: true });
  const name = `${facts.date}-${facts.id}-replicas`;
  writeFileSync(join(results, `${name}.json`), `${JSON.stringify({ facts, points }, null, 2)}\n`);
  writeFileSync(join(results, `${name}.md`), markdown);
  say(`wrote bench/results/${name}.md and .json`);
  process.stdout.write(markdown);
  return points.some((p) => 'failure' in p.m) ? 1 : 0;
}
