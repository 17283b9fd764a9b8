/**
 * What runs, where, and with whose credentials (./weakening.ts): each server of the new config is
 * judged against its previous self (the server of that name, else the one with the same command or
 * URL: a rename is not a new server) and, when it has none, against the secure default (a stdio
 * server runs sandboxed when the running config sandboxes any). So a sandbox dropped by a rename, or
 * by removing the server and adding it back, is refused like one removed in place.
 */
import type { Config, ServerConfig } from './schema.ts';
import { type Weakening, added, refuse, warn } from './weakening-kinds.ts';

type Sandbox = NonNullable<Extract<ServerConfig, { transport: 'stdio' }>['sandbox']>;
const TENANT = '{tenant}';

/** The server `now` was in the running config, if any. */
function previous(running: Config, now: ServerConfig): ServerConfig | undefined {
  const same = (s: ServerConfig) =>
    s.transport === 'stdio' && now.transport === 'stdio'
      ? s.command === now.command && JSON.stringify(s.args ?? []) === JSON.stringify(now.args ?? [])
      : s.transport === 'http' && now.transport === 'http' && s.url === now.url;
  return running.servers.find((s) => s.name === now.name) ?? running.servers.find(same);
}

export function serverWeakenings(running: Config, next: Config): Weakening[] {
  const found: Weakening[] = [];
  const anySandboxed = running.servers.some((s) => s.transport === 'stdio' && s.sandbox);
  for (const now of next.servers) {
    const was = previous(running, now);
    const name = was && was.name !== now.name ? `${now.name} (was ${was.name})` : now.name;
    found.push(...credentialWeakenings(name, was, now));
    if (was?.transport === 'stdio' && was.sandbox) {
      if (now.transport !== 'stdio')
        found.push(refuse('sandbox', `server ${name}: sandboxed stdio -> http: it no longer runs in a sandbox`));
      else if (!now.sandbox) found.push(refuse('sandbox', `server ${name}: sandbox removed: it would run unsandboxed`));
      else found.push(...sandboxLoosened(name, was.sandbox, now.sandbox));
    } else if (!was && now.transport === 'stdio' && !now.sandbox) {
      if (anySandboxed)
        found.push(
          refuse('sandbox', `server ${name} added without a sandbox, where the running servers are sandboxed`),
        );
      else found.push(warn('sandbox', `server ${name} added without a sandbox`));
    } else if (was && was.transport !== now.transport)
      found.push(warn('servers', `server ${name}: transport ${was.transport} -> ${now.transport}`));
    // Any url change is named by the default (weakening-unreviewed.ts); another host with credentials is refused.
    const sends = Object.keys(now.credentials?.headers ?? {}).length > 0;
    if (was?.transport === 'http' && now.transport === 'http' && sends && host(was.url) !== host(now.url))
      found.push(refuse('credentials', `server ${name}: url moved to another host, its credential headers sent there`));
  }
  return found;
}

const host = (url: string) => {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
};

/** The secret references a server's credentials name, by `env.NAME` / `headers.NAME`. */
function refs(s: ServerConfig | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(s?.credentials?.env ?? {})) out.set(`env.${k}`, v);
  for (const [k, v] of Object.entries(s?.credentials?.headers ?? {}))
    out.set(`headers.${k}`, typeof v === 'string' ? v : v.ref);
  return out;
}

/**
 * A reference that loses `{tenant}` is one secret for every tenant: each runs with the same
 * credential (a shared god token), refused. Another secret named, scoping kept: warned.
 */
function credentialWeakenings(name: string, was: ServerConfig | undefined, now: ServerConfig): Weakening[] {
  if (!was) return [];
  const [before, after] = [refs(was), refs(now)];
  const scoped = [...before.values()].some((r) => r.includes(TENANT));
  const found: Weakening[] = [];
  for (const [key, ref] of after) {
    const old = before.get(key);
    if (ref.includes(TENANT) || !(old?.includes(TENANT) || (old === undefined && scoped))) {
      if (old !== undefined && old !== ref)
        found.push(warn('credentials', `server ${name}: credentials.${key} names another secret`));
      else if (old === undefined) found.push(warn('credentials', `server ${name}: credentials.${key} added`));
      continue;
    }
    found.push(
      refuse(
        'credentials',
        `server ${name}: credentials.${key} no longer names {tenant}: every tenant would use the same secret`,
      ),
    );
  }
  return found;
}

function sandboxLoosened(name: string, was: Sandbox, now: Sandbox): Weakening[] {
  const found: Weakening[] = [];
  const net = (s: Sandbox) => s.network ?? 'none';
  const [a, b] = [net(was), net(now)];
  if (b === 'host' && a !== 'host')
    found.push(refuse('sandbox', `server ${name}: sandbox.network -> host: unrestricted network`));
  if (typeof b === 'object') {
    const before = typeof a === 'object' ? a.allow : [];
    if (added(before, b.allow).length) found.push(warn('sandbox', `server ${name}: sandbox.network.allow widened`));
    if (b.allowLoopback && !(typeof a === 'object' && a.allowLoopback))
      found.push(refuse('sandbox', `server ${name}: sandbox.network.allowLoopback turned on`));
  }
  for (const key of ['read', 'write'] as const) {
    const more = added(was.paths?.[key], now.paths?.[key]);
    const scoped = (was.paths?.[key] ?? []).some((p) => p.includes(TENANT));
    if (more.includes('/'))
      found.push(refuse('sandbox', `server ${name}: sandbox.paths.${key} includes /: the whole host`));
    else if (scoped && more.some((p) => !p.includes(TENANT)))
      found.push(
        refuse(
          'sandbox',
          `server ${name}: sandbox.paths.${key} no longer names {tenant}: tenants would share a folder`,
        ),
      );
    else if (more.length) found.push(warn('sandbox', `server ${name}: sandbox.paths.${key} widened`));
  }
  const rest = (s: Sandbox) => JSON.stringify([s.user, s.secrets, s.limits]);
  if (rest(was) !== rest(now))
    found.push(warn('sandbox', `server ${name}: sandbox settings changed (user, secrets, limits): review them`));
  return found;
}
