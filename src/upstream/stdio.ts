/**
 * A stdio upstream channel: one child process, newline-delimited JSON-RPC on stdin/stdout, stderr
 * forwarded to the log line by line. The child gets only the environment it is configured with
 * (plus the inherited allowlist), never the gateway's whole environment. Restarts are the pool's job.
 */
import { parseUpstreamJson } from '../protocol/exact-numbers.ts';
import { isUtf8 } from 'node:buffer';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Logger } from '../observability/logger.ts';
import type { JsonRpcMessage } from '../protocol/jsonrpc.ts';
import type { Channel } from './types.ts';
import { LogBudget } from './log-budget.ts';

export interface StdioOptions {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  /** Longest accepted stdout line (one message); longer lines are dropped. */
  maxLineBytes?: number;
  /** Contents for file descriptors 3, 4, ... (a sandbox's seccomp filter and files), written once. */
  fds?: Buffer[];
  /** The process started (its id, for the registry of started processes). */
  onStarted?: (pid: number) => void;
  /** The process is gone: release what was made for it. */
  onExited?: () => Promise<void>;
}

const KILL_GRACE_MS = 2000;
const TAIL_LINES = 8;

/** What the gateway holds for a server that does not read its input, at most (as for clients' streams). */
const MAX_UNREAD_BYTES = 16 * 1024 * 1024;

export class StdioChannel implements Channel {
  readonly description: string;
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #log: Logger;
  readonly #maxLine: number;
  #receiver: Parameters<Channel['setReceiver']>[0] | undefined;
  #buf: Buffer[] = [];
  #bufLen = 0;
  #dropping = false;
  #exited: Promise<void>;
  #closing = false;

