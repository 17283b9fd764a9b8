/**
 * A deployment on loopback for scale-out tests and drills: gateway replicas as child processes (the
 * CLI, so one can be SIGKILLed or sent SIGHUP), each with its own state directory, sharing one fresh
 * PostgreSQL schema, one Redis key prefix and one secrets key, behind nginx (Debian package) started
 * by the test with its config in a temp dir. Every process is stopped by its PID.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ROOT } from './gateway.ts';
import { childEnv, freePort, stopper } from './processes.ts';
import { eventually } from './eventually.ts';
import { after, before, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import {
  dropPgSchema,
  freshPgSchema,
  pgTestUrl,
  postgresAvailable,
  redisAvailable,
  requireService,
} from './services.ts';

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
export const REDIS_SERVER = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p));
export const RECORDER = join(ROOT, 'test/fixtures/upstreams/recording-server.ts');

async function waitFor(what: string, fn: () => Promise<boolean>, ms = 20_000): Promise<void> {
  await eventually(fn, { timeoutMs: ms }).catch(() => {
    throw new Error(`timed out waiting for ${what}`);
  });
}

/** A PostgreSQL URL in `schema` whose connections carry `app` as application_name (so a drill can cut exactly them). */
function pgUrl(schema: string, app: string, base = pgTestUrl()): string {
  const u = new URL(base);
  u.searchParams.set('options', `-c search_path=${schema}`);
  u.searchParams.set('application_name', app);
  return u.toString();
}

export async function createSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: pgTestUrl() });
  await c.connect();
  try {
    await c.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  } finally {
    await c.end();
  }
}

export interface Replica {
  name: string;
  port: number;
  url: string;
  file: string;
  dir: string;
  child: ChildProcess;
  log: () => string;
  stop(): Promise<void>;
}

export interface DeploymentOptions {
  schema: string;
  /** application_name of every PostgreSQL connection. */
  app: string;
  redisUrl: string;
  /** Unique per test file: limits, refusals and the fan-out channel. */
  keyPrefix: string;
  recordFile: string;
  /** Extra YAML appended at the top level (e.g. `limits` rules go through `limitRules`). */
  limitRules?: string;
  /** The public URL (nginx's), for the Host and Origin allowlists. */
  publicUrl: string;
  /** More top-level YAML sections (identity, policy, approvals...). */
  top?: string;
  secretsKey: string;
  /** The PostgreSQL URL replicas connect to, before its schema and name (default pgTestUrl(): e.g. a tcp-proxy's). */
  postgresBase?: string;
  /** More `storage` keys, indented under it (e.g. `  queryTimeoutMs: 60000\n`). */
  storageExtra?: string;
  /** More `gateway` keys, indented under it (e.g. `  sessionIdleSeconds: 120\n`). */
  gatewayExtra?: string;
}

function replicaYaml(
  o: DeploymentOptions,
  port: number,
  stateDir: string,
  redisUrl = o.redisUrl,
  extraTools = '',
): string {
  return `version: 1
gateway:
  listen: { host: 127.0.0.1, port: ${port} }
  stateDir: ${JSON.stringify(stateDir)}
  publicUrl: ${o.publicUrl}
  trustedProxies: [127.0.0.1]
${o.gatewayExtra ?? ''}storage:
  driver: postgres
  postgresUrl: ${JSON.stringify(pgUrl(o.schema, o.app, o.postgresBase))}
${o.storageExtra ?? ''}inventory: { newTools: accept }
limits:
  redis: { url: ${JSON.stringify(redisUrl)}, keyPrefix: ${JSON.stringify(o.keyPrefix)}, fallbackDivisor: 3 }
  rules:
${o.limitRules ?? '    - { id: few-others, scope: tool, tools: [rec__other], rate: { points: 4, perSeconds: 3600 } }\n'}${o.top ?? ''}servers:
  - name: rec
    transport: stdio
    command: ${JSON.stringify(process.execPath)}
    args: ${JSON.stringify([RECORDER])}
    env: { RECORD_FILE: ${JSON.stringify(o.recordFile)} }
    tools: { record: { class: READ }, other: { class: READ }, slow: { class: WRITE }${extraTools} }
`;
}

