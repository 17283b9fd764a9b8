/**
 * How a stdio server is started: unsandboxed, as configured, or inside bubblewrap (the sandbox Flatpak
 * uses; no privilege needed). Sandboxed, a server sees a read-only root made of the system directories,
 * its command, its package and the paths it declares (read-only or read-write), a private /tmp of its
 * own connection (so one per tenant), its own process, IPC and UTS namespaces, no capabilities,
 * no-new-privileges and a seccomp filter; it never sees the gateway's state directory, well-known
 * credential files of the gateway's home, or the gateway's environment. It runs as a user id of its
 * own when the gateway runs as root, within memory, process and CPU limits, and dies with the gateway.
 * Every process started (sandboxed or not) is written down, so a gateway killed outright has its
 * servers reaped by the next one.
 */
import { chmodSync, lchownSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StdioServerConfig } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import { seccompSupported } from './seccomp.ts';
import {
  createGroups,
  DEFAULT_LIMITS,
  limitBackend,
  releaseBackend,
  removeGroups,
  rlimitArgs,
  type Limits,
} from './limits.ts';
import { ProcessRegistry, startTimeOf } from './registry.ts';
import { EgressProxy, RELAY_SOURCE, type EgressRefusal } from './egress.ts';
import type { Listening } from '../util/own-listener.ts';
import { BwrapCommand, baseArgs, bindPaths, execChain, secretsAndHome, userFiles } from './bwrap.ts';
import { secretMasks } from './masks.ts';
import type { GatewayFile } from './gateway-files.ts';
import { PlantedLink } from './data-paths.ts';
import { chownFolder, findExecutable, real } from '../util/paths.ts';
import {
  makeWritableFolders,
  perTenant,
  serverProgram,
  stdioEnv,
  visiblePaths,
  type SandboxConfig,
} from './server-view.ts';

/** What a stdio channel spawns, and what it reports back. */
export interface Launch {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  /** File descriptors 3, 4, ... of the started process: contents (read once from a pipe), or a descriptor of ours passed on. */
  fds: Array<Buffer | number>;
  /** The process started: written down for reaping. */
  started(pid: number): void;
  /** The process is gone: remove what was made for it. */
  exited(): Promise<void>;
}

/** The user id servers run as when the gateway runs as root (and none is configured): `nobody`. */
const SANDBOX_UID = 65534;
const PROXY_PORT = 3128;

/** The uid and gid a sandboxed server runs as: its own when the gateway is root, else the gateway's (it cannot change). */
export function sandboxUser(cfg: Pick<StdioServerConfig, 'sandbox'>): { uid: number; gid: number } {
  if (process.getuid?.() !== 0) return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const u = cfg.sandbox?.user;
  return { uid: u?.uid ?? SANDBOX_UID, gid: u?.gid ?? u?.uid ?? SANDBOX_UID };
}

function limitsOf(cfg: StdioServerConfig): Limits {
  return { ...DEFAULT_LIMITS, ...(cfg.sandbox?.limits ?? {}) };
}

type SandboxedLaunch = Omit<Launch, 'started' | 'exited'> & { groups: string[]; cleanup(): Promise<void> };

/** What a sandbox holds while its server runs (control groups, the egress proxy and its folder). */
interface Held {
  groups: string[];
  proxy?: EgressProxy;
  proxyDir?: string;
}

/** Close the egress proxy, remove its folder, and kill what is left in the groups before removing them. */
async function release(held: Held): Promise<void> {
  await held.proxy?.close();
  if (held.proxyDir) rmSync(held.proxyDir, { recursive: true, force: true });
  await removeGroups(held.groups);
}

/** The programs a sandboxed start runs; refused when one is missing, or when there is no seccomp filter. */
function sandboxTools(server: string): { bwrap: string; prlimit: string; setpriv: string } {
  if (!seccompSupported())
    throw new Error(
      `server \`${server}\` is sandboxed, but no seccomp filter exists for architecture \`${process.arch}\``,
    );
  const bwrap = findExecutable('bwrap');
  if (!bwrap) throw new Error(sandboxUnavailable(server));
  const prlimit = findExecutable('prlimit');
  const setpriv = findExecutable('setpriv');
  if (!prlimit || !setpriv)
    throw new Error(`server \`${server}\` is sandboxed, but prlimit and setpriv (util-linux) are not both installed`);
  return { bwrap, prlimit, setpriv };
}

/** The environment that sends every HTTP client in the sandbox through the egress relay at `url`. */
function proxyEnv(url: string): Record<string, string> {
  return {
    HTTP_PROXY: url,
    HTTPS_PROXY: url,
    ALL_PROXY: url,
    http_proxy: url,
    https_proxy: url,
    all_proxy: url,
    NO_PROXY: '',
    no_proxy: '',
    NODE_USE_ENV_PROXY: '1',
  };
}

