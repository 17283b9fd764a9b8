/**
 * Paths as the sandbox and its readiness check read them: an executable along PATH, a path resolved
 * through its links, whether one path lies inside another, a file's status, and the mode bits that
 * apply to a user.
 */
import { accessSync, closeSync, constants, fchownSync, openSync, realpathSync, statSync, type Stats } from 'node:fs';
import { delimiter, join, resolve, sep } from 'node:path';

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

export function inside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
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

/**
 * Why a declared path (or a server's own cwd) can never be shown: it is in the state directory or in
 * one of the gateway's files, which sandboxes mask. Asked at launch, and when the config is read
 * (src/config/sandbox-checks.ts: the state directory, known from the file alone).
 */
export function keptIn(
  path: string,
  stateDir: string,
  hidden: ReadonlyArray<{ path: string; what: string }> = [],
): string | undefined {
  const kept = inside(path, stateDir) ? 'the state directory' : hidden.find((h) => inside(path, h.path))?.what;
  if (!kept) return undefined;
  return `is in ${kept.startsWith('the ') ? kept : `the gateway's ${kept}`}, which sandboxed servers never see: choose a folder elsewhere`;
}

/**
 * Gives the folder just made at `path` to `uid`:`gid`, never what a symlink put in its place points
 * to: the folder is opened without following links (O_NOFOLLOW, O_DIRECTORY) and its descriptor
 * changed (walk O: mkdir then chown followed a symlink that a sandboxed server, writing the parent,
 * swapped in between, and a root-owned file became the sandbox user's). A swapped path throws.
 */
export function chownFolder(path: string, uid: number, gid: number): void {
  const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    fchownSync(fd, uid, gid);
  } finally {
    closeSync(fd);
  }
}
