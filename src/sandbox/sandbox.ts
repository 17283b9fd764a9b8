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
  type Stats,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { homedir, tmpdir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import type { Config, StdioServerConfig } from '../config/schema.ts';
import { isSafePlaceholderValue } from '../util/placeholder-value.ts';
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
const SANDBOX_UID = 65534;
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

/**
 * Files that may hold a secret at the top of every directory shown read-only (a project's): `.env`
 * and its variants (`.env.local`, `.env.production`), credential files and a clone's `.git/config`
 * (a remote URL can carry a token).
 */
const TOP_SECRETS = /^\.env(\..+)?$|^\.(npmrc|netrc|pgpass|git-credentials)$/;

/** A file or directory of the gateway that no sandbox shows, wherever it lies; `what` names it in refusals. */
export interface GatewayFile {
  path: string;
  what: string;
  /** A directory the gateway makes when it needs it (so the sandbox makes it first, to mask it). */
  dir?: boolean;
}

/**
 * What the gateway keeps or reads outside its state directory, hidden from every sandbox wherever it
 * lies: the config file and the policy files it names (literal secrets), the SQLite database with its
 * -wal, -shm, -journal and -spool siblings (every tenant's records, key hashes, the gateway's HMAC
 * keys), the audit exports' file directories and a Vault login's JWT file. The state directory is
 * hidden apart (the host's own).
 */
export function gatewayFiles(config: Config): GatewayFile[] {
  const files: GatewayFile[] = [];
  if (isAbsolute(config.source)) files.push({ path: config.source, what: 'config file' });
  for (const f of config.policy?.files ?? []) files.push({ path: f, what: 'policy file' });
  if (config.storage.driver === 'sqlite') {
    const db = config.storage.sqlitePath;
    files.push({ path: db, what: 'database' });
    for (const x of ['-wal', '-shm', '-journal']) files.push({ path: db + x, what: 'database' });
    files.push({ path: `${db}-spool`, what: 'database', dir: true });
  }
  for (const e of config.audit.exports)
    if (e.type === 'file')
      files.push({
        path: resolve(config.gateway.stateDir, e.dir ?? 'audit-export'),
        what: 'audit export directory',
        dir: true,
      });
  const vault = config.secrets.vault?.auth;
  if (vault && 'jwtFile' in vault) files.push({ path: resolve(vault.jwtFile), what: 'Vault login token file' });
  return files;
}

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
  for (const k of cfg.inheritEnv ?? []) {
    const value = process.env[k];
    if (value !== undefined) env[k] = value;
  }
  return { ...env, ...(cfg.env ?? {}) };
}

function limitsOf(cfg: StdioServerConfig): Limits {
  return { ...DEFAULT_LIMITS, ...(cfg.sandbox?.limits ?? {}) };
}

export function inside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/** Under the system directories every sandbox shows anyway. */
function system(p: string): boolean {
  return ['/usr', '/bin', '/sbin', '/lib', '/lib64', '/etc'].some((d) => inside(real(p), d));
}

export function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/** The file's status, or undefined when it cannot be read (absent, or out of reach). */
export function statOf(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** The mode bits that apply to `uid`/`gid`, shifted to the lowest three: the owner's, the group's, or everyone's. */
export function permissionBits(st: Stats, uid: number, gid: number): number {
  if (st.uid === uid) return st.mode >> 6;
  if (st.gid === gid) return st.mode >> 3;
  return st.mode;
}

/** Why `uid`/`gid` cannot reach `path` (enter every ancestor; read it, or write it too), or undefined. */
function unreachable(path: string, uid: number, gid: number, write: boolean): string | undefined {
  const allows = (p: string, bit: number) => (permissionBits(statSync(p), uid, gid) & bit) === bit;
  const parts = path.split(sep).filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    const dir = sep + parts.slice(0, i).join(sep);
    if (!allows(dir, 1)) return `\`${dir}\` is mode ${(statSync(dir).mode & 0o777).toString(8).padStart(4, '0')}`;
  }
  const need = (write ? 2 : 0) | 4 | (statSync(path).isDirectory() ? 1 : 0);
  return allows(path, need) ? undefined : `it is not ${write ? 'writable' : 'readable'} by that user`;
}