/** What else a sandbox host asks the gateway, and tells it. */
interface SandboxHooks {
  /** The folders every sandboxed server of the config in force writes (asked at each launch): no link there is followed. */
  grounds?: () => string[];
  /** A launch refused: a path went through a link that a sandboxed server could have put there. */
  onPlanted?: (server: string, tenant: string, l: PlantedLink) => void;
}

export class SandboxHost {
  readonly stateDir: string;
  readonly registry: ProcessRegistry;
  readonly #log: Logger;
  readonly #runDir: string;
  readonly #refused: (server: string, tenant: string, r: EgressRefusal) => void;
  readonly #files: () => GatewayFile[];
  readonly #listening: () => Listening[];
  readonly #hooks: SandboxHooks;

  private constructor(
    stateDir: string,
    log: Logger,
    onRefused: (server: string, tenant: string, r: EgressRefusal) => void,
    files: () => GatewayFile[],
    listening: () => Listening[],
    hooks: SandboxHooks,
  ) {
    this.stateDir = real(stateDir);
    this.#log = log;
    this.#refused = onRefused;
    this.#files = files;
    this.#listening = listening;
    this.#hooks = hooks;
    this.registry = new ProcessRegistry(stateDir);
    // Proxy sockets live outside the state directory (a socket path must stay short); named by our
    // process id, so a gateway started later removes those of gateways that are gone.
    for (const d of readdirSync(tmpdir())) {
      const pid = /^gatehouse-run-(\d+)-/.exec(d)?.[1];
      if (pid && !startTimeOf(Number(pid))) rmSync(join(tmpdir(), d), { recursive: true, force: true });
    }
    this.#runDir = mkdtempSync(join(tmpdir(), `gatehouse-run-${process.pid}-`));
    chmodSync(this.#runDir, 0o711);
  }

  /**
   * Reap what an earlier gateway on this state directory left running, then serve launches. `files`:
   * the gateway's files to hide wherever they lie (`gatewayFiles` of the current config, asked at each launch).
   * `listening`: where the gateway listens, which no egress proxy ever connects to (asked at each connection).
   */
  static async open(
    stateDir: string,
    log: Logger,
    onRefused: (server: string, tenant: string, r: EgressRefusal) => void = () => {},
    files: () => GatewayFile[] = () => [],
    listening: () => Listening[] = () => [],
    hooks: SandboxHooks = {},
  ): Promise<SandboxHost> {
    const host = new SandboxHost(stateDir, log, onRefused, files, listening, hooks);
    const reaped = await host.registry.reap();
    for (const e of reaped)
      log.warn(
        { upstream: e.server, tenant: e.tenant, pid: e.pid, sandboxed: e.sandboxed },
        'killed a server left running by an earlier gateway',
      );
    return host;
  }

  async close(): Promise<void> {
    rmSync(this.#runDir, { recursive: true, force: true });
    releaseBackend();
  }

  /** How to start this server for this tenant's connection. */
  async launch(cfg: StdioServerConfig, tenant: string): Promise<Launch> {
    const id = `${cfg.name}-${randomBytes(6).toString('hex')}`;
    const entry = {
      id,
      server: cfg.name,
      tenant,
      groups: [] as string[],
      sandboxed: !!cfg.sandbox,
      owner: ProcessRegistry.self,
    };
    const registry = this.registry;
    const base = {
      fds: [] as Array<Buffer | number>,
      started: (pid: number) => registry.add({ ...entry, pid, startTime: startTimeOf(pid) ?? '' }),
    };
    if (!cfg.sandbox) {
      return {
        ...base,
        command: cfg.command,
        args: cfg.args ?? [],
        env: stdioEnv(cfg),
        cwd: cfg.cwd,
        exited: async () => registry.remove(id),
      };
    }
    const plan = await this.#sandboxed(cfg, cfg.sandbox, tenant, id);
    entry.groups = plan.groups;
    return {
      ...base,
      ...plan,
      exited: async () => {
        registry.remove(id);
        await plan.cleanup();
      },
    };
  }

  /**
   * What the server sees, as a bubblewrap command (with its descriptors of the paths it binds). A
   * link that a sandboxed server put in a folder sandboxes write is refused, logged and recorded.
   */
  #view(cfg: StdioServerConfig, sb: SandboxConfig, tenant: string, user: { uid: number; gid: number }) {
    const { uid, gid } = user;
    const { cwd, env, command } = serverProgram(cfg, this.stateDir);
    const args = (cfg.args ?? []).map((a) => perTenant(a, tenant));
    const hidden = this.#files().map((f) => ({ ...f, path: real(f.path) }));
    const b = new BwrapCommand(baseArgs(sb.network ?? 'none'));
    try {
      const o = { command, args, cwd, stateDir: this.stateDir, hidden, tenant, grounds: this.#hooks.grounds?.() };
      const { ro, rw, veils } = visiblePaths(cfg, sb, o);
      makeWritableFolders(rw, uid, gid);
      userFiles(b, uid, gid);
      const masks = secretMasks({ ro, rw }, this.stateDir, hidden, { uid, gid });
      bindPaths(b, cfg.name, { ro, rw, veils, masks }, uid, gid);
    } catch (err) {
      b.closeDescriptors();
      if (!(err instanceof PlantedLink)) throw err;
      this.#log.warn(
        { upstream: cfg.name, tenant, path: err.path, link: err.link },
        'sandbox path refused: a symbolic link',
      );
      this.#hooks.onPlanted?.(cfg.name, tenant, err);
      throw new Error(`server \`${cfg.name}\`: ${err.message}`);
    }
    secretsAndHome(b, cfg, sb, env);
    return { b, cwd, env, command, args };
  }

  /** Bubblewrap around the server, within its limits, with its egress proxy when it has an allowlist. */
  async #sandboxed(cfg: StdioServerConfig, sb: SandboxConfig, tenant: string, id: string): Promise<SandboxedLaunch> {
    const tools = sandboxTools(cfg.name);
    const { uid, gid } = sandboxUser(cfg);
    const { b, cwd, env, command, args } = this.#view(cfg, sb, tenant, { uid, gid });
    const net = sb.network ?? 'none';
    const limits = limitsOf(cfg);
    const backend = limitBackend();
    const held: Held = { groups: [] };
    let inner = [command, ...args];
    let procs: string[] = [];
    try {
      if (backend.kind !== 'rlimit') ({ dirs: held.groups, procs } = createGroups(backend, id, limits));
      if (typeof net === 'object')
        inner = await this.#openEgress(held, b, env, inner, {
          server: cfg.name,
          tenant,
          id,
          allow: net.allow,
          allowLoopback: net.allowLoopback ?? false,
          uid,
          gid,
        });
    } catch (err) {
      b.closeDescriptors();
      await release(held);
      throw err;
    }
    // The root bubblewrap built is a tmpfs: read-only too, so only /tmp and the declared paths take writes.
    b.push('--remount-ro', '/', '--chdir', cwd ?? '/tmp', '--seccomp', '3', '--', ...inner);
    const chain = execChain(tools, rlimitArgs(backend, limits), b.args, { uid, gid }, procs);
    this.#log.debug({ upstream: cfg.name, tenant, limits: backend.kind, uid }, 'starting sandboxed server');
    return {
      command: chain[0],
      args: chain.slice(1),
      env,
      cwd: '/',
      fds: b.fds,
      groups: held.groups,
      cleanup: () => release(held),
    };
  }

  /**
   * With an allowlist, the server's only way out: a proxy in the gateway behind a socket in the
   * sandbox, and a relay inside that the server reaches as its HTTP proxy. Returns the command run
   * through the relay; what it opens is in `held` as soon as it exists, for the caller to release.
   */
  async #openEgress(
    held: Held,
    b: BwrapCommand,
    env: Record<string, string>,
    inner: string[],
    o: {
      server: string;
      tenant: string;
      id: string;
      allow: string[];
      allowLoopback: boolean;
      uid: number;
      gid: number;
    },
  ): Promise<string[]> {
    const proxyDir = join(this.#runDir, o.id.slice(-12));
    held.proxyDir = proxyDir;
    mkdirSync(proxyDir, { mode: 0o700 });
    const socket = join(proxyDir, 'egress.sock');
    const proxy = new EgressProxy(
      socket,
      o.allow,
      (r) => this.#refused(o.server, o.tenant, r),
      this.#listening,
      o.allowLoopback,
    );
    held.proxy = proxy;
    await proxy.listen();
    if (process.getuid?.() === 0) {
      chownFolder(proxyDir, o.uid, o.gid);
      lchownSync(socket, o.uid, o.gid); // the socket itself, never what a link there points to
    }
    b.push('--ro-bind', proxyDir, '/run/gatehouse');
    b.data(RELAY_SOURCE, '/run/gatehouse-relay.mjs');
    Object.assign(env, proxyEnv(`http://127.0.0.1:${PROXY_PORT}`));
    return [
      real(process.execPath),
      '/run/gatehouse-relay.mjs',
      String(PROXY_PORT),
      '/run/gatehouse/egress.sock',
      ...inner,
    ];
  }
}

/** The message a sandboxed server gets where bubblewrap is missing. */
export function sandboxUnavailable(server: string): string {
  return `server \`${server}\` is sandboxed, but bubblewrap (bwrap) is not installed: install it (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap) or remove \`sandbox\` from the server`;
}
