/**
 * A stdio upstream channel: one child process, newline-delimited JSON-RPC on stdin/stdout, stderr
 * forwarded to the log line by line. The child gets only the environment it is configured with
 * (plus the inherited allowlist), never the gateway's whole environment. Restarts are the pool's job.
 * A line not yet ended is held up to `maxLineBytes`, its bytes taken from the gateway's budget of
 * bytes held from upstreams; a line over either is dropped unread to its end, and when its first or
 * last bytes name the id of one of our requests (`{"jsonrpc":"2.0","id":7,...` or `...,"id":7}`, as
 * SDKs write them), that request fails at once instead of waiting for its timeout. A guess, but one
 * the server could only make wrong to fail its own answers.
 */
import { parseUpstreamJson } from '../protocol/exact-numbers.ts';
import { isUtf8 } from 'node:buffer';
import { closeSync } from 'node:fs';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { spawnServer, type SpawnSpec } from './early-start.ts';
import type { Logger } from '../observability/logger.ts';
import type { JsonRpcMessage } from '../protocol/jsonrpc.ts';
import type { Channel } from './types.ts';
import { LogBudget } from '../util/log-budget.ts';
import { ByteBudget, OVER_BUDGET_WHY } from '../util/byte-budget.ts';
import { GatehouseError } from '../protocol/errors.ts';

export interface StdioOptions {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  /** Longest accepted stdout line (one message); longer lines are dropped. */
  maxLineBytes?: number;
  /** The gateway's budget of bytes held from upstreams (a channel without one has its own, of the default size). */
  budget?: ByteBudget;
  /**
   * File descriptors 3, 4, ...: contents (a sandbox's seccomp filter and files), written once to a
   * pipe, or a descriptor of ours (a path a sandbox binds), passed on and then closed here.
   */
  fds?: Array<Buffer | number>;
  /** The process started (its id, for the registry of started processes). */
  onStarted?: (pid: number) => void;
  /** The process is gone: release what was made for it. */
  onExited?: () => Promise<void>;
  /** The same process started ahead (src/upstream/early-start.ts), when there is one. */
  prestarted?: (spec: SpawnSpec) => ChildProcessWithoutNullStreams | undefined;
}

const KILL_GRACE_MS = 2000;
/** What is kept of each end of a dropped line, to find its id. */
const ID_WINDOW = 128;
const HEAD_ID = /^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*(\d{1,15})\s*[,}]/;
const TAIL_ID = /[,{]\s*"id"\s*:\s*(\d{1,15})\s*\}\s*$/;

/** The id a dropped line's first and last bytes name, if they name one where SDKs write it. */
export function droppedLineId(head: Buffer, tail: Buffer): number | undefined {
  const m = HEAD_ID.exec(head.toString('latin1')) ?? TAIL_ID.exec(tail.toString('latin1'));
  return m ? Number(m[1]) : undefined;
}
const TAIL_LINES = 8;

/** What the gateway holds for a server that does not read its input, at most (as for clients' streams). */
const MAX_UNREAD_BYTES = 16 * 1024 * 1024;

export class StdioChannel implements Channel {
  readonly description: string;
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #log: Logger;
  readonly #maxLine: number;
  readonly #budget: ByteBudget;
  #receiver: Parameters<Channel['setReceiver']>[0] | undefined;
  #buf: Buffer[] = [];
  /** Bytes of #buf, all taken from the budget. */
  #bufLen = 0;
  /** Dropping a line to its end: why, and its first and last bytes (for its id). */
  #dropping: { overBudget: boolean; head: Buffer; tail: Buffer } | undefined;
  /** Lines of this server's output dropped (junk, not UTF-8, too large): at most `burst` said a window. */
  readonly #noisy = new LogBudget();
  #exited: Promise<void>;
  #closing = false;