/** The directory a program belongs to: the project of its node_modules, the nearest ancestor with a package manifest, else its own directory. */
function packageRoot(file: string): string {
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

type SandboxConfig = NonNullable<StdioServerConfig['sandbox']>;
type Network = NonNullable<SandboxConfig['network']>;
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

/**
 * `{tenant}` in a sandboxed server's args and paths: the tenant of the connection, so that each
 * tenant's sandbox gets a folder of its own. The name must be one a reference may take (letters,
 * digits, `_ . @ + -`, no `..`: util/placeholder-value.ts), and not `.`: it becomes a path segment.
 */
function perTenant(text: string, tenant: string): string {
  if (!text.includes('{tenant}')) return text;
  if (tenant === '.' || !isSafePlaceholderValue(tenant))
    throw new Error(
      'the tenant name cannot stand in `{tenant}` of a sandbox path or argument (allowed: letters, digits, _ . @ + -, no `..`)',
    );
  return text.replaceAll('{tenant}', tenant);
}

/** The server's folder (undefined when it must not be shown), environment and command. */
function serverProgram(
  cfg: StdioServerConfig,
  stateDir: string,
): {
  cwd: string | undefined;
  env: Record<string, string>;
  command: string;
} {
  // Where it would run unsandboxed (its cwd, else the gateway's), shown read-only; never the root, a
  // home, or the state directory. A cwd of its own there is refused like a declared path.
  const where = real(cfg.cwd ?? process.cwd());
  if (cfg.cwd && inside(where, stateDir))
    throw new Error(
      `server \`${cfg.name}\`: its cwd \`${where}\` is in the state directory, which sandboxed servers never see: choose a folder elsewhere`,
    );
  const hidden = where === '/' || where === real(homedir()) || system(where) || inside(where, stateDir);
  const cwd = hidden ? undefined : where;
  const env = stdioEnv(cfg);
  const command = findExecutable(cfg.command, env.PATH ?? process.env.PATH, cwd ?? process.cwd());
  if (!command) throw new Error(`server \`${cfg.name}\`: command \`${cfg.command}\` not found`);
  return { cwd, env, command };
}

/**
 * What the server may see: the node runtime, its command's package, the packages of the files its
 * arguments name, its folder and the declared paths; read-only unless declared writable. Nothing in
 * the state directory may be declared.
 */
function visiblePaths(
  cfg: StdioServerConfig,
  sb: SandboxConfig,
  o: {
    command: string;
    args: string[];
    cwd: string | undefined;
    stateDir: string;
    hidden: GatewayFile[];
    tenant: string;
  },
): { ro: Set<string>; rw: Set<string>; veils: Set<string> } {
  const { command, cwd, stateDir } = o;
  const read = (sb.paths?.read ?? []).map((p) => real(perTenant(p, o.tenant)));
  const write = (sb.paths?.write ?? []).map((p) => real(perTenant(p, o.tenant)));
  const ro = new Set<string>();
  const rw = new Set<string>(write);
  const nodePrefix = dirname(dirname(real(process.execPath)));
  if (!inside(nodePrefix, '/usr')) ro.add(nodePrefix);
  for (const f of [command, real(command)]) if (!system(f)) ro.add(packageRoot(f));
  for (const a of o.args) {
    if (a.startsWith('-') || !(isAbsolute(a) || a.startsWith('.'))) continue;
    const p = resolve(cwd ?? process.cwd(), a);
    if (existsSync(p) && statSync(p).isFile() && !system(p)) ro.add(packageRoot(real(p)));
  }
  if (cwd) ro.add(cwd);
  for (const p of read) ro.add(p);
  // A declared folder (or its own cwd) in what the gateway keeps would be hidden under its mask, or
  // would show it: refused, with the reason.
  const declared = [...read, ...write, ...(cfg.cwd && cwd ? [cwd] : [])];
  for (const p of declared) {
    const kept = inside(p, stateDir) ? 'the state directory' : o.hidden.find((h) => inside(p, h.path))?.what;
    if (kept) {
      throw new Error(
        `server \`${cfg.name}\`: sandbox path \`${p}\` is in ${kept.startsWith('the ') ? kept : `the gateway's ${kept}`}, which sandboxed servers never see: choose a folder elsewhere`,
      );
    }
  }
  for (const p of rw) ro.delete(p);
  // The folder that holds every tenant's `{tenant}` folder: where a shown folder shows it, an empty
  // one stands in for it, so that only this tenant's own is seen there (they all run as one user).
  const veils = new Set<string>();
  for (const p of [...(sb.paths?.read ?? []), ...(sb.paths?.write ?? [])]) {
    const at = p.indexOf('{tenant}');
    if (at < 0) continue;
    const root = real(dirname(p.slice(0, at + '{tenant}'.length)));
    if ([...ro, ...rw].some((s) => s !== root && inside(root, s))) veils.add(root);
  }
  return { ro, rw, veils };
}

/** A writable folder that does not exist yet is made for the server's user. */
function makeWritableFolders(rw: Set<string>, uid: number, gid: number): void {
  for (const p of rw) {
    if (existsSync(p)) continue;
    mkdirSync(dirname(p), { recursive: true, mode: 0o755 }); // parents the sandbox user can enter
    mkdirSync(p, { mode: 0o700 });
    if (process.getuid?.() === 0) chownSync(p, uid, gid);
  }
}

/** A bubblewrap command line being built, with the contents it reads from file descriptors 3, 4, ... */
class BwrapCommand {
  readonly args: string[];
  /** Descriptor 3 is the seccomp filter; the files made by `data` follow. */
  readonly fds: Buffer[] = [seccompProgram()];

  constructor(args: string[]) {
    this.args = args;
  }

  push(...args: string[]): void {
    this.args.push(...args);
  }

  /** A file of `content` at `dest` in the sandbox, read once from a descriptor. */
  data(content: string | Buffer, dest: string, perms = '0444'): void {
    this.fds.push(Buffer.from(content));
    this.args.push('--perms', perms, '--ro-bind-data', String(2 + this.fds.length), dest);
  }
}

/** Namespaces, no capabilities, the system folders (read-only), /proc, /dev and a private /tmp. */
function baseArgs(net: Network): string[] {
  const args: string[] = ['--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try'];
  if (net !== 'host') args.push('--unshare-net');
  args.push('--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--hostname', 'sandbox');
  args.push('--ro-bind', '/usr', '/usr');
  for (const d of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
    if (!statOf(d)) continue;
    const target = real(d);
    if (target !== d && inside(target, '/usr')) args.push('--symlink', target, d);
    else args.push('--ro-bind', d, d);
  }
  for (const e of ETC) args.push('--ro-bind-try', e, e);
  if (net === 'host') args.push('--ro-bind-try', '/etc/resolv.conf', '/etc/resolv.conf');
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--dir', '/run');
  return args;
}

/** The sandbox's own /etc/passwd and /etc/group: root and the server's user. */
function userFiles(b: BwrapCommand, uid: number, gid: number): void {
  b.data(
    `root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:${uid}:${gid}:sandbox:/tmp:/usr/sbin/nologin\n`,
    '/etc/passwd',
  );
  b.data(`root:x:0:\nsandbox:x:${gid}:\n`, '/etc/group');
}

/** Bind the visible paths, shallowest first so deeper ones win; each must exist and be in the sandbox user's reach. */
function bindPaths(
  b: BwrapCommand,
  server: string,
  shown: { ro: Set<string>; rw: Set<string>; veils: Set<string> },
  uid: number,
  gid: number,
): void {
  const { ro, rw, veils } = shown;
  const byDepth = (a: string, c: string) => a.split(sep).length - c.split(sep).length || a.localeCompare(c);
  const binds = [
    ...[...ro].map((p) => ['--ro-bind', p] as const),
    ...[...rw].map((p) => ['--bind', p] as const),
    ...[...veils].map((p) => ['--tmpfs', p] as const),
  ].sort((x, y) => byDepth(x[1], y[1]));
  for (const [how, p] of binds) {
    if (how === '--tmpfs') {
      b.push(how, p); // over the folders of every tenant; this one's own is bound into it next
      continue;
    }
    if (!existsSync(p)) throw new Error(`server \`${server}\`: sandbox path \`${p}\` does not exist`);
    // bubblewrap runs as the sandbox user: what it binds, that user must be able to reach.
    const blocked = uid === process.getuid?.() ? undefined : unreachable(p, uid, gid, how === '--bind');
    if (blocked)
      throw new Error(
        `server \`${server}\`: sandbox path \`${p}\` is out of reach of uid ${uid}, the sandbox user (${blocked}): give that user access, or choose another folder`,
      );
    b.push(how, p, p);
  }
  for (const p of veils) b.push('--remount-ro', p);
}

/** Whether `uid`/`gid` may enter every directory above `path` (so a mask there is needed, and can be mounted). */
function enterable(path: string, uid: number, gid: number): boolean {
  if (uid === 0) return true;
  const parts = path.split(sep).filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    const st = statOf(sep + parts.slice(0, i).join(sep));
    if (!st || (permissionBits(st, uid, gid) & 1) === 0) return false;
  }
  return true;
}

