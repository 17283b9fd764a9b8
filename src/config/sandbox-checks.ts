/**
 * What the config's checks (src/config/semantic-checks.ts) say of sandboxes' egress allowlists: an
 * entry the egress proxy could only ever refuse (src/sandbox/egress.ts) is a mistake, or an attempt,
 * to report at its line when the file is read, by the proxy's own readings: the gateway's own
 * listener (../util/own-listener.ts) and a cloud metadata address, in any spelling. Entries are read
 * by the proxy's parser (../util/allow-entry.ts), which takes `localhost.` as `localhost`, as the
 * proxy does what a server asks for.
 */
import { resolve } from 'node:path';
import { isObj, type Context, type Obj } from './issues.ts';
import { formatPath } from '../util/yaml-positions.ts';
import { ALLOW_ENTRY_FORM, ALLOW_ENTRY_PATTERN, parseAllow, type AllowEntry } from '../util/allow-entry.ts';
import { backingServices, canonicalIp, namesGateway, type Listening } from '../util/own-listener.ts';
import { refusedAddress } from '../util/address-kind.ts';
import { embeddedIpv4, type EmbeddingForm } from '../util/embedded-ipv4.ts';
import { keptIn, real } from '../util/paths.ts';

export function sandboxChecks(raw: Obj, ctx: Context, dirs: { stateDir: string; configDir: string }): void {
  pathChecks(raw, ctx, dirs);
  const gateway = isObj(raw.gateway) ? raw.gateway : {};
  const listen = isObj(gateway.listen) ? gateway.listen : {};
  const own: Listening | undefined =
    typeof listen.host === 'string' && typeof listen.port === 'number'
      ? { address: listen.host, port: listen.port }
      : undefined;
  const storage = isObj(raw.storage) ? raw.storage : {};
  const limits = isObj(raw.limits) ? raw.limits : {};
  const services = backingServices({
    postgres: storage.driver === 'postgres' ? storage.postgresUrl : undefined,
    redis: isObj(limits.redis) ? limits.redis.url : undefined,
  });
  const servers: unknown[] = Array.isArray(raw.servers) ? raw.servers : [];
  for (const [i, server] of servers.entries()) {
    const sandbox = isObj(server) && isObj(server.sandbox) ? server.sandbox : {};
    const allow = isObj(sandbox.network) && Array.isArray(sandbox.network.allow) ? sandbox.network.allow : [];
    const allowLoopback = isObj(sandbox.network) && sandbox.network.allowLoopback === true;
    for (const [j, entry] of allow.entries()) {
      const path = ['servers', i, 'sandbox', 'network', 'allow', j];
      if (typeof entry !== 'string' || ctx.unset.has(formatPath(path))) continue;
      let e: AllowEntry;
      try {
        e = parseAllow(entry);
      } catch {
        // The schema reports what does not have the form; a port out of range is said here.
        if (new RegExp(ALLOW_ENTRY_PATTERN).test(entry)) ctx.add(path, ALLOW_ENTRY_FORM);
        continue;
      }
      // The value is not echoed: it may have come from the environment.
      const why = entryProblem(e, own) ?? localProblem(e, services, allowLoopback);
      if (why) ctx.add(path, why);
    }
  }
}

const FORM_NAMES: Record<EmbeddingForm, string> = {
  mapped: 'IPv4-mapped, ::ffff:0:0/96',
  siit: 'SIIT, ::ffff:0:0:0/96',
  compatible: 'IPv4-compatible, ::/96',
  nat64: 'NAT64, 64:ff9b::/96',
  'nat64-local': 'local NAT64, 64:ff9b:1::/48',
  '6to4': '6to4, 2002::/16',
  teredo: 'Teredo, 2001::/32',
};

/** Why the proxy would refuse every connection this entry allows, or undefined. */
function entryProblem(e: AllowEntry, own: Listening | undefined): string | undefined {
  if (own && namesGateway(e.host, e.port, own))
    return "names the gateway's own listener (`gateway.listen`): the egress proxy never connects a sandboxed server to the gateway, whose callers from this machine hold the admin API until identity is configured";
  const ip = canonicalIp(e.host);
  if (ip && refusedAddress(ip) === 'metadata address')
    return "is a cloud metadata address, which the egress proxy never connects to (it hands out the host's cloud credentials)";
  const why = refusedAddress(e.host);
  const embedded = why && embeddedIpv4(e.host);
  if (embedded)
    return `is an IPv6 address that carries an IPv4 one (${FORM_NAMES[embedded.form]}), a ${why} on a network that translates it, which the egress proxy refuses in this form: allow the IPv4 address itself if it is meant`;
  return undefined;
}

/**
 * Why an entry is refused for what it reaches on this side: the gateway's own database or Redis
 * (never, `allowLoopback` or not), or this machine named literally (loopback, the unspecified
 * address), which reaches whatever listens on that port here (another gateway, a database, an admin
 * port), so it needs `allowLoopback`.
 */
function localProblem(e: AllowEntry, services: ReturnType<typeof backingServices>, allowLoopback: boolean) {
  const own = services.find((s) => namesGateway(e.host, e.port, s));
  if (own)
    return `names the gateway's own ${own.what}, which a local caller may reach without a password: the egress proxy never connects a sandboxed server to it, \`allowLoopback\` or not`;
  const ip = canonicalIp(e.host);
  if (!ip || (refusedAddress(ip) !== 'loopback address' && ip !== '0.0.0.0' && ip !== '::')) return undefined;
  if (!allowLoopback)
    return 'names this machine (a loopback address): it reaches whatever listens on that port here, another gateway, a database or an admin port; set `allowLoopback: true` beside `allow` if that is meant';
  return undefined;
}

/**
 * A sandboxed server's declared paths, and its own cwd, in the state directory: the launch refuses
 * them (src/util/paths.ts keptIn, asked at launch by src/sandbox/server-view.ts), every time, so they are refused here, by the same check,
 * at their line. `{tenant}` stands for any tenant's folder. Whether the sandbox user can reach a path
 * depends on the host, not on the file: `gatehouse check` says so (item 6.4).
 */
function pathChecks(raw: Obj, ctx: Context, dirs: { stateDir: string; configDir: string }): void {
  const stateDir = real(dirs.stateDir);
  const servers: unknown[] = Array.isArray(raw.servers) ? raw.servers : [];
  for (const [i, server] of servers.entries()) {
    if (!isObj(server) || !isObj(server.sandbox)) continue;
    const paths = isObj(server.sandbox.paths) ? server.sandbox.paths : {};
    const declared: Array<[Array<string | number>, unknown]> = [];
    for (const kind of ['read', 'write'])
      for (const [j, p] of (Array.isArray(paths[kind]) ? paths[kind] : []).entries())
        declared.push([['servers', i, 'sandbox', 'paths', kind, j], p]);
    if (typeof server.cwd === 'string') declared.push([['servers', i, 'cwd'], resolve(dirs.configDir, server.cwd)]);
    for (const [path, p] of declared) {
      if (typeof p !== 'string' || !p.startsWith('/') || ctx.unset.has(formatPath(path))) continue;
      const why = keptIn(real(p.replaceAll('{tenant}', 'tenant')), stateDir);
      if (why) ctx.add(path, why);
    }
  }
}
