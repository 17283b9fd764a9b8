/**
 * Readiness item 6.4 (tools run sandboxed with restricted egress), as `gatehouse check` and the
 * admin API report it: what this host and configuration show (bubblewrap present; which sandbox
 * users could read the state directory, or a database kept outside it), and the verdict with the fix
 * that helps. Reads the file system; decides nothing about a server's start (sandbox.ts does).
 */
import type { StdioServerConfig } from '../config/schema.ts';
import { existsSync } from 'node:fs';
import { bindProblem } from './bwrap.ts';
import { findExecutable, inside, permissionBits, real, statOf } from '../util/paths.ts';
import { sandboxUser } from './sandbox.ts';
import { perTenant, serverProgram, visiblePaths } from './server-view.ts';

/** What `gatehouse check` needs to know of this host for item 6.4. */
export interface SandboxFacts {
  bwrap: boolean;
  /**
   * Sandbox users (uid) that can read or enter the state directory, or a SQLite database kept
   * outside it (`path`), with why; `shared`: the servers run as the gateway's own user (it is not
   * root), so no file mode can keep them out.
   */
  stateDirExposed: Array<{ uid: number; why: string; path?: string; shared?: boolean }>;
  /**
   * Declared sandbox paths (`sandbox.paths`) the server's sandbox user could not be shown, by the
   * launch's own check (bwrap.ts bindProblem): a server that names one never starts.
   */
  unshowable?: Array<{ server: string; path: string; why: string }>;
  /**
   * Sandboxed servers whose launch would be refused for what it would show, by the launch's own
   * reading (server-view.ts visiblePaths, for a tenant named `tenant`): e.g. its program in the
   * folder that holds every tenant's `{tenant}` folder.
   */
  refused?: Array<{ server: string; why: string }>;
}

/** The declared paths of sandboxed servers that a launch would refuse (a `{tenant}` path depends on the tenant: not judged). */
function unshowablePaths(servers: StdioServerConfig[]): NonNullable<SandboxFacts['unshowable']> {
  const found: NonNullable<SandboxFacts['unshowable']> = [];
  for (const s of servers) {
    if (!s.sandbox) continue;
    const { uid, gid } = sandboxUser(s);
    const declared = [
      ...(s.sandbox.paths?.read ?? []).map((p) => [p, false] as const),
      ...(s.sandbox.paths?.write ?? []).map((p) => [p, true] as const),
    ];
    for (const [p, write] of declared) {
      if (p.includes('{tenant}')) continue;
      const path = real(p);
      if (write && !existsSync(path)) continue; // made for the server at launch
      const why = bindProblem(path, uid, gid, write);
      if (why) found.push({ server: s.name, path, why });
    }
  }
  return found;
}

/** Whether `uid`/`gid` may read or enter `path` by its mode bits (root may always). */
function reachable(path: string, uid: number, gid: number): string | undefined {
  const st = statOf(path);
  if (!st) return undefined;
  if (uid === 0) return 'the servers run as root';
  const bits = permissionBits(st, uid, gid) & 5;
  if (!bits) return undefined;
  return st.uid === uid ? `uid ${uid} owns it` : `mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}`;
}

/** `database`: a SQLite file kept outside the state directory (its own mode then guards it). */
export function sandboxFacts(servers: StdioServerConfig[], stateDir: string, database?: string): SandboxFacts {
  const users = new Map<number, number>();
  for (const s of servers)
    if (s.sandbox) {
      const u = sandboxUser(s);
      users.set(u.uid, u.gid);
    }
  const stateDirExposed: SandboxFacts['stateDirExposed'] = [];
  const outside = database && !inside(real(database), real(stateDir)) ? database : undefined;
  for (const [uid, gid] of users) {
    const shared = uid !== 0 && uid === process.getuid?.() ? { shared: true } : {};
    const why = reachable(stateDir, uid, gid);
    if (why) stateDirExposed.push({ uid, why, ...shared });
    const dbWhy = outside ? reachable(outside, uid, gid) : undefined;
    if (outside && dbWhy) stateDirExposed.push({ uid, why: dbWhy, path: outside, ...shared });
  }
  return {
    bwrap: !!findExecutable('bwrap'),
    stateDirExposed,
    unshowable: unshowablePaths(servers),
    refused: refusedLaunches(servers, stateDir),
  };
}

