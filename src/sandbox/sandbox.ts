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
import {
  accessSync,
  chmodSync,
  chownSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { homedir, tmpdir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import type { StdioServerConfig } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import { seccompProgram, seccompSupported } from './seccomp.ts';
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

/** What a stdio channel spawns, and what it reports back. */
export interface Launch {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  /** Contents for file descriptors 3, 4, ... of the started process (read once, then closed). */
  fds: Buffer[];
  /** The process started: written down for reaping. */
  started(pid: number): void;
  /** The process is gone: remove what was made for it. */
  exited(): Promise<void>;
}

/** The user id servers run as when the gateway runs as root (and none is configured): `nobody`. */
export const SANDBOX_UID = 65534;
const PROXY_PORT = 3128;
const SECRET_FILES = [
  '.ssh',
  '.aws',
  '.gnupg',
  '.kube',
  '.docker',
  '.azure',
  '.config/gcloud',
  '.netrc',
  '.npmrc',
  '.pgpass',
  '.git-credentials',
  '.vault-token',
];
const ETC = [
  '/etc/ssl',
  '/etc/ca-certificates',
  '/etc/pki',
  '/etc/alternatives',
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/localtime',
  '/etc/hosts',
  '/etc/nsswitch.conf',
  '/etc/mime.types',
];

/** An executable by name along PATH (or a path as given); undefined when there is none. */
export function findExecutable(name: string, path = process.env.PATH ?? '', cwd = process.cwd()): string | undefined {
  const runnable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (name.includes('/')) {
    const p = resolve(cwd, name);
    return runnable(p) ? p : undefined;
  }
  for (const dir of path.split(delimiter).filter(Boolean)) if (runnable(join(dir, name))) return join(dir, name);
  return undefined;
}

/** The uid and gid a sandboxed server runs as: its own when the gateway is root, else the gateway's (it cannot change). */
export function sandboxUser(cfg: Pick<StdioServerConfig, 'sandbox'>): { uid: number; gid: number } {
  if (process.getuid?.() !== 0) return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const u = cfg.sandbox?.user;
  return { uid: u?.uid ?? SANDBOX_UID, gid: u?.gid ?? u?.uid ?? SANDBOX_UID };
}

/** The environment of a server: the inherited allowlist and its configured variables, nothing else. */
export function stdioEnv(cfg: StdioServerConfig): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of cfg.inheritEnv ?? []) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  return { ...env, ...(cfg.env ?? {}) };
}

function limitsOf(cfg: StdioServerConfig): Limits {
  return { ...DEFAULT_LIMITS, ...(cfg.sandbox?.limits ?? {}) };
}

function inside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/** Under the system directories every sandbox shows anyway. */
function system(p: string): boolean {
  return ['/usr', '/bin', '/sbin', '/lib', '/lib64', '/etc'].some((d) => inside(real(p), d));
}

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/** Why `uid`/`gid` cannot reach `path` (enter every ancestor; read it, or write it too), or undefined. */
function unreachable(path: string, uid: number, gid: number, write: boolean): string | undefined {
  const allows = (p: string, bit: number) => {
    const st = statSync(p);
    const bits = st.uid === uid ? st.mode >> 6 : st.gid === gid ? st.mode >> 3 : st.mode;
    return (bits & bit) === bit;
  };
  const parts = path.split(sep).filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    const dir = sep + parts.slice(0, i).join(sep);
    if (!allows(dir, 1)) return `\`${dir}\` is mode ${(statSync(dir).mode & 0o777).toString(8).padStart(4, '0')}`;
  }
  const need = (write ? 2 : 0) | 4 | (statSync(path).isDirectory() ? 1 : 0);
  return allows(path, need) ? undefined : `it is not ${write ? 'writable' : 'readable'} by that user`;
}