/**
 * Hide what a bound directory must not show: the state directory, the gateway's own files wherever
 * they lie (config, policy, database, exports: `hidden`), the credential files of the gateway's home,
 * and `.env` and credential files at the top of a read-only folder. A directory of the gateway's
 * that does not exist yet (an export's, the database's spool) is made first (0700, as the gateway
 * would): a mask can only cover what exists, and one made later in a shown folder would be seen.
 */
function maskSecrets(
  b: BwrapCommand,
  shownPaths: { ro: Set<string>; rw: Set<string> },
  stateDir: string,
  hidden: GatewayFile[],
  user: { uid: number; gid: number },
): void {
  const { ro, rw } = shownPaths;
  const shown = [...ro, ...rw];
  const isShown = (p: string) => shown.some((s) => inside(p, s));
  const masks = new Set<string>();
  if (isShown(stateDir)) masks.add(stateDir);
  for (const h of hidden) {
    if (!isShown(h.path) || inside(h.path, stateDir)) continue;
    if (h.dir && !existsSync(h.path)) mkdirSync(h.path, { recursive: true, mode: 0o700 });
    if (existsSync(h.path)) masks.add(h.path);
  }
  const home = real(homedir());
  for (const f of SECRET_FILES) {
    const p = join(home, f);
    if (existsSync(p) && isShown(p)) masks.add(p);
  }
  for (const s of ro) {
    if (rw.has(s) || !statOf(s)?.isDirectory()) continue;
    for (const f of readdirSync(s)) if (TOP_SECRETS.test(f)) masks.add(join(s, f));
    if (statOf(join(s, '.git', 'config'))?.isFile()) masks.add(join(s, '.git', 'config'));
  }
  // Shallowest first, so a deeper mask is not covered; one the sandbox user cannot reach needs none
  // (and bubblewrap, running as that user, could not mount it).
  const order = [...masks].sort((x, y) => x.split(sep).length - y.split(sep).length || x.localeCompare(y));
  for (const m of order) {
    if (order.some((o) => o !== m && inside(m, o) && statOf(o)?.isDirectory())) continue; // under a masked folder
    if (!enterable(m, user.uid, user.gid)) continue;
    if (statSync(m).isDirectory()) b.push('--tmpfs', m, '--remount-ro', m);
    else b.data('', m); // an empty file in its place
  }
}

