/**
 * What a sandbox hides inside the folders it shows: the state directory, the gateway's own files
 * wherever they lie (config, policy, database, exports), the credential files of the gateway's home,
 * and `.env` and credential files at the top of a read-only folder.
 *
 * A mask over a single file holds only while that file stays: a file created later in a shown
 * folder is seen, and one replaced by rename (an editor saving the config, a token rotated) takes
 * the mask with it, since the kernel detaches mounts from a name unlinked in another namespace. So
 * a read-only folder that holds something to hide is shown as a folder of its own (a tmpfs), with
 * the other entries it had at launch bound in, and an empty file in place of each hidden file that
 * was there: whatever is later created or renamed in the real folder is never seen. Folders to hide
 * whole are an empty tmpfs. In a writable folder, what exists is masked file by file (its new files
 * must reach the real folder); docs/architecture/0008-sandbox.md says what that leaves.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, sep } from 'node:path';
import type { GatewayFile } from './gateway-files.ts';
import { inside, permissionBits, real, statOf } from '../util/paths.ts';

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

/**
 * Files that may hold a secret at the top of every directory shown read-only (a project's): `.env`
 * and its variants (`.env.local`, `.env.production`), credential files and a clone's `.git/config`
 * (a remote URL can carry a token).
 */
const TOP_SECRETS = /^\.env(\..+)?$|^\.(npmrc|netrc|pgpass|git-credentials)$/;

/** What to hide in what a sandbox shows. */
export interface Masks {
  /** Folders shown empty (and read-only): the state directory, an export's, the database's spool, `~/.ssh`. */
  dirs: Set<string>;
  /** Files an empty one stands in for, bound over them: in a writable folder only. */
  files: Set<string>;
  /** Read-only folders shown as a folder of their own, without these names: their other entries as at launch. */
  veiled: Map<string, Set<string>>;
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
 * What to hide, for the folders shown (`ro`, `rw`). A directory of the gateway's that does not exist
 * yet (an export's, the database's spool) is made first (0700, as the gateway would), so that it is
 * hidden whole. A hidden file of the gateway's is hidden by name, whether it exists yet or not.
 */
export function secretMasks(
  shownPaths: { ro: Set<string>; rw: Set<string> },
  stateDir: string,
  hidden: GatewayFile[],
  user: { uid: number; gid: number },
): Masks {
  const { ro, rw } = shownPaths;
  const shown = [...ro, ...rw];
  // The deepest shown folder holding `p` says whether it is shown writable.
  const region = (p: string) =>
    shown.filter((s) => inside(p, s)).sort((a, c) => c.length - a.length || (rw.has(a) ? -1 : 1))[0];
  const masks: Masks = { dirs: new Set(), files: new Set(), veiled: new Map() };
  const hide = (p: string, always = false) => {
    const at = region(p);
    if (!at) return;
    const st = lstatOf(p);
    if (st?.isDirectory()) masks.dirs.add(p);
    else if (rw.has(at)) {
      if (st && !st.isSymbolicLink()) masks.files.add(p);
    } else if (st || always) {
      const names = masks.veiled.get(dirname(p)) ?? new Set<string>();
      masks.veiled.set(dirname(p), names.add(basename(p)));
    }
  };
  if (region(stateDir)) masks.dirs.add(stateDir);
  for (const h of hidden) {
    if (!region(h.path) || inside(h.path, stateDir)) continue;
    if (h.dir && !existsSync(h.path)) mkdirSync(h.path, { recursive: true, mode: 0o700 });
    hide(h.path, true);
  }
  const home = real(homedir());
  for (const f of SECRET_FILES) hide(join(home, f));
  for (const s of ro) {
    if (rw.has(s) || !statOf(s)?.isDirectory()) continue;
    for (const f of readdirSync(s)) if (TOP_SECRETS.test(f)) hide(join(s, f));
    if (lstatOf(join(s, '.git'))?.isDirectory()) hide(join(s, '.git', 'config'));
  }
  // One the sandbox user cannot reach needs none (and bubblewrap, running as that user, could not
  // mount it); one under a folder hidden whole is hidden already.
  const needed = (p: string) =>
    enterable(p, user.uid, user.gid) && ![...masks.dirs].some((d) => d !== p && inside(p, d));
  for (const set of [masks.dirs, masks.files]) for (const p of set) if (!needed(p)) set.delete(p);
  for (const d of masks.veiled.keys()) if (!needed(d)) masks.veiled.delete(d);
  return masks;
}
