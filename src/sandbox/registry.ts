/**
 * The processes this gateway started, one small file each under `<stateDir>/run/`: process id, its
 * start time (so a recycled process id is never mistaken for ours) and the control groups it runs
 * in. A gateway killed outright cannot stop its servers; the next one started on the same state
 * directory reads these files and kills whatever is still there before it starts anything.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeGroups } from './limits.ts';

export interface RegistryEntry {
  id: string;
  server: string;
  tenant: string;
  pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks since boot at which the process started. */
  startTime: string;
  groups: string[];
  sandboxed: boolean;
  /** The gateway that started it: its leftovers are reaped only once that gateway is gone. */
  owner: { pid: number; startTime: string };
  /**
   * Started while its gateway starts, before its connection (src/upstream/early-start.ts): that
   * gateway adopts or stops it, so its own reap leaves it; another gateway's reaps it once this one is gone.
   */
  early?: boolean;
}

/** The start time of a live process, or undefined when there is none. */
export function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export class ProcessRegistry {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'run');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** This gateway, as an owner. */
  static readonly self = { pid: process.pid, startTime: startTimeOf(process.pid) ?? '' };

  add(e: RegistryEntry): void {
    writeFileSync(join(this.dir, `${e.id}.json`), JSON.stringify(e), { mode: 0o600 });
  }

  remove(id: string): void {
    rmSync(join(this.dir, `${id}.json`), { force: true });
  }

  /** Kill leftovers of an earlier gateway on this state directory; returns what was found still running. */
  async reap(): Promise<RegistryEntry[]> {
    const killed: RegistryEntry[] = [];
    for (const f of readdirSync(this.dir).filter((n) => n.endsWith('.json'))) {
      let e: RegistryEntry;
      try {
        e = JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as RegistryEntry;
      } catch {
        rmSync(join(this.dir, f), { force: true });
        continue;
      }
      // A live gateway on the same state directory (the CLI's short-lived one, or a replica) keeps its own;
      // this one keeps what it started ahead and has yet to adopt or stop.
      const own = e.owner?.pid === process.pid && e.owner.startTime === ProcessRegistry.self.startTime;
      if (e.early && own) continue;
      if (e.owner && e.owner.pid !== process.pid && startTimeOf(e.owner.pid) === e.owner.startTime) continue;
      if (e.pid > 1 && startTimeOf(e.pid) === e.startTime) {
        killed.push(e);
        for (const target of [-e.pid, e.pid]) {
          try {
            process.kill(target, 'SIGKILL'); // its process group (servers are started as group leaders), then itself
          } catch {
            // already gone
          }
        }
      }
      await removeGroups(e.groups);
      rmSync(join(this.dir, f), { force: true });
    }
    return killed;
  }
}
