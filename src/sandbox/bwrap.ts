/**
 * The bubblewrap command line of a sandboxed server: namespaces and the system folders, its own
 * /etc/passwd and /etc/group, the visible paths bound in the sandbox user's reach, masks over the
 * gateway's files and credential files, secrets and home, and the chain of exec()s that joins the
 * control groups, drops to the server's user and sets resource limits before bubblewrap runs.
 */
import { closeSync, existsSync, lstatSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, sep } from 'node:path';
import type { StdioServerConfig } from '../config/schema.ts';
import type { GatewayFile } from './gateway-files.ts';
import { inside, permissionBits, real, statOf } from '../util/paths.ts';
import { seccompProgram } from './seccomp.ts';
import { openUnfollowed } from './data-paths.ts';
import type { SandboxConfig } from './server-view.ts';

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

/**
 * Why a path cannot be shown to the sandbox user: it does not exist, or (bubblewrap runs as that
 * user) the user cannot reach it; undefined when it can. Asked at launch, and by `gatehouse check`
 * (./readiness.ts) of the declared paths, before any server starts.
 */
export function bindProblem(path: string, uid: number, gid: number, write: boolean): string | undefined {
  if (!existsSync(path)) return 'does not exist';
  const blocked = uid === process.getuid?.() ? undefined : unreachable(path, uid, gid, write);
  return blocked
    ? `is out of reach of uid ${uid}, the sandbox user (${blocked}): give that user access, or choose another folder`
    : undefined;
}

type Network = NonNullable<SandboxConfig['network']>;

/**
 * A bubblewrap command line being built, with what it reads from file descriptors 3, 4, ...: contents
 * (written to a pipe), or a descriptor of ours passed as it is (a path to bind, opened unfollowed).
 */
export class BwrapCommand {
  readonly args: string[];
  /** Descriptor 3 is the seccomp filter; the files made by `data` and the paths bound follow. */
  readonly fds: Array<Buffer | number> = [seccompProgram()];

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

  /**
   * Bind what `fd` names at `dest`: bubblewrap mounts the very folder the descriptor holds, and stops
   * ("Race condition binding dirfd") when what it mounted is not that one.
   */
  bindFd(fd: number, dest: string, readOnly: boolean): void {
    this.fds.push(fd);
    this.args.push(readOnly ? '--ro-bind-fd' : '--bind-fd', String(2 + this.fds.length), dest);
  }

  /** Close the descriptors of paths to bind (once the sandbox started, or when it will not). */
  closeDescriptors(): void {
    for (const fd of this.fds) if (typeof fd === 'number') closeSync(fd);
  }
}

/** Namespaces, no capabilities, the system folders (read-only), /proc, /dev and a private /tmp. */
export function baseArgs(net: Network): string[] {
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
export function userFiles(b: BwrapCommand, uid: number, gid: number): void {
  b.data(
    `root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:${uid}:${gid}:sandbox:/tmp:/usr/sbin/nologin\n`,
    '/etc/passwd',
  );
  b.data(`root:x:0:\nsandbox:x:${gid}:\n`, '/etc/group');
}

/**
 * Bind the visible paths, shallowest first so deeper ones win; each must exist and be in the sandbox
 * user's reach. Each is opened without following links and bound by its descriptor, so what is
 * bound is what was checked, even if a folder is swapped for a link meanwhile (walk F10).
 */
export function bindPaths(
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
    const why = bindProblem(p, uid, gid, how === '--bind');
    if (why) throw new Error(`server \`${server}\`: sandbox path \`${p}\` ${why}`);
    b.bindFd(openUnfollowed(p), p, how === '--ro-bind');
  }
  for (const p of veils) b.push('--remount-ro', p);
}

function lstatOf(p: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
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
export function maskSecrets(
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
    // A link is no file to mask (what it names is masked or not where it lies), and never followed.
    for (const f of readdirSync(s))
      if (TOP_SECRETS.test(f) && !lstatSync(join(s, f)).isSymbolicLink()) masks.add(join(s, f));
    const git = lstatOf(join(s, '.git'));
    if (git?.isDirectory() && lstatOf(join(s, '.git', 'config'))?.isFile()) masks.add(join(s, '.git', 'config'));
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
export function secretsAndHome(
  b: BwrapCommand,
  cfg: StdioServerConfig,
  sb: SandboxConfig,
  env: Record<string, string>,
): void {
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

/**
 * A chain of exec()s, one process id throughout: join the groups (as root), drop to the server's
 * user, set resource limits, then bubblewrap.
 */
export function execChain(
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
