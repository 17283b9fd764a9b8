/** Child processes for tests: real MCP servers on free loopback ports, stopped by PID. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { eventually } from './eventually.ts';

/**
 * Ports handed out for a test to listen on later come from below the kernel's ephemeral range: a
 * port found free by listening on port 0 is itself ephemeral, and between its test listen and the
 * real one any outgoing connection on the machine (another test's client, the database driver) may
 * take it as its local port (EADDRINUSE, seen in CI). Below the range only another listener can.
 */
function listenRange(): [number, number] {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: the usual default
  }
  return low > 12_000 ? [low - 10_000, low - 1] : [0, 0];
}

function canListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => {
      const { port: bound } = s.address() as { port: number };
      s.close(() => resolve(bound));
    });
  });
}

export async function freePort(): Promise<number> {
  const [from, to] = listenRange();
  for (let i = 0; from > 0 && i < 50; i++) {
    const port = await canListen(from + Math.floor(Math.random() * (to - from + 1)));
    if (port !== undefined) return port;
  }
  const port = await canListen(0);
  if (port === undefined) throw new Error('no free loopback port');
  return port;
}

async function waitForPort(port: number, ms = 15_000): Promise<void> {
  const listening = () =>
    new Promise<boolean>((r) => {
      const c = connect({ host: '127.0.0.1', port });
      c.once('connect', () => {
        c.destroy();
        r(true);
      });
      c.once('error', () => r(false));
    });
  await eventually(listening, { timeoutMs: ms, intervalMs: 100 }).catch(() => {
    throw new Error(`nothing listens on 127.0.0.1:${port}`);
  });
}

/** The environment for a child: ours, minus the test runner's own variables. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_TEST_CONTEXT;
  return env;
}

export interface Proc {
  child: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

/** Stop a child: SIGTERM, then SIGKILL if it lingers. */
export function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 2000).unref();
    });
}

/** A node script that listens on $PORT; `path` is appended to its base URL. */
export async function startOnPort(script: string, args: string[], path: string): Promise<Proc> {
  const port = await freePort();
  const child = spawn(process.execPath, [script, ...args], {
    env: childEnv({ PORT: String(port) }),
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  await waitForPort(port);
  return { child, url: `http://127.0.0.1:${port}${path}`, stop: stopper(child) };
}

/** A node script that prints {"url": ...} on its first stdout line. */
export async function startPrintingUrl(script: string, args: string[] = []): Promise<Proc> {
  const child = spawn(process.execPath, [script, ...args], { env: childEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.trim().startsWith('{'));
      if (line) resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
    setTimeout(() => reject(new Error(`${script} printed no url`)), 15_000).unref();
  });
  return { child, url, stop: stopper(child) };
}
