/** Child processes for tests: real MCP servers on free loopback ports, stopped by PID. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { eventually } from './eventually.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
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
