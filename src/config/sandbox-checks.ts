/**
 * What the config's checks (src/config/semantic-checks.ts) say of sandboxes: no egress allowlist
 * entry names the gateway's own listener. The proxy refuses such a connection anyway
 * (src/sandbox/egress.ts, ../util/own-listener.ts); an entry that could only ever be refused is a mistake, or an attempt, to
 * report at its line when the file is read.
 */
import { isObj, type Context, type Obj } from './issues.ts';
import { formatPath } from '../util/yaml-positions.ts';
import { parseAllow } from '../util/allow-entry.ts';
import { namesGateway, type Listening } from '../util/own-listener.ts';

export function sandboxChecks(raw: Obj, ctx: Context): void {
  const gateway = isObj(raw.gateway) ? raw.gateway : {};
  const listen = isObj(gateway.listen) ? gateway.listen : {};
  if (typeof listen.host !== 'string' || typeof listen.port !== 'number') return;
  const own: Listening = { address: listen.host, port: listen.port };
  const servers: unknown[] = Array.isArray(raw.servers) ? raw.servers : [];
  for (const [i, server] of servers.entries()) {
    const sandbox = isObj(server) && isObj(server.sandbox) ? server.sandbox : {};
    const allow = isObj(sandbox.network) && Array.isArray(sandbox.network.allow) ? sandbox.network.allow : [];
    for (const [j, entry] of allow.entries()) {
      const path = ['servers', i, 'sandbox', 'network', 'allow', j];
      if (typeof entry !== 'string' || ctx.unset.has(formatPath(path))) continue;
      let e: ReturnType<typeof parseAllow>;
      try {
        e = parseAllow(entry);
      } catch {
        continue; // the schema reports it
      }
      // The value is not echoed: it may have come from the environment.
      if (namesGateway(e.host, e.port, own))
        ctx.add(
          path,
          "names the gateway's own listener (`gateway.listen`): the egress proxy never connects a sandboxed server to the gateway, whose callers from this machine hold the admin API until identity is configured",
        );
    }
  }
}