/** Secrets as environment variables, or as files under /run/secrets (and <NAME>_FILE naming each); a home and user of the sandbox. */
function secretsAndHome(b: BwrapCommand, cfg: StdioServerConfig, sb: SandboxConfig, env: Record<string, string>): void {
  const secretNames = Object.keys(cfg.credentials?.env ?? {});
  if ((sb.secrets ?? 'env') === 'file') {
    for (const k of secretNames) {
      if (env[k] === undefined) continue;
      b.data(env[k], `/run/secrets/${k}`, '0400');
      env[`${k}_FILE`] = `/run/secrets/${k}`;
      delete env[k];
    }
  }
  env.HOME = '/tmp';
  env.TMPDIR = '/tmp';
  env.USER = 'sandbox';
  env.LOGNAME = 'sandbox';
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

/**
 * A chain of exec()s, one process id throughout: join the groups (as root), drop to the server's
 * user, set resource limits, then bubblewrap.
 */
function execChain(
  tools: { bwrap: string; prlimit: string; setpriv: string },
  rlimits: string[],
  bwrapArgs: string[],
  user: { uid: number; gid: number },
  procs: string[],
): string[] {
  let chain = [tools.prlimit, ...rlimits, '--', tools.bwrap, ...bwrapArgs];
  if (process.getuid?.() === 0 && user.uid !== 0)
    chain = [tools.setpriv, `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--', ...chain];
  if (procs.length) {
    chain = [
      '/bin/sh',
      '-c',
      'for f; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 125; shift; done; shift; exec "$@"',
      'gatehouse-sandbox',
      ...procs,
      '--',
      ...chain,
    ];
  }
  return chain;
}

export class SandboxHost {
  readonly stateDir: string;
  readonly registry: ProcessRegistry;
  readonly #log: Logger;
  readonly #runDir: string;
  readonly #refused: (server: string, tenant: string, r: EgressRefusal) => void;
  readonly #files: () => GatewayFile[];

  private constructor(
    stateDir: string,
    log: Logger,
    onRefused: (server: string, tenant: string, r: EgressRefusal) => void,
    files: () => GatewayFile[],
  ) {
    this.stateDir = real(stateDir);
    this.#log = log;
    this.#refused = onRefused;
    this.#files = files;
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
   */
  static async open(
    stateDir: string,
    log: Logger,
    onRefused: (server: string, tenant: string, r: EgressRefusal) => void = () => {},
    files: () => GatewayFile[] = () => [],
  ): Promise<SandboxHost> {
    const host = new SandboxHost(stateDir, log, onRefused, files);
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

  /** Bubblewrap around the server, within its limits, with its egress proxy when it has an allowlist. */
  async #sandboxed(cfg: StdioServerConfig, sb: SandboxConfig, tenant: string, id: string): Promise<SandboxedLaunch> {
    const tools = sandboxTools(cfg.name);
    const { uid, gid } = sandboxUser(cfg);
    const { cwd, env, command } = serverProgram(cfg, this.stateDir);
    const args = (cfg.args ?? []).map((a) => perTenant(a, tenant));
    const hidden = this.#files().map((f) => ({ ...f, path: real(f.path) }));
    const { ro, rw, veils } = visiblePaths(cfg, sb, { command, args, cwd, stateDir: this.stateDir, hidden, tenant });
    makeWritableFolders(rw, uid, gid);
    const net = sb.network ?? 'none';
    const b = new BwrapCommand(baseArgs(net));
    userFiles(b, uid, gid);
    bindPaths(b, cfg.name, { ro, rw, veils }, uid, gid);
    maskSecrets(b, { ro, rw }, this.stateDir, hidden, { uid, gid });
    secretsAndHome(b, cfg, sb, env);

    const limits = limitsOf(cfg);
    const backend = limitBackend();
    const groups = backend.kind === 'rlimit' ? { dirs: [], procs: [] } : createGroups(backend, id, limits);
    const held: Held = { groups: groups.dirs };
    let inner = [command, ...args];
    if (typeof net === 'object') {
      try {
        inner = await this.#openEgress(held, b, env, inner, {
          server: cfg.name,
          tenant,
          id,
          allow: net.allow,
          uid,
          gid,
        });
      } catch (err) {
        await release(held);
        throw err;
      }
    }
    // The root bubblewrap built is a tmpfs: read-only too, so only /tmp and the declared paths take writes.
    b.push('--remount-ro', '/', '--chdir', cwd ?? '/tmp', '--seccomp', '3', '--', ...inner);
    const chain = execChain(tools, rlimitArgs(backend, limits), b.args, { uid, gid }, groups.procs);
    this.#log.debug({ upstream: cfg.name, tenant, limits: backend.kind, uid }, 'starting sandboxed server');
    return {
      command: chain[0],
      args: chain.slice(1),
      env,
      cwd: '/',
      fds: b.fds,
      groups: groups.dirs,
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
    o: { server: string; tenant: string; id: string; allow: string[]; uid: number; gid: number },
  ): Promise<string[]> {
    const proxyDir = join(this.#runDir, o.id.slice(-12));
    held.proxyDir = proxyDir;
    mkdirSync(proxyDir, { mode: 0o700 });
    const socket = join(proxyDir, 'egress.sock');
    const proxy = new EgressProxy(socket, o.allow, (r) => this.#refused(o.server, o.tenant, r));
    held.proxy = proxy;
    await proxy.listen();
    if (process.getuid?.() === 0) {
      chownSync(proxyDir, o.uid, o.gid);
      chownSync(socket, o.uid, o.gid);
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