/**
 * What the launch of each sandboxed server with `{tenant}` paths would refuse, read as it reads it
 * (for a tenant named `tenant`): its program in the folder of every tenant's folder, a path in the
 * state directory.
 */
function refusedLaunches(servers: StdioServerConfig[], stateDir: string): NonNullable<SandboxFacts['refused']> {
  const found: NonNullable<SandboxFacts['refused']> = [];
  for (const s of servers) {
    const paths = [...(s.sandbox?.paths?.read ?? []), ...(s.sandbox?.paths?.write ?? [])];
    if (!s.sandbox || !paths.some((p) => p.includes('{tenant}'))) continue;
    let program: ReturnType<typeof serverProgram>;
    try {
      program = serverProgram(s, stateDir);
    } catch {
      continue; // a command this machine does not have: its start says so, not judged here
    }
    try {
      const args = (s.args ?? []).map((a) => perTenant(a, 'tenant'));
      visiblePaths(s, s.sandbox, { ...program, args, stateDir, hidden: [], tenant: 'tenant' });
    } catch (err) {
      found.push({ server: s.name, why: (err as Error).message });
    }
  }
  return found;
}

/** Why a sandbox user can read the state directory (or a database kept outside it), and the fix that helps. */
function exposure(e: SandboxFacts['stateDirExposed'][number], stateDir: string): [string, string] {
  const what = e.path ? `the database \`${e.path}\` (outside the state directory)` : 'the state directory';
  const why = `${what} is readable by uid ${e.uid}, which runs sandboxed servers (${e.why})`;
  const inState = e.path
    ? '; keep the database in the state directory (a `storage.sqlitePath` without `..` or a leading `/`), which no sandbox ever shows'
    : '';
  // The servers share the gateway's user: a mode cannot keep a file from its owner, so chmod is no fix.
  if (e.shared)
    return [
      `${why}: the gateway does not run as root, so its servers run as its own user`,
      `run the gateway as root, so that servers run as a user of their own (65534, or \`sandbox.user\`): a file mode cannot keep a server from files of its own user, only the sandbox's masks do${inState}`,
    ];
  const chmod = e.path ? `\`chmod 600 ${e.path}\`` : `\`chmod 700 ${stateDir}\``;
  return [
    why,
    `${chmod}, owned by the gateway's user; run the gateway as root so servers run as a user of their own (65534, or \`sandbox.user\`)${inState}`,
  ];
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
  for (const e of facts.stateDirExposed) fails.push(exposure(e, stateDir));
  for (const u of facts.unshowable ?? [])
    fails.push([
      `server \`${u.server}\`: sandbox path \`${u.path}\` ${u.why.replace(/: give that user access.*$/, '')}: the server cannot start`,
      `give the sandbox user access to \`${u.path}\`, or take it out of \`servers[].sandbox.paths\` of \`${u.server}\``,
    ]);
  for (const r of facts.refused ?? [])
    fails.push([
      `${r.why.replace(/: [^:`]*$/, '')}: the server cannot start`,
      `${r.why.replace(/^.*: /, '')} (docs/sandbox.md)`,
    ]);
  if (fails.length)
    return { status: 'fail', why: fails.map((f) => f[0]).join('; '), fix: fails.map((f) => f[1]).join('; ') };
  const host = stdio.filter((s) => s.sandbox?.network === 'host');
  if (host.length)
    return {
      status: 'warn',
      // The proxy keeps an allowlisted server off the gateway's listener; the host's network does not.
      why: `sandboxed, but with the host's network (unrestricted egress, the gateway's own listener included): ${names(host)}`,
      fix: "use `network: none`, or `network: { allow: [host:port, ...] }` through the gateway's egress proxy (which never connects to the gateway itself); with the host's network, configure identity, so that a caller from this machine is not the admin",
    };
  const allow = stdio.filter((s) => typeof s.sandbox?.network === 'object');
  return {
    status: 'pass',
    why: `every stdio server runs in bubblewrap (read-only view, private /tmp, own PID namespace, seccomp, limits); egress: ${allow.length ? `an allowlist for ${names(allow)}, none for the rest` : 'none'}`,
    fix: '',
  };
}
