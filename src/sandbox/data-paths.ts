/**
 * The folders sandboxed servers write (`paths.write`, a tenant's `{tenant}` folder above all) are
 * theirs to fill, symbolic links included: a link there can point into another tenant's folder, the
 * state directory or /etc. Inside a sandbox it leads nowhere (its target is not mounted), but the
 * gateway works on those folders from outside (it resolves, makes, chowns and binds them at each
 * launch), where a link would be followed (walk F10). Here, the gateway resolves a path without
 * following any link that lies in such a folder, and opens what it binds without following links,
 * checking that the kernel names it by the very path it checked.
 */
import { closeSync, constants, fchownSync, fstatSync, lstatSync, openSync, readlinkSync, type Stats } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import type { StdioServerConfig } from '../config/schema.ts';
import { inside, real } from '../util/paths.ts';

type SandboxConfig = NonNullable<StdioServerConfig['sandbox']>;

/** Open a path itself, not what it names (Linux x86_64 and arm64, the only ones a sandbox runs on). */
const O_PATH = 0o10000000;

/** A path that goes through a symbolic link where a sandboxed server could have put it; `link` is that link. */
export class PlantedLink extends Error {
  readonly path: string;
  readonly link: string;

  constructor(path: string, link: string, how: string) {
    super(
      `sandbox path \`${path}\` ${how} a symbolic link (\`${link}\`) in a folder that sandboxed servers write: refused, never followed; remove the link`,
    );
    this.path = path;
    this.link = link;
  }
}

function lstatOf(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

/**
 * The folders that sandboxed servers may write, resolved: each `paths.write` without `{tenant}`, and
 * for one with `{tenant}` the folder that holds every tenant's folder (a link there, as a tenant's
 * folder, was not the operator's to make either).
 */
export function writableFolders(sandboxes: ReadonlyArray<SandboxConfig | undefined>): string[] {
  const found = new Set<string>();
  for (const sb of sandboxes)
    for (const p of sb?.paths?.write ?? []) {
      const at = p.indexOf('{tenant}');
      found.add(at < 0 ? real(p) : real(dirname(p.slice(0, at + '{tenant}'.length))));
    }
  return [...found];
}

/**
 * `path` resolved as realpath would, except that a symbolic link lying in one of `grounds` (folders
 * sandboxed servers write) is refused, not followed. Links elsewhere (the operator's) are followed.
 * What does not exist yet is returned as written below its deepest existing folder: it is made at
 * launch, one folder at a time, without following links.
 */
export function resolveUnplanted(path: string, grounds: readonly string[]): string {
  const segments = resolve(path).split(sep).filter(Boolean);
  let at: string = sep;
  for (let i = 0; i < segments.length; i++) {
    const next = join(at, segments[i]);
    const st = lstatOf(next);
    if (!st) return join(next, ...segments.slice(i + 1));
    if (!st.isSymbolicLink()) at = next;
    else if (grounds.some((g) => inside(at, g)))
      throw new PlantedLink(path, next, next === resolve(path) ? 'is' : 'goes through');
    else at = real(next);
  }
  return at;
}

/**
 * A descriptor of `path` itself, opened without following links (O_PATH, O_NOFOLLOW), for bubblewrap
 * to bind (`--bind-fd`: it binds what the descriptor names, and stops if a link swapped in since
 * makes it mount something else). Refused when `path` is now a link, or when the kernel names what
 * was opened by another path: a folder above it was swapped for a link after it was checked.
 */
export function openUnfollowed(path: string, flags = O_PATH): number {
  const fd = openSync(path, flags | constants.O_NOFOLLOW);
  try {
    if (fstatSync(fd).isSymbolicLink()) throw new PlantedLink(path, path, 'became');
    const now = readlinkSync(`/proc/self/fd/${fd}`);
    if (now !== path) throw new PlantedLink(path, firstDifference(path, now), 'changed, while it was checked, through');
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Gives the folder just made at `path` to `uid`:`gid`, only if it is still that folder: opened without
 * following links, named by the kernel by that very path (a folder above swapped for a link, which
 * mkdir would have followed, is refused), and changed through its descriptor.
 */
export function chownUnfollowed(path: string, uid: number, gid: number): void {
  const fd = openUnfollowed(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fchownSync(fd, uid, gid);
  } finally {
    closeSync(fd);
  }
}

/** The shallowest folder of `path` that `now` does not share: where a link was swapped in. */
function firstDifference(path: string, now: string): string {
  const a = path.split(sep);
  const b = now.split(sep);
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return a.slice(0, i + 1).join(sep) || sep;
}
