/**
 * Descriptors this process inherited open and not close-on-exec (a launcher's lock or log file, a
 * supervisor's pipe): every child would inherit them too, and a sandboxed server reads through an
 * inherited descriptor what its mount namespace hides (bubblewrap does not close them). Closed at
 * start. Node's own descriptors are close-on-exec (libuv opens them so), and so is an IPC channel's,
 * except the files V8 logs into when asked to (`--prof`, `--perf-basic-prof`, `--perf-prof`): they
 * are kept. Closing one let SQLite open the store on its number, and V8's profiling lines went into
 * the audit database ("file is not a database"). Linux (`/proc`); elsewhere nothing is done.
 */
import { closeSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';

const O_CLOEXEC = 0o2000000;

/** A file V8 logs into: named with this process's id, or as `--logfile` says (`%p`: the id). */
function isV8Log(fd: number): boolean {
  let target: string;
  try {
    target = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return false;
  }
  const pid = process.pid;
  const name = basename(target);
  if (name === `perf-${pid}.map` || name === `jit-${pid}.dump`) return true;
  if (new RegExp(`^isolate-0x[0-9a-f]+-${pid}-.`).test(name)) return true; // `--logfile-per-isolate` (default)
  const logfile = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]
    .map((a) => /^--logfile=(.+)$/.exec(a)?.[1])
    .find(Boolean);
  return logfile !== undefined && name === basename(logfile.replaceAll('%p', String(pid)));
}

/** A descriptor closed, and what it was open on (`/proc/self/fd`'s link: a path, `pipe:[…]`, `socket:[…]`; '' when unread). */
export interface ClosedDescriptor {
  fd: number;
  target: string;
}

/**
 * Whether a closed descriptor was a launcher's plumbing: a pipe, a socket, an anonymous inode or a
 * device (npm's, a shell's, a supervisor's), which launchers leave open routinely and which holds no
 * file; a file or a directory is not (a lock, a log: what a sandboxed server could have read through).
 */
export function isPlumbing(target: string): boolean {
  return !target.startsWith('/') || target.startsWith('/dev/');
}

export function closeInheritedDescriptors(): ClosedDescriptor[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc/self/fd');
  } catch {
    return [];
  }
  const keep = Number(process.env.NODE_CHANNEL_FD ?? -1);
  const closed: ClosedDescriptor[] = [];
  for (const e of entries) {
    const fd = Number(e);
    if (!Number.isInteger(fd) || fd < 3 || fd === keep) continue;
    let flags: number;
    try {
      const m = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
      if (!m) continue;
      flags = Number.parseInt(m[1], 8);
    } catch {
      continue; // gone meanwhile (the directory listing's own descriptor)
    }
    if (flags & O_CLOEXEC || isV8Log(fd)) continue;
    let target = '';
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      // unread: said as ''
    }
    try {
      closeSync(fd);
      closed.push({ fd, target });
    } catch {
      // already closed
    }
  }
  return closed;
}
