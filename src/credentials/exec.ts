// `exec:<command> [args...]`: run a command (no shell) and use its trimmed stdout as the secret.
//
// argv is split with simple quoting: whitespace separates, '...' is literal, "..." allows \" and \\,
// a backslash outside quotes escapes the next character. No globbing, no variables, no pipes.
// stderr is drained and thrown away (helpers like to print tokens in their debug output), so an error
// says only "exited with status N". On timeout the whole process group is killed (POSIX), so a helper's
// children cannot keep the pipe open.
import { spawn } from 'node:child_process';
import { CredentialError } from './types.ts';
import type { ParsedRef, SecretProvider, SecretValue } from './types.ts';
import { DEFAULT_CACHE_TTL_MS, DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS } from './http.ts';

export interface ExecProviderOptions {
  timeoutMs?: number;
  /** stdout cap (default 1 MiB); beyond it the command is killed */
  maxBytes?: number;
  cacheTtlMs?: number;
  /** the command's environment (default: the gateway's) */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  now?: () => number;
}

const PROVIDER = 'exec';

/** Split a command line into argv. Throws E_REF_INVALID on an unterminated quote or a trailing backslash. */
export function splitCommandLine(line: string): string[] {
  const argv: string[] = [];
  let cur = '';
  let inArg = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else cur += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) cur += line[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inArg = true;
    } else if (c === '\\') {
      if (i + 1 >= line.length)
        throw new CredentialError('E_REF_INVALID', 'trailing backslash in command line', { provider: PROVIDER });
      cur += line[++i];
      inArg = true;
    } else if (/\s/.test(c)) {
      if (inArg) argv.push(cur);
      cur = '';
      inArg = false;
    } else {
      cur += c;
      inArg = true;
    }
  }
  if (quote) throw new CredentialError('E_REF_INVALID', 'unterminated quote in command line', { provider: PROVIDER });
  if (inArg) argv.push(cur);
  return argv;
}

export class ExecProvider implements SecretProvider {
  readonly scheme = 'exec';
  readonly #opts: ExecProviderOptions;
  readonly #now: () => number;

  constructor(opts: ExecProviderOptions = {}) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  async resolve(ref: ParsedRef, signal?: AbortSignal): Promise<SecretValue> {
    let argv: string[];
    try {
      argv = splitCommandLine(ref.path);
    } catch (err) {
      throw new CredentialError('E_REF_INVALID', (err as CredentialError).message.replace(/^exec: /, ''), {
        provider: PROVIDER,
        ref: ref.raw,
      });
    }
    if (!argv.length || !argv[0])
      throw new CredentialError('E_REF_INVALID', 'empty command', { provider: PROVIDER, ref: ref.raw });
    const out = await this.#run(argv, ref.raw, signal);
    const value = out.trim();
    if (!value)
      throw new CredentialError('E_SECRET_NOT_FOUND', 'command printed nothing', { provider: PROVIDER, ref: ref.raw });
    const now = this.#now();
    return { value, fetchedAt: now, expiresAt: now + (this.#opts.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS) };
  }

  #run(argv: string[], ref: string, signal?: AbortSignal): Promise<string> {
    const timeoutMs = this.#opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const maxBytes = this.#opts.maxBytes ?? DEFAULT_MAX_BYTES;
    const fail = (code: 'E_PROVIDER_UNAVAILABLE' | 'E_SECRET_NOT_FOUND', what: string) =>
      new CredentialError(code, what, { provider: PROVIDER, ref });
    return new Promise<string>((resolve, reject) => {
      const posix = process.platform !== 'win32';
      const child = spawn(argv[0], argv.slice(1), {
        shell: false,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: this.#opts.env ?? process.env,
        cwd: this.#opts.cwd,
        detached: posix, // own process group, so a timeout can kill helpers it started
        windowsHide: true,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      let failure: CredentialError | undefined;
      const kill = (why: CredentialError) => {
        failure ??= why;
        try {
          if (posix && child.pid) process.kill(-child.pid, 'SIGKILL');
          else child.kill('SIGKILL');
        } catch {
          // already gone
        }
      };
      const timer = setTimeout(
        () => kill(fail('E_PROVIDER_UNAVAILABLE', `command timed out after ${timeoutMs} ms`)),
        timeoutMs,
      );
      const onAbort = () => kill(fail('E_PROVIDER_UNAVAILABLE', 'aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      if (signal?.aborted) onAbort();
      child.stdout.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBytes)
          return kill(fail('E_PROVIDER_UNAVAILABLE', `command output larger than ${maxBytes} bytes`));
        chunks.push(c);
      });
      child.stderr.resume(); // drained, never read
      child.on('error', (err: NodeJS.ErrnoException) => {
        // spawn failures: ENOENT, EACCES. Only the code is reported.
        failure ??= fail('E_PROVIDER_UNAVAILABLE', `command could not be started${err.code ? ` (${err.code})` : ''}`);
      });
      child.on('close', (status, sig) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (failure) return reject(failure);
        if (status !== 0)
          return reject(
            fail(
              'E_PROVIDER_UNAVAILABLE',
              status === null ? `command killed by ${sig}` : `command exited with status ${status}`,
            ),
          );
        resolve(Buffer.concat(chunks).toString('utf8'));
      });
    });
  }
}
