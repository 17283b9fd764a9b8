/**
 * The bubblewrap command line of a sandboxed server: namespaces and the system folders, its own
 * /etc/passwd and /etc/group, the visible paths bound in the sandbox user's reach, masks over the
 * gateway's files and credential files, secrets and home, and the chain of exec()s that joins the
 * control groups, drops to the server's user and sets resource limits before bubblewrap runs.
 */
import { closeSync, existsSync, lstatSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import type { StdioServerConfig } from '../config/schema.ts';
import type { Masks } from './masks.ts';
import { inside, permissionBits, real, statOf } from '../util/paths.ts';
import { seccompProgram } from './seccomp.ts';
import { openUnfollowed } from './data-paths.ts';
import type { SandboxConfig } from './server-view.ts';

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

type Op = 'ro' | 'rw' | 'veil' | 'entries' | 'dir' | 'file';
/** At one path, what is mounted first: a bind, then what covers it. */
const OP_ORDER: Op[] = ['ro', 'rw', 'veil', 'entries', 'dir', 'file'];

/**
 * Bind the visible paths and hide what they must not show (`masks`, ./masks.ts), shallowest first so
 * deeper ones win; each path bound must exist and be in the sandbox user's reach. Each is opened
 * without following links and bound by its descriptor, so what is bound is what was checked, even if
 * a folder is swapped for a link meanwhile (walk F10). Folders made here (a veil, a veiled folder)
 * are made read-only once everything inside them is mounted.
 */
export function bindPaths(
  b: BwrapCommand,
  server: string,
  shown: { ro: Set<string>; rw: Set<string>; veils: Set<string>; masks: Masks },
  uid: number,
  gid: number,
): void {
  const { ro, rw, veils, masks } = shown;
  const ops: Array<[Op, string]> = [
    ...[...ro].map((p) => ['ro', p] as [Op, string]),
    ...[...rw].map((p) => ['rw', p] as [Op, string]),
    ...[...veils].map((p) => ['veil', p] as [Op, string]),
    ...[...masks.veiled.keys()].map((p) => ['entries', p] as [Op, string]),
    ...[...masks.dirs].map((p) => ['dir', p] as [Op, string]),
    ...[...masks.files].map((p) => ['file', p] as [Op, string]),
  ];
  const depth = (p: string) => p.split(sep).length;
  ops.sort(
    ([k1, a], [k2, c]) => depth(a) - depth(c) || OP_ORDER.indexOf(k1) - OP_ORDER.indexOf(k2) || a.localeCompare(c),
  );
  for (const [op, p] of ops) {
    if (op === 'veil')
      b.push('--tmpfs', p); // over the folders of every tenant; this one's own is bound into it next
    else if (op === 'entries') veiledFolder(b, p, masks.veiled.get(p) ?? new Set(), { uid, gid });
    else if (op === 'dir') b.push('--tmpfs', p, '--remount-ro', p);
    else if (op === 'file')
      b.data('', p); // an empty file in its place
    else {
      const why = bindProblem(p, uid, gid, op === 'rw');
      if (why) throw new Error(`server \`${server}\`: sandbox path \`${p}\` ${why}`);
      b.bindFd(openUnfollowed(p), p, op === 'ro');
    }
  }
  for (const p of [...veils, ...masks.veiled.keys()]) b.push('--remount-ro', p);
}

/**
 * A read-only folder that holds something to hide, shown as a folder of its own: its other entries
 * as they are now (links as links), an empty file for each hidden file there now, and nothing that
 * is created or renamed in it later. An entry the sandbox user could not read is left out
 * (bubblewrap, running as that user, could not bind it).
 */
function veiledFolder(b: BwrapCommand, dir: string, hidden: Set<string>, user: { uid: number; gid: number }): void {
  b.push('--tmpfs', dir);
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st) continue; // gone meanwhile
    if (hidden.has(name)) {
      if (st.isFile()) b.data('', p);
    } else if (st.isSymbolicLink()) b.push('--symlink', readlinkSync(p), p);
    else if (!bindProblem(p, user.uid, user.gid, false)) b.bindFd(openUnfollowed(p), p, true);
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
