/**
 * The gateway's own addresses, checked for their form at load (the schema says only "a string"): the
 * host it listens on, the proxies it trusts, the browser origins and the Host headers it allows. Each is compared or
 * resolved later (a bind, the peer of a connection, an Origin header) where a mistake no longer says
 * which key it came from: a host that cannot be bound fails the start, and a proxy or an origin that
 * can never match is silently nobody. Messages never echo the value (one may be a secret pasted in
 * the wrong place); they say what the value should look like.
 */
import { isIpAddress } from '../util/address.ts';
import { formatPath } from '../util/yaml-positions.ts';
import { isObj, type Context, type Obj } from './issues.ts';

export function addressChecks(gateway: Obj, ctx: Context): void {
  const listen = isObj(gateway.listen) ? gateway.listen : {};
  if (typeof listen.host === 'string' && !ctx.unset.has('gateway.listen.host')) {
    const why = hostProblem(listen.host);
    if (why) ctx.add(['gateway', 'listen', 'host'], why);
  }
  eachEntry(gateway, 'trustedProxies', proxyProblem, ctx);
  eachEntry(gateway, 'allowedOrigins', originProblem, ctx);
  eachEntry(gateway, 'allowedHosts', allowedHostProblem, ctx);
}

/** Each string entry of the list `gateway.<key>`, checked by `problem` and reported at its line. */
function eachEntry(gateway: Obj, key: string, problem: (entry: string) => string | undefined, ctx: Context): void {
  const list: unknown[] = Array.isArray(gateway[key]) ? gateway[key] : [];
  for (const [i, entry] of list.entries()) {
    const path = ['gateway', key, i];
    if (typeof entry !== 'string' || ctx.unset.has(formatPath(path))) continue;
    const why = problem(entry);
    if (why) ctx.add(path, why);
  }
}

/** RFC 1123 labels: letters, digits and `-`, not at either end, 1 to 63 characters each. */
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/** What is wrong with a host to listen on (an IP address or a host name), or undefined. */
function hostProblem(host: string): string | undefined {
  if (/^\[.*\]$/.test(host)) return 'write an IPv6 address without its brackets (`::1`, `::`)';
  if (isIpAddress(host)) return undefined;
  const name = host.replace(/\.$/, '');
  const labels = name.split('.');
  // `10.0.0.300` is no address, and a name whose last label is a number is read as one.
  const numeric = /^\d+$/.test(labels.at(-1) ?? '');
  if (name.length > 253 || numeric || !labels.every((l) => LABEL.test(l)))
    return 'must be an IP address (`0.0.0.0`, `::`) or a host name (letters, digits and `-` in dot-separated labels)';
  return undefined;
}

/**
 * What is wrong with a trusted proxy's entry, or undefined. A peer is compared with each entry as one
 * address (../util/address.ts), by every reader of the list: a range would match no peer.
 */
function proxyProblem(entry: string): string | undefined {
  if (isIpAddress(entry)) return undefined;
  if (entry.includes('/'))
    return "a range is not matched (a proxy is listed by its address): list each proxy's IPv4 or IPv6 address";
  return "must be a proxy's IPv4 or IPv6 address (`10.0.0.10`, `2001:db8::10`)";
}

const ORIGIN = 'an origin is `scheme://host[:port]`, as browsers send it in `Origin`';

/**
 * What is wrong with an allowed origin, or undefined. The listener compares the Origin header with
 * each entry exactly, a trailing `/` aside (src/listeners/guards.ts), and a browser sends an origin
 * serialised: lowercase, without a default port, without a path.
 */
function originProblem(entry: string): string | undefined {
  const text = entry.replace(/\/+$/, '');
  if (text === '*') return `a wildcard is not matched: list each origin (${ORIGIN})`;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text);
  if (!scheme || !URL.canParse(text)) return `must be an origin with its scheme (\`https://host[:port]\`): ${ORIGIN}`;
  const url = new URL(text);
  if (url.username || url.password) return `must not carry a user name or password: ${ORIGIN}`;
  if (/^[^/?#]*:\/\/[^/?#]*[/?#]/.test(text)) return `must not have a path, query or fragment: ${ORIGIN}`;
  const web = url.protocol === 'http:' || url.protocol === 'https:';
  if (web && text !== url.origin)
    return `would never match: browsers send an origin lowercase and without its scheme's default port (${ORIGIN})`;
  return undefined;
}

const HOST_HEADER =
  'an allowed host is `host[:port]` as clients send it in `Host` (`mcp.example.com`, `mcp.example.com:8443`, `[2001:db8::1]:8765`)';

/**
 * What is wrong with an allowed Host header value, or undefined. The listener compares the Host
 * header with each entry exactly, in lower case (src/listeners/guards.ts checkHost): a scheme, a
 * path or user info is never in a Host header, so such an entry matches nobody.
 */
function allowedHostProblem(entry: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(entry)) return `must not have a scheme: ${HOST_HEADER}`;
  if (/[/?#@\s]/.test(entry)) return `must not have a path, user info or spaces: ${HOST_HEADER}`;
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(entry);
  if (!m) return `write an IPv6 address in brackets: ${HOST_HEADER}`;
  const [, host, port] = m;
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535))
    return `the port must be 1 to 65535: ${HOST_HEADER}`;
  const v6 = host.startsWith('[') && isIpAddress(host.slice(1, -1));
  if (!v6 && (host.startsWith('[') || hostProblem(host))) return `must be a host name or an IP address: ${HOST_HEADER}`;
  return undefined;
}
