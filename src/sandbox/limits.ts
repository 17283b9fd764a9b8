/**
 * Resource limits of a sandboxed server: memory, process count and CPU. Where the gateway can manage
 * control groups (root, cgroup v1 controllers, or a cgroup v2 tree it may delegate in) each sandbox
 * gets a group of its own under the gateway's group — exact per-sandbox limits that nothing inside
 * can raise. Elsewhere, resource limits (setrlimit, through prlimit(1)) bound each process instead:
 * the process count is then per user id (a server running as root is not bounded by it), and
 * memory counts the data segment, so it must leave room for what a runtime reserves at start.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface Limits {
  memoryMb: number;
  processes: number;
  /** CPU time share in cores (cgroups); absent: unbounded share. */
  cpus?: number;
  /** CPU seconds a process may use in all (RLIMIT_CPU); absent: none. */
  cpuSeconds?: number;
  openFiles: number;
}

export const DEFAULT_LIMITS: Limits = { memoryMb: 1024, processes: 128, cpus: 1, openFiles: 1024 };

type Controller = 'pids' | 'memory' | 'cpu';

/** How limits are applied on this machine, found once. */
export type LimitBackend =
  /** Each controller -> the gatehouse group in the gateway's own group of that controller. */
  | { kind: 'cgroup-v1'; bases: Record<Controller, string> }
  /** The gatehouse parent group in the unified tree. */
  | { kind: 'cgroup-v2'; bases: { unified: string } }
  | { kind: 'rlimit'; bases: Record<string, never> };

function ownGroups(): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [, ctrls, path] = line.split(':');
    if (path === undefined) continue;
    for (const c of ctrls.split(',')) m.set(c || 'unified', path);
  }
  return m;
}

function mounts(): Array<{ point: string; type: string; opts: string[] }> {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [pre, post] = l.split(' - ');
      const [type, , superOpts] = post.split(' ');
      return { point: pre.split(' ')[4], type, opts: (superOpts ?? '').split(',') };
    });
}

function probe(dir: string): boolean {
  const test = join(dir, `gatehouse-probe-${process.pid}`);
  try {
    mkdirSync(test);
    rmdirSync(test);
    return true;
  } catch {
    return false;
  }
}

let found: LimitBackend | undefined;

/** cgroup v1 with pids, memory and cpu controllers writable; else a v2 tree with them enabled; else rlimits. */
export function limitBackend(): LimitBackend {
  if (found) return found;
  found = { kind: 'rlimit', bases: {} };
  try {
    const own = ownGroups();
    const all = mounts();
    const v1: Partial<Record<Controller, string>> = {};
    for (const c of ['pids', 'memory', 'cpu'] as const) {
      const m = all.find((x) => x.type === 'cgroup' && x.opts.includes(c));
      const path = own.get(c);
      if (m && path !== undefined) v1[c] = join(m.point, path, 'gatehouse');
    }
    const { pids, memory, cpu } = v1;
    if (pids && memory && cpu && [pids, memory, cpu].every((d) => ensureDir(d) && probe(d))) {
      found = { kind: 'cgroup-v1', bases: { pids, memory, cpu } };
      return found;
    }
    const u = all.find((x) => x.type === 'cgroup2');
    const path = own.get('unified');
    if (u && path !== undefined) {
      const parent = join(u.point, path);
      const ctl = readFileSync(join(parent, 'cgroup.controllers'), 'utf8');
      if (['pids', 'memory', 'cpu'].every((c) => ctl.split(/\s+/).includes(c))) {
        // A group with processes cannot hand controllers to children (except the root): try, and fall back.
        writeFileSync(join(parent, 'cgroup.subtree_control'), '+pids +memory +cpu');
        const base = join(parent, 'gatehouse');
        ensureDir(base);
        writeFileSync(join(base, 'cgroup.subtree_control'), '+pids +memory +cpu');
        if (probe(base)) found = { kind: 'cgroup-v2', bases: { unified: base } };
      }
    }
  } catch {
    // not permitted here: rlimits
  }
  return found;
}