/** The directory a program belongs to: the project of its node_modules, the nearest ancestor with a package manifest, else its own directory. */
export function packageRoot(file: string): string {
  // An installed package resolves its dependencies from the node_modules it sits in (hoisted): the
  // project that holds that node_modules is its package.
  const nm = file.indexOf(`${sep}node_modules${sep}`);
  if (nm > 0) return file.slice(0, nm);
  const start = dirname(file);
  const stop = new Set(['/', homedir(), '/usr', '/usr/bin', '/usr/local', '/opt', '/home', '/tmp', '/srv']);
  for (let d = start; !stop.has(d); d = dirname(d)) {
    if (['package.json', 'pyproject.toml', 'setup.py', 'Cargo.toml', 'go.mod'].some((m) => existsSync(join(d, m))))
      return d;
    if (dirname(d) === d) break;
  }
  return start;
}

export class SandboxHost {
  readonly stateDir: string;
  readonly registry: ProcessRegistry;
  readonly #log: Logger;
  readonly #runDir: string;
  readonly #refused: (server: string, tenant: string, r: EgressRefusal) => void;

  private constructor(
    stateDir: string,
    log: Logger,
    onRefused: (server: string, tenant: string, r: EgressRefusal) => void,
  ) {
    this.stateDir = real(stateDir);
    this.#log = log;
    this.#refused = onRefused;
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

  /** Reap what an earlier gateway on this state directory left running, then serve launches. */
  static async open(
    stateDir: string,
    log: Logger,
    onRefused: (server: string, tenant: string, r: EgressRefusal) => void = () => {},
  ): Promise<SandboxHost> {
    const host = new SandboxHost(stateDir, log, onRefused);
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
      fds: [] as Buffer[],
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
    const plan = await this.#sandboxed(cfg, tenant, id);
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

  async #sandboxed(
    cfg: StdioServerConfig,
    tenant: string,
    id: string,
  ): Promise<Omit<Launch, 'started' | 'exited'> & { groups: string[]; cleanup(): Promise<void> }> {
    if (!seccompSupported())
      throw new Error(
        `server \`${cfg.name}\` is sandboxed, but no seccomp filter exists for architecture \`${process.arch}\``,
      );
    const sb = cfg.sandbox!;
    const bwrap = findExecutable('bwrap');
    if (!bwrap) throw new Error(sandboxUnavailable(cfg.name));
    const prlimit = findExecutable('prlimit');
    const setpriv = findExecutable('setpriv');
    if (!prlimit || !setpriv)
      throw new Error(
        `server \`${cfg.name}\` is sandboxed, but prlimit and setpriv (util-linux) are not both installed`,
      );
    const { uid, gid } = sandboxUser(cfg);
    // Where it would run unsandboxed (its cwd, else the gateway's), shown read-only; never the root or a home.
    const where = real(cfg.cwd ?? process.cwd());
    const cwd = where === '/' || where === real(homedir()) || system(where) ? undefined : where;
    const env = stdioEnv(cfg);
    const command = findExecutable(cfg.command, env.PATH ?? process.env.PATH, cwd ?? process.cwd());
    if (!command) throw new Error(`server \`${cfg.name}\`: command \`${cfg.command}\` not found`);

    // What the server may see: read-only unless declared writable; deeper paths mounted later win.
    const ro = new Set<string>();
    const rw = new Set<string>((sb.paths?.write ?? []).map(real));
    const nodePrefix = dirname(dirname(real(process.execPath)));
    if (!inside(nodePrefix, '/usr')) ro.add(nodePrefix);
    for (const f of [command, real(command)]) if (!system(f)) ro.add(packageRoot(f));
    for (const a of cfg.args ?? []) {
      if (a.startsWith('-') || !(isAbsolute(a) || a.startsWith('.'))) continue;
      const p = resolve(cwd ?? process.cwd(), a);
      if (existsSync(p) && statSync(p).isFile() && !system(p)) ro.add(packageRoot(real(p)));
    }
    if (cwd) ro.add(cwd);
    for (const p of sb.paths?.read ?? []) ro.add(real(p));
    for (const p of [...(sb.paths?.read ?? []), ...(sb.paths?.write ?? [])].map(real)) {
      if (inside(p, this.stateDir)) {
        throw new Error(
          `server \`${cfg.name}\`: sandbox path \`${p}\` is in the state directory, which sandboxed servers never see: choose a folder elsewhere`,
        );
      }
    }
    // A writable folder that does not exist yet is made for the server's user.
    for (const p of rw) {
      if (existsSync(p)) continue;
      mkdirSync(dirname(p), { recursive: true, mode: 0o755 }); // parents the sandbox user can enter
      mkdirSync(p, { mode: 0o700 });
      if (process.getuid?.() === 0) chownSync(p, uid, gid);
    }
    for (const p of rw) ro.delete(p);

    const args: string[] = [
      '--unshare-user',
      '--unshare-pid',
      '--unshare-ipc',
      '--unshare-uts',
      '--unshare-cgroup-try',
    ];
    const net = sb.network ?? 'none';
    if (net !== 'host') args.push('--unshare-net');
    args.push('--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--hostname', 'sandbox');
    args.push('--ro-bind', '/usr', '/usr');
    for (const d of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
      let st;
      try {
        st = statSync(d, { throwIfNoEntry: false });
      } catch {
        continue;
      }
      if (!st) continue;
      const target = real(d);
      if (target !== d && inside(target, '/usr')) args.push('--symlink', target, d);
      else args.push('--ro-bind', d, d);
    }
    for (const e of ETC) args.push('--ro-bind-try', e, e);
    if (net === 'host') args.push('--ro-bind-try', '/etc/resolv.conf', '/etc/resolv.conf');
    args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--dir', '/run');

    const fds: Buffer[] = [seccompProgram()];
    const data = (content: string | Buffer, dest: string, perms = '0444') => {
      fds.push(Buffer.from(content));
      args.push('--perms', perms, '--ro-bind-data', String(2 + fds.length), dest);
    };

    data(
      `root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:${uid}:${gid}:sandbox:/tmp:/usr/sbin/nologin\n`,
      '/etc/passwd',
    );
    data(`root:x:0:\nsandbox:x:${gid}:\n`, '/etc/group');

    const byDepth = (a: string, b: string) => a.split(sep).length - b.split(sep).length || a.localeCompare(b);
    const binds = [
      ...[...ro].map((p) => ['--ro-bind', p] as const),
      ...[...rw].map((p) => ['--bind', p] as const),
    ].sort((a, b) => byDepth(a[1], b[1]));
    for (const [how, p] of binds) {
      if (!existsSync(p)) throw new Error(`server \`${cfg.name}\`: sandbox path \`${p}\` does not exist`);
      // bubblewrap runs as the sandbox user: what it binds, that user must be able to reach.
      const blocked = uid === process.getuid?.() ? undefined : unreachable(p, uid, gid, how === '--bind');
      if (blocked)
        throw new Error(
          `server \`${cfg.name}\`: sandbox path \`${p}\` is out of reach of uid ${uid}, the sandbox user (${blocked}): give that user access, or choose another folder`,
        );
      args.push(how, p, p);
    }
    // Hide what a bound directory must not show: the state directory, the gateway's credential files, .env files.
    const shown = [...ro, ...rw];
    const masks: string[] = [];
    if (shown.some((p) => inside(this.stateDir, p))) masks.push(this.stateDir);
    const home = real(homedir());
    for (const f of SECRET_FILES) {
      const p = join(home, f);
      if (existsSync(p) && shown.some((s) => inside(p, s))) masks.push(p);
    }
    for (const s of shown) if (existsSync(join(s, '.env')) && !rw.has(s)) masks.push(join(s, '.env'));
    for (const m of masks) {
      if (statSync(m).isDirectory()) args.push('--tmpfs', m, '--remount-ro', m);
      else data('', m); // an empty file in its place
    }

    // Secrets: environment variables, or files under /run/secrets (and <NAME>_FILE naming each).
    const secretNames = Object.keys(cfg.credentials?.env ?? {});
    if ((sb.secrets ?? 'env') === 'file') {
      for (const k of secretNames) {
        if (env[k] === undefined) continue;
        data(env[k], `/run/secrets/${k}`, '0400');
        env[`${k}_FILE`] = `/run/secrets/${k}`;
        delete env[k];
      }
    }
    env.HOME = '/tmp';
    env.TMPDIR = '/tmp';
    env.USER = 'sandbox';
    env.LOGNAME = 'sandbox';

    const limits = limitsOf(cfg);
    const backend = limitBackend();
    const groups = backend.kind === 'rlimit' ? { dirs: [], procs: [] } : createGroups(backend, id, limits);
    let proxy: EgressProxy | undefined;
    let proxyDir: string | undefined;
    const cleanup = async () => {
      await proxy?.close();
      if (proxyDir) rmSync(proxyDir, { recursive: true, force: true });
      await removeGroups(groups.dirs);
    };
    let inner = [command, ...(cfg.args ?? [])];
    // With an allowlist, the server's only way out: a proxy in the gateway behind a socket in the sandbox.
    if (typeof net === 'object') {
      try {
        proxyDir = join(this.#runDir, id.slice(-12));
        mkdirSync(proxyDir, { mode: 0o700 });
        const socket = join(proxyDir, 'egress.sock');
        proxy = new EgressProxy(socket, net.allow, (r) => this.#refused(cfg.name, tenant, r));
        await proxy.listen();
        if (process.getuid?.() === 0) chownSync(proxyDir, uid, gid), chownSync(socket, uid, gid);
        args.push('--ro-bind', proxyDir, '/run/gatehouse');
        data(RELAY_SOURCE, '/run/gatehouse-relay.mjs');
        inner = [
          real(process.execPath),
          '/run/gatehouse-relay.mjs',
          String(PROXY_PORT),
          '/run/gatehouse/egress.sock',
          ...inner,
        ];
        const url = `http://127.0.0.1:${PROXY_PORT}`;
        Object.assign(env, {
          HTTP_PROXY: url,
          HTTPS_PROXY: url,
          ALL_PROXY: url,
          http_proxy: url,
          https_proxy: url,
          all_proxy: url,
          NO_PROXY: '',
          no_proxy: '',
          NODE_USE_ENV_PROXY: '1',
        });
      } catch (err) {
        await cleanup();
        throw err;
      }
    }
    // The root bubblewrap built is a tmpfs: read-only too, so only /tmp and the declared paths take writes.
    args.push('--remount-ro', '/', '--chdir', cwd ?? '/tmp', '--seccomp', '3', '--', ...inner);

    // A chain of exec()s, one process id throughout: join the groups (as root), drop to the server's
    // user, set resource limits, then bubblewrap.
    let chain = [prlimit, ...rlimitArgs(backend, limits), '--', bwrap, ...args];
    if (process.getuid?.() === 0 && uid !== 0)
      chain = [setpriv, `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', ...chain];
    if (groups.procs.length) {
      chain = [
        '/bin/sh',
        '-c',
        'for f; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 125; shift; done; shift; exec "$@"',
        'gatehouse-sandbox',
        ...groups.procs,
        '--',
        ...chain,
      ];
    }
    this.#log.debug({ upstream: cfg.name, tenant, limits: backend.kind, uid }, 'starting sandboxed server');
    return {
      command: chain[0],
      args: chain.slice(1),
      env,
      cwd: '/',
      fds,
      groups: groups.dirs,
      cleanup,
    };
  }
}

/** The message a sandboxed server gets where bubblewrap is missing. */
export function sandboxUnavailable(server: string): string {
  return `server \`${server}\` is sandboxed, but bubblewrap (bwrap) is not installed: install it (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap) or remove \`sandbox\` from the server`;
}

/** What `gatehouse check` needs to know of this host for item 6.4. */
export interface SandboxFacts {
  bwrap: boolean;
  /** Sandbox users (uid) that can read or enter the state directory, with why. */
  stateDirExposed: Array<{ uid: number; why: string }>;
}

/** Whether `uid`/`gid` may read or enter `path` by its mode bits (root may always). */
function reachable(path: string, uid: number, gid: number): string | undefined {
  let st;
  try {
    st = statSync(path);
  } catch {
    return undefined;
  }
  if (uid === 0) return 'the servers run as root';
  const bits = st.uid === uid ? (st.mode >> 6) & 5 : st.gid === gid ? (st.mode >> 3) & 5 : st.mode & 5;
  if (!bits) return undefined;
  return st.uid === uid ? `uid ${uid} owns it` : `mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}`;
}

export function sandboxFacts(servers: StdioServerConfig[], stateDir: string): SandboxFacts {
  const users = new Map<number, number>();
  for (const s of servers)
    if (s.sandbox) {
      const u = sandboxUser(s);
      users.set(u.uid, u.gid);
    }
  const stateDirExposed: SandboxFacts['stateDirExposed'] = [];
  for (const [uid, gid] of users) {
    const why = reachable(stateDir, uid, gid);
    if (why) stateDirExposed.push({ uid, why });
  }
  return { bwrap: !!findExecutable('bwrap'), stateDirExposed };
}

/** Readiness item 6.4 (tools run sandboxed with restricted egress): status, why and how to fix. */
export function sandboxReadiness(
  stdio: StdioServerConfig[],
  stateDir: string,
  facts: SandboxFacts,
): { status: 'pass' | 'warn' | 'fail'; why: string; fix: string } {
  if (!stdio.length) return { status: 'pass', why: 'no local (stdio) servers', fix: '' };
  const names = (l: StdioServerConfig[]) =>
    l.length <= 5
      ? l.map((s) => s.name).join(', ')
      : `${l
          .slice(0, 5)
          .map((s) => s.name)
          .join(', ')} and ${l.length - 5} more`;
  const open = stdio.filter((s) => !s.sandbox);
  const fails: Array<[string, string]> = [];
  if (open.length)
    fails.push([
      `unsandboxed stdio servers: ${names(open)}`,
      'add `sandbox: {}` to every stdio server (no network by default; `network: { allow: [host:port] }` reaches named hosts through the gateway; docs/sandbox.md)',
    ]);
  if (open.length < stdio.length && !facts.bwrap)
    fails.push([
      'bubblewrap (bwrap) is not installed: sandboxed servers cannot start',
      'install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap)',
    ]);
  for (const e of facts.stateDirExposed) {
    fails.push([
      `the state directory is readable by uid ${e.uid}, which runs sandboxed servers (${e.why})`,
      `\`chmod 700 ${stateDir}\`, owned by the gateway's user; run the gateway as root so servers run as a user of their own (65534, or \`sandbox.user\`)`,
    ]);
  }
  if (fails.length)
    return { status: 'fail', why: fails.map((f) => f[0]).join('; '), fix: fails.map((f) => f[1]).join('; ') };
  const host = stdio.filter((s) => s.sandbox?.network === 'host');
  if (host.length)
    return {
      status: 'warn',
      why: `sandboxed, but with the host's network (unrestricted egress): ${names(host)}`,
      fix: "use `network: none`, or `network: { allow: [host:port, ...] }` through the gateway's egress proxy",
    };
  const allow = stdio.filter((s) => typeof s.sandbox?.network === 'object');
  return {
    status: 'pass',
    why: `every stdio server runs in bubblewrap (read-only view, private /tmp, own PID namespace, seccomp, limits); egress: ${allow.length ? `an allowlist for ${names(allow)}, none for the rest` : 'none'}`,
    fix: '',
  };
}