  constructor(name: string, opts: StdioOptions, log: Logger) {
    this.description = `stdio:${name}`;
    this.#log = log;
    this.#maxLine = opts.maxLineBytes ?? 64 * 1024 * 1024;
    const fds = opts.fds ?? [];
    this.#child = spawn(opts.command, opts.args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ['pipe', 'pipe', 'pipe', ...fds.map(() => 'pipe' as const)],
      // Its own process group: a server started through a wrapper (npx, sh -c, uvx) is a grandchild,
      // and stopping must reach it too, or it keeps running and holds our pipes open.
      detached: true,
    }) as ChildProcessWithoutNullStreams;
    fds.forEach((data, i) => {
      const pipe = this.#child.stdio[3 + i] as unknown as import('node:stream').Writable;
      pipe.on('error', () => {}); // the reader is gone: the process failed to start, reported through 'exit'
      pipe.end(data);
    });
    if (this.#child.pid) opts.onStarted?.(this.#child.pid);
    const released = async () => {
      try {
        await opts.onExited?.();
      } catch (err) {
        log.warn({ upstream: name, err: (err as Error).message }, 'upstream cleanup failed');
      }
    };
    this.#exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        if (!this.#closing) log.warn({ upstream: name, code, signal }, 'upstream process exited');
        this.#receiver?.closed(new Error(`process exited (${signal ?? code})`));
        void released().finally(resolve); // closed means cleaned up (a sandbox's proxy and control groups)
      });
      this.#child.once('error', (err) => {
        log.error({ upstream: name, err: err.message }, 'upstream process could not start');
        this.#receiver?.closed(err);
        void released().finally(resolve);
      });
    });
    this.#child.stdin.on('error', () => {}); // EPIPE after exit: reported through 'exit'
    this.#child.stdout.on('data', (chunk: Buffer) => this.#onData(chunk));
    let errLine = '';
    const stderrLog = new LogBudget();
    this.#child.stderr.setEncoding('utf8');
    this.#child.stderr.on('data', (s: string) => {
      errLine += s;
      for (let i = errLine.indexOf('\n'); i >= 0; i = errLine.indexOf('\n')) {
        const line = errLine.slice(0, i).slice(0, 2000);
        errLine = errLine.slice(i + 1);
        if (line.trim()) this.#tail = [...this.#tail.slice(1 - TAIL_LINES), line.slice(0, 300)];
        // The sandbox's own complaints (a path missing, say) explain why a server never started.
        if (line.startsWith('bwrap:') || line.startsWith('setpriv:') || line.startsWith('prlimit:'))
          log.warn({ upstream: name, stderr: line }, 'sandbox could not start the server');
        else if (line.trim())
          stderrLog.line(Date.now(), (n) =>
            log.info({ upstream: name, stderr: line, ...(n ? { suppressed: n } : {}) }, 'upstream stderr'),
          );
      }
      if (errLine.length > 8192) errLine = '';
    });
    this.#stderrEnded = new Promise((resolve) => this.#child.stderr.once('close', resolve));
  }

  #tail: string[] = [];
  #stderrEnded: Promise<unknown>;

  /** The server's last lines on stderr (npm's "404 Not Found", a stack trace), once it has closed them or after `waitMs`. */
  async stderrTail(waitMs = 250): Promise<string> {
    await Promise.race([this.#stderrEnded, new Promise((r) => setTimeout(r, waitMs).unref())]);
    return this.#tail.join(' | ');
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  setReceiver(r: Parameters<Channel['setReceiver']>[0]): void {
    this.#receiver = r;
  }

  send(msg: JsonRpcMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.#child.stdin.writable) return reject(new Error('stdin closed'));
      const line = `${JSON.stringify(msg)}\n`;
      // A server that stops reading its input while it keeps writing (pings the gateway answers, say)
      // would have the gateway hold every answer in memory: past the bound it is stopped, and the
      // restart backoff starts it again. One tenant's server cannot exhaust the gateway's memory.
      if (this.#child.stdin.writableLength + line.length > MAX_UNREAD_BYTES) {
        if (!this.#stalled) {
          this.#stalled = true;
          this.#log.warn(
            { upstream: this.description, unreadBytes: this.#child.stdin.writableLength },
            'upstream does not read its input: stopped (it starts again with the restart backoff)',
          );
          this.#signal('SIGKILL');
        }
        return reject(new Error('the server does not read its input'));
      }
      this.#child.stdin.write(line, (err) => (err ? reject(err) : resolve()));
    });
  }
  #stalled = false;

  /** Signal the whole process group (the server and whatever it started); the child alone as a fallback. */
  #signal(sig: NodeJS.Signals): void {
    const pid = this.#child.pid;
    try {
      if (pid) process.kill(-pid, sig);
      else this.#child.kill(sig);
    } catch {
      this.#child.kill(sig); // no such group (already gone): harmless
    }
  }

  async close(): Promise<void> {
    this.#closing = true;
    const running = this.#child.exitCode === null && this.#child.signalCode === null;
    if (running) {
      this.#child.stdin.end();
      this.#signal('SIGTERM');
      const timer = setTimeout(() => this.#signal('SIGKILL'), KILL_GRACE_MS);
      await this.#exited;
      clearTimeout(timer);
    }
    // A grandchild that ignored SIGTERM must not outlive us holding the pipes.
    this.#signal('SIGKILL');
    this.#child.stdout.destroy();
    this.#child.stderr.destroy();
  }

  #onData(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      if (this.#dropping) {
        this.#dropping = false;
        this.#buf = [];
        this.#bufLen = 0;
        continue;
      }
      const line = this.#bufLen ? Buffer.concat([...this.#buf, piece]) : piece;
      this.#buf = [];
      this.#bufLen = 0;
      this.#line(line);
    }
    if (start < chunk.length && !this.#dropping) {
      const rest = chunk.subarray(start);
      this.#bufLen += rest.length;
      if (this.#bufLen > this.#maxLine) {
        this.#log.warn({ upstream: this.description }, 'dropped oversized upstream message');
        this.#dropping = true;
        this.#buf = [];
        this.#bufLen = 0;
      } else {
        this.#buf.push(Buffer.from(rest));
      }
    }
  }

  #line(line: Buffer): void {
    if (line.length === 0 || (line.length === 1 && line[0] === 13)) return;
    let msg: unknown;
    try {
      msg = parseUpstreamJson(line.toString('utf8'));
    } catch {
      this.#log.warn({ upstream: this.description, bytes: line.length }, 'dropped non-json upstream output');
      return;
    }
    // Bytes that are not UTF-8 are never passed on decoded as U+FFFD: a response becomes an error for
    // its request (so the caller is not left waiting), anything else is dropped.
    if (!isUtf8(line)) {
      this.#log.warn({ upstream: this.description, bytes: line.length }, 'refused upstream output that is not UTF-8');
      const id = (msg as { id?: unknown } | null)?.id;
      const response = msg && typeof msg === 'object' && ('result' in msg || 'error' in msg);
      if (response && (typeof id === 'string' || typeof id === 'number'))
        this.#receiver?.message({
          jsonrpc: '2.0',
          id,
          error: { code: -32603, message: 'the upstream answered with bytes that are not UTF-8' },
        });
      return;
    }
    this.#receiver?.message(msg);
  }
}