  constructor(name: string, opts: StdioOptions, log: Logger) {
    this.description = `stdio:${name}`;
    this.#log = log;
    this.#maxLine = opts.maxLineBytes ?? 64 * 1024 * 1024;
    this.#budget = opts.budget ?? new ByteBudget();
    const fds = opts.fds ?? [];
    const spec = { command: opts.command, args: opts.args, env: opts.env, cwd: opts.cwd };
    this.#child = (fds.length === 0 ? opts.prestarted?.(spec) : undefined) ?? spawnServer(spec, fds);
    fds.forEach((data, i) => {
      if (typeof data === 'number') {
        closeSync(data); // the child holds its own copy
        return;
      }
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
    this.#child.stdout.once('close', () => this.#release()); // a line never ended holds nothing once the pipe is gone
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
    this.#release();
  }

  /** Gives back what the line being read holds. */
  #release(): void {
    this.#budget.give(this.#bufLen);
    this.#buf = [];
    this.#bufLen = 0;
  }

  #onData(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      if (this.#dropping) {
        this.#dropped(piece);
        continue;
      }
      const line = this.#bufLen ? Buffer.concat([...this.#buf, piece]) : piece;
      this.#release();
      this.#line(line);
    }
    if (start >= chunk.length) return;
    const rest = chunk.subarray(start);
    if (this.#dropping) {
      this.#dropping.tail = lastBytes(this.#dropping.tail, rest);
    } else if (this.#bufLen + rest.length > this.#maxLine) this.#drop(rest, false);
    else if (!this.#budget.take(rest.length)) this.#drop(rest, true);
    else {
      this.#buf.push(Buffer.from(rest));
      this.#bufLen += rest.length;
    }
  }

  /** The line being read is over a bound: what it holds is given back and the rest of it is read to its end unkept. */
  #drop(rest: Buffer, overBudget: boolean): void {
    this.#dropping = { overBudget, head: firstBytes([...this.#buf, rest]), tail: lastBytes(Buffer.alloc(0), rest) };
    this.#release();
    const fields = this.#budget.refusal(overBudget, this.#maxLine);
    this.#noisy.line(Date.now(), (n) =>
      this.#log.warn(
        { upstream: this.description, ...fields, ...(n ? { suppressed: n } : {}) },
        overBudget ? `dropped an upstream message: ${OVER_BUDGET_WHY}` : 'dropped oversized upstream message',
      ),
    );
  }

  /**
   * A line of the server's output dropped, said within the server's budget of such lines (#noisy): a
   * server writing junk as fast as it likes gets `burst` lines a window, then one with the count of
   * what was left out (walk Z: 2000 junk lines were 2000 warnings, 276 KB of log from one burst).
   */
  #warnDropped(bytes: number, msg: string): void {
    this.#noisy.line(Date.now(), (n) =>
      this.#log.warn({ upstream: this.description, bytes, ...(n ? { suppressed: n } : {}) }, msg),
    );
  }

  /** The dropped line ended with `piece`: the request it answers, if its ends name one, fails now. */
  #dropped(piece: Buffer): void {
    const d = this.#dropping;
    this.#dropping = undefined;
    if (!d) return;
    const id = droppedLineId(d.head, lastBytes(d.tail, piece));
    if (id === undefined) return;
    this.#receiver?.failed?.(
      id,
      d.overBudget
        ? new GatehouseError('E_OVERLOADED')
        : new GatehouseError('E_UPSTREAM_TOO_LARGE', `upstream response larger than ${this.#maxLine} bytes`),
    );
  }

  #line(line: Buffer): void {
    if (line.length === 0 || (line.length === 1 && line[0] === 13)) return;
    let msg: unknown;
    try {
      msg = parseUpstreamJson(line.toString('utf8'));
    } catch {
      this.#warnDropped(line.length, 'dropped non-json upstream output');
      return;
    }
    // Bytes that are not UTF-8 are never passed on decoded as U+FFFD: a response becomes an error for
    // its request (so the caller is not left waiting), anything else is dropped.
    if (!isUtf8(line)) {
      this.#warnDropped(line.length, 'refused upstream output that is not UTF-8');
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

/** The last ID_WINDOW bytes of `before` followed by `more` (a copy: the pipe reuses its chunks). */
function lastBytes(before: Buffer, more: Buffer): Buffer {
  if (more.length >= ID_WINDOW) return Buffer.from(more.subarray(more.length - ID_WINDOW));
  const both = Buffer.concat([before, more]);
  return both.subarray(Math.max(0, both.length - ID_WINDOW));
}

/** The first ID_WINDOW bytes of `parts` (a copy). */
function firstBytes(parts: Buffer[]): Buffer {
  const out: Buffer[] = [];
  let n = 0;
  for (const p of parts) {
    if (n >= ID_WINDOW) break;
    const piece = p.subarray(0, ID_WINDOW - n);
    out.push(piece);
    n += piece.length;
  }
  return Buffer.concat(out);
}