function ensureDir(dir: string): boolean {
  try {
    if (!existsSync(dir)) mkdirSync(dir, { recursive: false });
    return true;
  } catch {
    return false;
  }
}

/** The groups of one sandbox: create them with the limits set; `procs` are the files a launcher writes its pid to. */
export function createGroups(backend: LimitBackend, id: string, l: Limits): { dirs: string[]; procs: string[] } {
  const dirs: string[] = [];
  const put = (dir: string, file: string, value: string) => writeFileSync(join(dir, file), value);
  try {
    if (backend.kind === 'cgroup-v1') {
      const { bases } = backend;
      for (const c of ['pids', 'memory', 'cpu'] as const) ensureDir(bases[c]); // a closing gateway may have removed it
      const pids = join(bases.pids, id);
      const mem = join(bases.memory, id);
      const cpu = join(bases.cpu, id);
      for (const d of [pids, mem, cpu]) {
        mkdirSync(d);
        dirs.push(d);
      }
      put(pids, 'pids.max', String(l.processes));
      put(mem, 'memory.limit_in_bytes', String(l.memoryMb * 1024 * 1024));
      try {
        put(mem, 'memory.memsw.limit_in_bytes', String(l.memoryMb * 1024 * 1024)); // no swap beyond it, where accounted
      } catch {
        // swap accounting off: the memory limit alone
      }
      if (l.cpus) put(cpu, 'cpu.cfs_quota_us', String(Math.round(l.cpus * 100_000)));
    } else if (backend.kind === 'cgroup-v2') {
      ensureDir(backend.bases.unified);
      const d = join(backend.bases.unified, id);
      mkdirSync(d);
      dirs.push(d);
      put(d, 'pids.max', String(l.processes));
      put(d, 'memory.max', String(l.memoryMb * 1024 * 1024));
      try {
        put(d, 'memory.swap.max', '0');
      } catch {
        // no swap controller
      }
      if (l.cpus) put(d, 'cpu.max', `${Math.round(l.cpus * 100_000)} 100000`);
    }
  } catch (err) {
    for (const d of dirs) rmdirSync(d);
    throw err;
  }
  return { dirs, procs: dirs.map((d) => join(d, 'cgroup.procs')) };
}

/** Remove the `gatehouse` parent groups when no sandbox uses them any more (a busy one stays). */
export function releaseBackend(): void {
  for (const dir of Object.values(found?.bases ?? {})) {
    try {
      rmdirSync(dir);
    } catch {
      // still holds sandboxes (another gateway in this process), or gone
    }
  }
}

/** Kill whatever is left in the groups, then remove them. */
export async function removeGroups(dirs: string[]): Promise<void> {
  for (const d of dirs) {
    try {
      for (const pid of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone
        }
      }
    } catch {
      // no such group
    }
  }
  for (const d of dirs) {
    for (let i = 0; i < 20; i++) {
      try {
        rmdirSync(d);
        try {
          rmdirSync(dirname(d)); // the last sandbox gone: no empty `gatehouse` group left in the gateway's own
        } catch {
          // other sandboxes still use it
        }
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
        await new Promise((r) => setTimeout(r, 25)); // killed processes take a moment to leave
      }
    }
  }
}

/** prlimit(1) options: always open files and no core dumps; without cgroups, memory, processes and CPU too. */
export function rlimitArgs(backend: LimitBackend, l: Limits): string[] {
  const a = [`--nofile=${l.openFiles}`, '--core=0'];
  if (l.cpuSeconds) a.push(`--cpu=${l.cpuSeconds}`);
  if (backend.kind === 'rlimit') a.push(`--nproc=${l.processes}`, `--data=${l.memoryMb * 1024 * 1024}`);
  return a;
}
