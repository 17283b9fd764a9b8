/**
 * Stdio servers started while the gateway itself starts (ADR 0014, "Start local servers while the
 * gateway starts"). A local server takes about as long to start as the gateway (a Node.js server with
 * the MCP SDK: ~200 ms), and it used to be spawned only once the gateway listened, so a start waited
 * for both in series. `gatehouse start` and `gatehouse stdio` now spawn, right after the config is
 * read, each enabled stdio server that needs nothing the gateway has yet to open: not sandboxed (the
 * sandbox host opens with the state directory) and without credentials (they come from the secrets
 * store). The process is spawned exactly as its connection would spawn it (`spawnServer`, the one
 * spawn of a stdio server) and is sent nothing: the gateway's connection adopts it when it starts
 * (`take`, only when what it would spawn is the same command, arguments, environment and directory,
 * and only while the process lives), and from then on it is that connection's process like any other,
 * registered, initialised, restarted. Whatever is not adopted (the start failed, the connection was
 * not made) is stopped. Each is written in the state directory's registry of started processes as it
 * is spawned (src/sandbox/registry.ts, marked `early`), and taken out once adopted (its connection
 * writes its own entry in the same turn) or stopped: a gateway killed outright before that leaves no
 * server running that the next gateway does not find and kill.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Config } from '../config/schema.ts';
import { checkServerNames } from '../config/server-names.ts';
import { randomBytes } from 'node:crypto';
import { ProcessRegistry, startTimeOf } from '../sandbox/registry.ts';
import { stdioEnv } from '../sandbox/server-view.ts';

/** What a stdio server is started with. */
export interface SpawnSpec {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
}

/**
 * Start a stdio server: pipes for stdin, stdout, stderr and one more for each content of `fds` (a
 * sandbox's seccomp filter and files), a descriptor of `fds` passed on as it is, in its own process group: a server started through a wrapper (npx, sh -c, uvx) is a
 * grandchild, and stopping must reach it too, or it keeps running and holds our pipes open.
 */
export function spawnServer(spec: SpawnSpec, fds: ReadonlyArray<Buffer | number> = []): ChildProcessWithoutNullStreams {
  return spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    env: spec.env,
    stdio: ['pipe', 'pipe', 'pipe', ...fds.map((f) => (typeof f === 'number' ? f : ('pipe' as const)))],
    detached: true,
  }) as ChildProcessWithoutNullStreams;
}

type ServerConfig = Config['servers'][number];

/** How long a server not adopted has to end on SIGTERM (the connection's own stop gives as long). */
const KILL_GRACE_MS = 2000;

/** The servers that can start before the gateway: enabled stdio servers, unsandboxed, without credentials. */
export function earlyStartable(servers: readonly ServerConfig[]): Array<ServerConfig & { transport: 'stdio' }> {
  return servers.filter(
    (s): s is ServerConfig & { transport: 'stdio' } =>
      s.transport === 'stdio' && !s.disabled && !s.sandbox && !s.credentials,
  );
}

/** What a server's connection would spawn it with, unsandboxed and without credentials. */
function plainSpec(cfg: ServerConfig & { transport: 'stdio' }): SpawnSpec {
  return { command: cfg.command, args: cfg.args ?? [], env: stdioEnv(cfg), cwd: cfg.cwd };
}

function sameSpec(a: SpawnSpec, b: SpawnSpec): boolean {
  return (
    JSON.stringify([a.command, a.args, a.cwd, Object.entries(a.env).sort()]) ===
    JSON.stringify([b.command, b.args, b.cwd, Object.entries(b.env).sort()])
  );
}

interface Started {
  spec: SpawnSpec;
  child: ChildProcessWithoutNullStreams;
  exited: boolean;
  gone: () => void;
  /** Its entry in the registry, when it has one. */
  entry?: string;
}

export class EarlyStarts {
  readonly #started = new Map<string, Started>();
  /** Processes being stopped (not adopted): every `stop()` waits for them, whoever began stopping them. */
  readonly #stopping = new Set<Promise<void>>();
  #registry: ProcessRegistry | undefined;

