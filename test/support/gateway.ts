/**
 * Starting a real gateway for end-to-end tests: in-process (Gateway.start from YAML text through the
 * real config loader) or as a child process through the CLI. Real upstreams come from npm.
 */
import type { Clock } from '../../src/util/clock.ts';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { parseConfig } from '../../src/config/load.ts';
import { Gateway } from '../../src/main.ts';
import { silentLogger, type Logger } from '../../src/observability/logger.ts';
import { eventually } from './eventually.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const EVERYTHING = join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
export const FILESYSTEM = join(ROOT, 'node_modules/@modelcontextprotocol/server-filesystem/dist/index.js');

/** YAML for a stdio server running a node script with this Node. */
export function stdioServer(name: string, script: string, args: string[] = []): string {
  return `  - name: ${name}\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: ${JSON.stringify([script, ...args])}\n`;
}

export interface TestGateway {
  gw: Gateway;
  url: string;
  dir: string;
  /** The config file (written for CLI commands that share the gateway's store). */
  file: string;
  close(): Promise<void>;
}

/**
 * Start a gateway on a free loopback port with `servers` (YAML list items), extra gateway keys and
 * extra top-level sections (`top`, e.g. `inventory: { newTools: accept }`).
 */
export async function startGateway(
  servers: string,
  opts: {
    gateway?: string;
    storage?: string;
    top?: string;
    waitMs?: number;
    port?: number;
    log?: Logger;
    before?: (stateDir: string) => Promise<void>;
    /** The gateway's clock (upstream OAuth, circuit breakers): a TestClock lets a test advance time. */
    clock?: Clock;
  } = {},
): Promise<TestGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-test-'));
  const yaml = `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: ${opts.port ?? 0} }\n  stateDir: ${JSON.stringify(join(dir, 'state'))}\n${opts.gateway ?? ''}${opts.storage ?? ''}${opts.top ?? ''}servers:\n${servers || '  []\n'}`;
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, yaml);
  const config = parseConfig(yaml, file);
  await opts.before?.(config.gateway.stateDir);
  const gw = await Gateway.start(config, {
    log: opts.log ?? (process.env.GATEHOUSE_TEST_LOG ? undefined : silentLogger()),
    clock: opts.clock,
  });
  await gw.waitForUpstreams(opts.waitMs ?? 20_000);
  return {
    gw,
    url: gw.url,
    dir,
    file,
    close: async () => {
      await gw.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A gateway in front of one HTTP upstream named `h` (its new tools accepted) that closes the upstream
 * when it closes; `top` adds top-level sections.
 */
export async function startGatewayFor(up: { url: string; close(): Promise<void> }, top = ''): Promise<TestGateway> {
  const t = await startGateway(`  - { name: h, transport: http, url: ${JSON.stringify(up.url)} }\n`, {
    top: `inventory: { newTools: accept }\n${top}`,
  });
  return {
    ...t,
    close: async () => {
      await t.close();
      await up.close();
    },
  };
}

/**
 * Start the CLI as a child process; resolves once /readyz answers 200. `cli`: the script to run
 * (default the source; a packed install's bin/gatehouse.js runs its dist/).
 */
export async function startCli(
  configYaml: string,
  dir: string,
  cli = join(ROOT, 'src/cli/main.ts'),
): Promise<{
  child: ChildProcess;
  url: string;
  file: string;
  /** What it logged (stderr) so far. */
  log(): string;
  /** Resolves once a line of its log matches `re` (after `from`, an earlier length of log()). */
  logged(re: RegExp, from?: number): Promise<string>;
  stop(): Promise<void>;
}> {
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, configYaml);
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [cli, 'start', '--json', '--config', file], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logText = '';
  child.stderr!.on('data', (d: Buffer) => {
    logText += d.toString();
  });
  const url = await new Promise<string>((resolveUrl, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolveUrl((JSON.parse(line) as { url: string }).url.replace(/\/mcp$/, ''));
    });
    child.once('exit', (code) => reject(new Error(`gatehouse exited with ${code}`)));
    setTimeout(() => reject(new Error('gatehouse did not start')), 20_000).unref();
  });
  await eventually(async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200, {
    timeoutMs: 20_000,
    intervalMs: 100,
  }).catch(() => {
    // As before: a gateway that is up but not ready (an upstream that will not start) is for the test to judge.
  });
  return {
    child,
    url,
    file,
    log: () => logText,
    logged: (re, from = 0) =>
      eventually(
        () =>
          logText
            .slice(from)
            .split('\n')
            .find((l) => re.test(l)),
        { timeoutMs: 20_000 },
      ).catch(() => {
        throw new Error(`gatehouse logged no line matching ${re}:\n${logText.slice(-2000)}`);
      }),
    stop: () =>
      new Promise<void>((res) => {
        if (child.exitCode !== null) return res();
        child.once('exit', () => res());
        child.kill('SIGTERM');
      }),
  };
}

/** Run a `gatehouse` CLI command to completion; stdout, stderr and the exit code. */
export function runCli(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, ...opts.env };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [join(ROOT, 'src/cli/main.ts'), ...args], {
    env,
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((res) => child.once('close', (code) => res({ code: code ?? -1, stdout, stderr })));
}

/**
 * An API key made as an operator makes one: `gatehouse keys create --json` against `configFile` (the
 * store a test gateway shares); the key. Options are the command's flags, passed only when given (so
 * an omitted one takes the CLI's default): `person` is `-p` (the subject the key acts for), `roles`
 * `-r`, `scopes` `-s`, `expires` `-e`; `extra` is appended as is; `env` is added to the CLI's
 * environment. Fails the test, with the CLI's stderr, if the command does.
 */
export async function createKey(
  configFile: string,
  opts: {
    name: string;
    tenant: string;
    person?: string;
    roles?: string;
    scopes?: string;
    expires?: string;
    extra?: string[];
    env?: Record<string, string>;
  },
): Promise<string> {
  const flag = (f: string, v: string | undefined) => (v === undefined ? [] : [f, v]);
  const args = [
    'keys',
    'create',
    '-n',
    opts.name,
    '-t',
    opts.tenant,
    ...flag('-p', opts.person),
    ...flag('-r', opts.roles),
    ...flag('-s', opts.scopes),
    ...flag('-e', opts.expires),
    ...(opts.extra ?? []),
    '--json',
    '-c',
    configFile,
  ];
  const r = await runCli(args, { env: opts.env });
  assert.equal(r.code, 0, `gatehouse ${args.join(' ')} exited with ${r.code}:\n${r.stderr}`);
  let key: unknown;
  try {
    key = (JSON.parse(r.stdout) as { key?: unknown }).key;
  } catch {
    assert.fail(`gatehouse keys create printed no JSON:\n${r.stdout}\n${r.stderr}`);
  }
  assert.equal(typeof key, 'string', `gatehouse keys create printed no key:\n${r.stdout}`);
  return key as string;
}
