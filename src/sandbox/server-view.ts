/**
 * What a sandboxed server runs and sees: its folder, environment and command, the `{tenant}` of its
 * paths and arguments, and the paths shown to it (read-only or writable), with the veils over the
 * folders of other tenants. Refuses a declared path in what the gateway keeps.
 */
import { existsSync, lstatSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import type { StdioServerConfig } from '../config/schema.ts';
import { isSafePlaceholderValue } from '../util/placeholder-value.ts';
import type { GatewayFile } from './gateway-files.ts';
import { findExecutable, inside, keptIn, real, statOf } from '../util/paths.ts';
import { chownUnfollowed, resolveUnplanted, writableFolders } from './data-paths.ts';

/** The environment of a server: the inherited allowlist and its configured variables, nothing else. */
export function stdioEnv(cfg: StdioServerConfig): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of cfg.inheritEnv ?? []) {
    const value = process.env[k];
    if (value !== undefined) env[k] = value;
  }
  return { ...env, ...(cfg.env ?? {}) };
}

/** Under the system directories every sandbox shows anyway. */
function system(p: string): boolean {
  return ['/usr', '/bin', '/sbin', '/lib', '/lib64', '/etc'].some((d) => inside(real(p), d));
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

export type SandboxConfig = NonNullable<StdioServerConfig['sandbox']>;

/**
 * `{tenant}` in a sandboxed server's args and paths: the tenant of the connection, so that each
 * tenant's sandbox gets a folder of its own. The name must be one a reference may take (letters,
 * digits, `_ . @ + -`, no `..`: util/placeholder-value.ts), and not `.`: it becomes a path segment.
 */
export function perTenant(text: string, tenant: string): string {
  if (!text.includes('{tenant}')) return text;
  if (tenant === '.' || !isSafePlaceholderValue(tenant))
    throw new Error(
      'the tenant name cannot stand in `{tenant}` of a sandbox path or argument (allowed: letters, digits, _ . @ + -, no `..`)',
    );
  return text.replaceAll('{tenant}', tenant);
}

/** The server's folder (undefined when it must not be shown), environment and command. */
export function serverProgram(
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
export function visiblePaths(
  cfg: StdioServerConfig,
  sb: SandboxConfig,
  o: {
    command: string;
    args: string[];
    cwd: string | undefined;
    stateDir: string;
    hidden: GatewayFile[];
    tenant: string;
    /** Folders other servers' sandboxes write (this one's are added): no link in them is followed. */
    grounds?: readonly string[];
  },
): { ro: Set<string>; rw: Set<string>; veils: Set<string> } {
  const { command, cwd, stateDir } = o;
  // A link a sandboxed server put in a folder it writes is refused, never followed (walk F10).
  const grounds = [...writableFolders([sb]), ...(o.grounds ?? [])];
  const resolved = (p: string) => resolveUnplanted(perTenant(p, o.tenant), grounds);
  const read = (sb.paths?.read ?? []).map(resolved);
  const write = (sb.paths?.write ?? []).map(resolved);
  const ro = new Set<string>();
  const rw = new Set<string>(write);
  const nodePrefix = dirname(dirname(real(process.execPath)));
  if (!inside(nodePrefix, '/usr')) ro.add(nodePrefix);
  for (const f of [command, real(command)]) if (!system(f)) ro.add(packageRoot(f));
  for (const f of programFiles(o.args, cwd, grounds)) ro.add(packageRoot(f));
  if (cwd) ro.add(cwd);
  for (const p of read) ro.add(p);
  // A declared folder (or its own cwd) in what the gateway keeps would be hidden under its mask, or
  // would show it: refused, with the reason.
  const declared = [...read, ...write, ...(cfg.cwd && cwd ? [cwd] : [])];
  for (const p of declared) {
    const kept = keptIn(p, stateDir, o.hidden);
    if (kept) throw new Error(`server \`${cfg.name}\`: sandbox path \`${p}\` ${kept}`);
  }
  for (const p of rw) ro.delete(p);
  // The folder that holds every tenant's `{tenant}` folder: where a shown folder shows it (that
  // folder itself, or one above it), an empty one stands in for it, so that only this tenant's own is
  // seen there (they all run as one user). Shown as itself it was once left alone, and showed every
  // tenant's folder (walk Q): a folder declared whole, a server's folder, or a script's folder without
  // a package manifest.
  const veils = new Set<string>();
  const own = new Set<string>();
  for (const p of [...(sb.paths?.read ?? []), ...(sb.paths?.write ?? [])]) {
    const at = p.indexOf('{tenant}');
    if (at < 0) continue;
    const root = real(dirname(p.slice(0, at + '{tenant}'.length)));
    own.add(resolved(p.slice(0, at + '{tenant}'.length)));
    if ([...ro, ...rw].some((s) => inside(root, s))) veils.add(root);
  }
  // What the server runs from must not lie under a veil (it would be hidden, and the server would not
  // start for a reason no one could see): refused, saying why.
  const runs = [command, real(command), ...programFiles(o.args, cwd, grounds), ...(cwd ? [cwd] : [])];
  for (const v of veils)
    for (const p of runs)
      if (inside(p, v) && ![...own].some((d) => inside(p, d)))
        throw new Error(
          `server \`${cfg.name}\`: \`${p}\` is in \`${v}\`, which holds every tenant's \`{tenant}\` folder and is shown to each tenant as its own folder only: keep the server's program and folder outside it`,
        );
  return { ro, rw, veils };
}

/**
 * The files a server's arguments name (a script, a module): absolute, or relative to its folder;
 * resolved without following a link in a folder that sandboxes write (`grounds`).
 */
function programFiles(args: string[], cwd: string | undefined, grounds: readonly string[]): string[] {
  const files: string[] = [];
  for (const a of args) {
    if (a.startsWith('-') || !(isAbsolute(a) || a.startsWith('.'))) continue;
    const p = resolveUnplanted(resolve(cwd ?? process.cwd(), a), grounds);
    if (statOf(p)?.isFile() && !system(p)) files.push(p);
  }
  return files;
}

function absent(p: string): boolean {
  try {
    lstatSync(p);
    return false;
  } catch {
    return true;
  }
}

/**
 * A writable folder that does not exist yet is made for the server's user, one folder at a time
 * (mkdir never follows a link in the place of the folder it makes), and given to that user only if
 * the kernel names the folder opened by the path made (a folder above swapped for a link is refused).
 */
export function makeWritableFolders(rw: Set<string>, uid: number, gid: number): void {
  for (const p of rw) {
    if (!absent(p)) continue;
    const missing: string[] = [];
    for (let d = p; absent(d); d = dirname(d)) missing.unshift(d);
    // Parents the sandbox user can enter; the folder itself its own.
    for (const d of missing) mkdirSync(d, { mode: d === p ? 0o700 : 0o755 });
    if (process.getuid?.() === 0) chownUnfollowed(p, uid, gid);
  }
}