  /** Spawn every server of `config` that can start now; none when the gateway will refuse its server names. */
  static start(config: Pick<Config, 'servers' | 'gateway'>): EarlyStarts {
    const early = new EarlyStarts();
    try {
      checkServerNames(config);
    } catch {
      return early; // the gateway refuses this config: nothing starts
    }
    const startable = earlyStartable(config.servers);
    if (startable.length && config.gateway.stateDir) early.#registry = registryOf(config.gateway.stateDir);
    for (const cfg of startable) {
      const spec = plainSpec(cfg);
      const child = spawnServer(spec);
      // Not reported here: a server that cannot start (no such command) or exits is not adopted, and its
      // connection spawns it again and reports what happens then, as it would have without this.
      const s: Started = {
        spec,
        child,
        exited: false,
        gone: () => {
          s.exited = true;
        },
      };
      child.once('error', s.gone);
      child.once('exit', s.gone);
      child.stdin.on('error', () => {});
      s.entry = early.#register(cfg.name, child.pid);
      early.#started.set(cfg.name, s);
    }
    return early;
  }

  /** Written in the registry as started ahead, owned by this gateway; undefined when it cannot be (as before the registry had them). */
  #register(server: string, pid: number | undefined): string | undefined {
    const startTime = pid ? startTimeOf(pid) : undefined;
    if (!this.#registry || !pid || !startTime) return undefined;
    const id = `early-${server}-${randomBytes(6).toString('hex')}`;
    try {
      this.#registry.add({
        id,
        server,
        tenant: '',
        pid,
        startTime,
        groups: [],
        sandboxed: false,
        owner: ProcessRegistry.self,
        early: true,
      });
      return id;
    } catch {
      return undefined;
    }
  }

  #unregister(s: Started): void {
    if (s.entry) this.#registry?.remove(s.entry);
  }

  /** How many processes wait to be adopted. */
  get waiting(): number {
    return this.#started.size;
  }

  /** The process id of what waits to be adopted for `server`. */
  pidOf(server: string): number | undefined {
    return this.#started.get(server)?.child.pid;
  }

  /** What waits to be adopted: each server and its process id (for the log). */
  list(): Array<{ server: string; pid: number | undefined }> {
    return [...this.#started].map(([server, s]) => ({ server, pid: s.child.pid }));
  }

  /** The process started for `server` if it was started with `spec` and still runs; once. */
  take(server: string, spec: SpawnSpec): ChildProcessWithoutNullStreams | undefined {
    const s = this.#started.get(server);
    if (!s) return undefined;
    this.#started.delete(server);
    if (!s.exited && s.child.exitCode === null && s.child.signalCode === null && sameSpec(s.spec, spec)) {
      s.child.removeListener('error', s.gone);
      s.child.removeListener('exit', s.gone);
      this.#unregister(s); // its connection registers it next, in this same turn (stdio.ts onStarted)
      return s.child;
    }
    void this.#stop(s);
    return undefined;
  }

  /**
   * Stop every process not adopted (SIGKILL for one that ignores SIGTERM); resolves once they, and
   * any an earlier call or `take` began stopping, exited.
   */
  async stop(): Promise<void> {
    for (const s of this.#started.values()) void this.#stop(s);
    this.#started.clear();
    await Promise.all([...this.#stopping]);
  }

  #stop(s: Started): Promise<void> {
    const done = stopProcess(s.child)
      .then(() => this.#unregister(s))
      .catch(() => {}) // its registry entry stays: the next gateway finds the process gone
      .finally(() => this.#stopping.delete(done));
    this.#stopping.add(done);
    return done;
  }
}

/** The registry of `stateDir`; undefined when it cannot be made (the gateway reports that state directory itself). */
function registryOf(stateDir: string): ProcessRegistry | undefined {
  try {
    return new ProcessRegistry(stateDir);
  } catch {
    return undefined;
  }
}

/** SIGTERM to the process group, SIGKILL two seconds later if it is still there; resolves once it exited. */
function stopProcess(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-(child.pid as number), sig);
    } catch {
      child.kill(sig);
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), KILL_GRACE_MS);
  return exited.finally(() => clearTimeout(timer));
}
