/**
 * Files the gateway's secrets rest on (the secrets key, the audit signing key) and the directory
 * holding its store: refused when another user could read or replace them. A key another user owns
 * was planted (whoever owns it can change it, and the store's contents with it); a state directory
 * others can write lets them swap the database for one holding their own admin key. POSIX only.
 */
import { lstatSync, realpathSync, type Stats, statSync } from 'node:fs';
import { dirname } from 'node:path';

/** Why `st` (of `path`, a `what`) is not private to this user, or undefined when it is. `mask`: the mode bits others must not have. */
export function notPrivate(path: string, st: Stats, what: string, mask: 0o077 | 0o022): string | undefined {
  if (process.platform === 'win32') return undefined;
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid)
    return `${what} ${path} belongs to user ${st.uid}, not to the user running gatehouse (${uid}): use one of your own`;
  if ((st.mode & mask) !== 0)
    return mask === 0o077
      ? `${what} ${path} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`
      : `${what} ${path} is writable by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod go-w it`;
  return undefined;
}

/**
 * Why a key the gateway only reads (the audit signing key) is not safe to sign with, or undefined.
 * Besides a key of this user's own (0600), one mounted for it read-only is taken: owned by root,
 * readable by a group this process is in (a Kubernetes Secret with `defaultMode: 0440` and the pod's
 * `fsGroup`), writable by nobody but its owner, readable by no one else.
 */
export function notPrivateKey(path: string, st: Stats, what: string): string | undefined {
  if (process.platform === 'win32') return undefined;
  const mine = notPrivate(path, st, what, 0o077);
  if (!mine) return undefined;
  const uid = process.getuid?.();
  const groups = process.getgroups?.() ?? [];
  const mode = st.mode & 0o777;
  const mounted =
    (st.uid === 0 || st.uid === uid) && (mode & 0o027) === 0 && ((mode & 0o040) === 0 || groups.includes(st.gid));
  return mounted ? undefined : mine;
}

/**
 * Why directory `dir` may not hold what the gateway keeps (its store, its secrets and their key), or
 * undefined: another user than this one or root owns it, or group or others can write in it (they
 * could swap a file for their own), or it is a symbolic link another user owns (they can point it
 * elsewhere later; root's links are taken), or a folder above it lets another user rename it away
 * and put one of theirs in its place (another user's, or writable by group or others without the
 * sticky bit that /tmp has; walk CC).
 */
export function notPrivateDir(dir: string, what: string): string | undefined {
  if (process.platform === 'win32') return undefined;
  const uid = process.getuid?.();
  const link = lstatSync(dir);
  if (link.isSymbolicLink() && uid !== undefined && link.uid !== uid && link.uid !== 0)
    return `${what} ${dir} is a symbolic link of user ${link.uid}, not of the user running gatehouse (${uid}): whoever owns it can point it elsewhere; use a directory of your own`;
  const st = statSync(dir);
  const own = st.uid === 0 && (st.mode & 0o022) === 0 ? undefined : notPrivate(dir, st, what, 0o022);
  return own ?? openAbove(realpathSync(dir), what, uid);
}

/** Why a folder above `dir` (a real path) lets someone else replace it, or undefined. */
function openAbove(dir: string, what: string, uid: number | undefined): string | undefined {
  for (let up = dirname(dir); ; up = dirname(up)) {
    const st = statSync(up);
    const sticky = (st.mode & 0o1000) !== 0;
    if (uid !== undefined && st.uid !== uid && st.uid !== 0 && !sticky)
      return `${what} ${dir} is inside ${up}, which belongs to user ${st.uid}: they can rename it and put one of theirs in its place; use a folder of your own`;
    if ((st.mode & 0o022) !== 0 && !sticky)
      return `${what} ${dir} is inside ${up}, which group or others can write (mode ${(st.mode & 0o777).toString(8)}): they can rename it and put one of theirs in its place; chmod go-w ${up}`;
    if (up === dirname(up)) return undefined;
  }
}