/** Start one replica through the CLI on `port`; resolves once /readyz answers 200. */
export async function startReplica(
  name: string,
  o: DeploymentOptions,
  port: number,
  redisUrl?: string,
  env: Record<string, string> = {},
): Promise<Replica> {
  const dir = mkdtempSync(join(tmpdir(), `gatehouse-${name}-`));
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, replicaYaml(o, port, join(dir, 'state'), redisUrl));
  let out = '';
  const child = spawn(process.execPath, [join(ROOT, 'src/cli/main.ts'), 'start', '--json', '--config', file], {
    env: childEnv({ GATEHOUSE_SECRETS_KEY: o.secretsKey, GATEHOUSE_LOG_LEVEL: 'info', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-200_000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-200_000)));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      `replica ${name} ready`,
      async () => {
        if (child.exitCode !== null) throw new Error(`replica ${name} exited (${child.exitCode}): ${out.slice(-2000)}`);
        return (await fetch(`${url}/readyz`)).status === 200;
      },
      30_000,
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const stop = stopper(child);
  return {
    name,
    port,
    url,
    file,
    dir,
    child,
    log: () => out,
    stop: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Nginx {
  url: string;
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * nginx in front of `ports`: round robin, keep-alive to the replicas, no buffering (SSE streams pass
 * at once). `proxy_next_upstream error timeout` without `non_idempotent`: a POST is moved to another
 * replica only when it could not be sent (connection refused), never after a replica may have
 * started executing it, so nothing runs twice. Each answer names the replica that served it.
 */
export async function startNginx(ports: number[], port?: number): Promise<Nginx> {
  if (!NGINX) throw new Error('nginx is not installed (apt-get install -y nginx-light)');
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-nginx-'));
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, d));
  const listen = port ?? (await freePort());
  const conf = `daemon off;
master_process on;
worker_processes 1;
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream gatehouse {
${ports.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=2s;`).join('\n')}
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${listen};
    location / {
      proxy_pass http://gatehouse;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 120s;
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 3;
      add_header X-Gatehouse-Replica $upstream_addr always;
    }
  }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const test = spawnSync(NGINX, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf')], { encoding: 'utf8' });
  if (test.status !== 0) throw new Error(`nginx -t: ${test.stderr}`);
  const child = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const url = `http://127.0.0.1:${listen}`;
  await waitFor('nginx', async () => {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${readFileSync(join(dir, 'error.log'), 'utf8')}`);
    const r = await fetch(`${url}/healthz`);
    return r.status > 0;
  });
  return {
    url,
    port: listen,
    child,
    stop: async () => {
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGQUIT'); // graceful: the master stops its workers
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A Redis of the test's own on a free loopback port (no persistence), to stop and start in drills. */
export async function startOwnRedis(port?: number): Promise<{ url: string; port: number; stop(): Promise<void> }> {
  if (!REDIS_SERVER) throw new Error('redis-server is not installed');
  const p = port ?? (await freePort());
  const child = spawn(REDIS_SERVER, ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const { connect } = await import('node:net');
  await waitFor(
    'redis',
    () =>
      new Promise((r) => {
        const s = connect({ host: '127.0.0.1', port: p });
        s.once('connect', () => {
          s.destroy();
          r(true);
        });
        s.once('error', () => r(false));
      }),
  );
  return { url: `redis://127.0.0.1:${p}`, port: p, stop: stopper(child) };
}

export function newSecretsKey(): string {
  return randomBytes(32).toString('base64');
}

/** The JSON-RPC answer of a POST whose reply may be JSON or one SSE event. */
export async function rpcBody(
  r: Response,
): Promise<{ result?: Record<string, unknown>; error?: { code: number; message: string; data?: unknown } }> {
  const text = await r.text();
  if ((r.headers.get('content-type') ?? '').includes('text/event-stream')) {
    const data = text
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).trim())
      .filter(Boolean);
    for (const d of data) {
      const m = JSON.parse(d) as {
        id?: unknown;
        result?: Record<string, unknown>;
        error?: { code: number; message: string };
      };
      if (m.id !== undefined && (m.result || m.error)) return m;
    }
    throw new Error(`no answer in the stream: ${text.slice(0, 500)}`);
  }
  return JSON.parse(text) as never;
}

/** Lines of the recording upstream's file that are tools/call requests (an execution each). */
export function recordedCalls(file: string): Array<{ name: string; arguments: Record<string, unknown> }> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"tools/call"'))
    .map((l) => (JSON.parse(l) as { params: { name: string; arguments: Record<string, unknown> } }).params);
}

export { waitFor };

export interface Deployment {
  readonly opts: DeploymentOptions;
  readonly replicas: Replica[];
  /** The test file's own temporary folder (the recording file is in it). */
  readonly tmp: string;
  /** nginx in front of the replicas, once started. */
  lb: Nginx | undefined;
  /** Whether a test can use the deployment: skipped visibly without PostgreSQL, Redis or nginx (failed under CI=true). */
  usable(t: TestContext): Promise<boolean>;
}

/**
 * Three replicas of one deployment (fresh PostgreSQL schema, own Redis key prefix) behind nginx, for
 * one test file: started in its before() hook (then `afterStart`, e.g. API keys), stopped in after().
 */
export function deployment(
  name: string,
  replicaPrefix: string,
  extra: Partial<DeploymentOptions> = {},
  afterStart?: (d: Deployment) => Promise<void>,
): Deployment {
  const schema = freshPgSchema();
  const tmp = mkdtempSync(join(tmpdir(), `gatehouse-${name}-`));
  let ready = false;
  const d: Deployment = {
    opts: {
      schema,
      app: `gatehouse-${name}-${schema}`,
      redisUrl: 'redis://127.0.0.1:6379',
      keyPrefix: `gatehouse-test:${schema}:`,
      recordFile: join(tmp, 'rec.jsonl'),
      publicUrl: '',
      secretsKey: newSecretsKey(),
      ...extra,
    },
    replicas: [],
    tmp,
    lb: undefined,
    async usable(t) {
      if (!(await requireService(t, 'postgres')) || !(await requireService(t, 'redis'))) return false;
      if (!NGINX) {
        if (process.env.CI === 'true') assert.fail('nginx is not installed');
        t.skip('nginx is not installed (apt-get install -y nginx-light)');
        return false;
      }
      assert.ok(ready, 'the deployment started');
      return true;
    },
  };
  before(async () => {
    if (!NGINX || !(await postgresAvailable()) || !(await redisAvailable())) return;
    await createSchema(schema);
    const lbPort = await freePort();
    d.opts.publicUrl = `http://127.0.0.1:${lbPort}`;
    const ports = [await freePort(), await freePort(), await freePort()];
    d.replicas.push(...(await Promise.all(ports.map((p, i) => startReplica(`${replicaPrefix}${i + 1}`, d.opts, p)))));
    d.lb = await startNginx(ports, lbPort);
    await afterStart?.(d);
    ready = true;
  });
  after(async () => {
    await d.lb?.stop();
    await Promise.all(d.replicas.map((r) => r.stop()));
    if (ready) await dropPgSchema(schema).catch(() => {});
    rmSync(tmp, { recursive: true, force: true });
  });
  return d;
}
