/**
 * Whether a destination is the gateway itself. The egress proxy's connections leave from this
 * machine, so one to the gateway's own listener arrives from loopback, and a loopback caller is the
 * platform admin until identity is configured: a sandboxed server allowed to reach its gateway would
 * hold the admin API. No allowlist opens that door; this decides, from addresses only (the proxy
 * and the config's checks supply the listeners and the machine's interface addresses).
 */
import { BlockList, isIP } from 'node:net';
import { embeddedIpv4 } from './embedded-ipv4.ts';
import { lazyRequire } from './lazy.ts';

/** An address (or, as configured, a name) and a port the gateway listens on. */
export interface Listening {
  address: string;
  port: number;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
// A connection to the unspecified address goes to this machine (Linux sends it to loopback).
const UNSPECIFIED = new BlockList();
UNSPECIFIED.addSubnet('0.0.0.0', 8, 'ipv4');
UNSPECIFIED.addAddress('::', 'ipv6');

const family = (ip: string) => (isIP(ip) === 6 ? 'ipv6' : 'ipv4');
const loopback = (ip: string) => LOOPBACK.check(ip, family(ip));
const unspecified = (ip: string) => UNSPECIFIED.check(ip, family(ip));

/**
 * One spelling of an IP address, or undefined for a name: IPv4 as a dotted quad (`127.1`,
 * `0x7f000001` and `2130706433` are 127.0.0.1, as the resolver reads them), IPv6 compressed in
 * lower case without its zone, and an IPv6 address that carries an IPv4 one as the IPv4 address it
 * reaches: IPv4-mapped (`::ffff:127.0.0.1`, `::ffff:7f00:1`), SIIT (`::ffff:0:7f00:1`), NAT64
 * (`64:ff9b::7f00:1`), 6to4, Teredo, IPv4-compatible (./embedded-ipv4.ts).
 */
export function canonicalIp(text: string): string | undefined {
  const t = text.replace(/^\[|\]$/g, '');
  let host: string;
  if (t.includes(':')) {
    if (!/^[0-9A-Fa-f:.]+(%[\w.-]+)?$/.test(t)) return undefined;
    host = parsedHost(`[${t.replace(/%.*$/, '')}]`)?.replace(/^\[|\]$/g, '') ?? '';
  } else {
    // Only digits, hex and dots: the URL parser would read `a@127.0.0.1` as a host after user info.
    if (!/^[0-9A-Fa-fXx.]+$/.test(t)) return undefined;
    host = parsedHost(t) ?? '';
  }
  if (!isIP(host)) return undefined;
  const embedded = embeddedIpv4(host);
  return embedded?.ipv4.length === 1 ? embedded.ipv4[0] : host;
}

/** The host as the WHATWG URL parser spells it (the parser every fetch uses), or undefined. */
function parsedHost(host: string): string | undefined {
  try {
    return new URL(`http://${host}/`).hostname;
  } catch {
    return undefined;
  }
}

/** The address a listener's host stands for: its own spelling, loopback for `localhost`, or undefined for another name. */
function listenerAddress(host: string): string | undefined {
  const h = host.toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return '127.0.0.1';
  return canonicalIp(h);
}

/**
 * Whether a connection to `address:port` reaches one of the gateway's listeners. A listener on the
 * unspecified address (0.0.0.0, ::), or on a name (as configured, before it is bound), takes every
 * address of this machine: loopback, the unspecified address and `interfaces`. A listener on one
 * address takes that address, the unspecified one, and, for a loopback listener, every loopback address.
 */
export function reachesGateway(address: string, port: number, listening: Listening[], interfaces: string[]): boolean {
  const a = canonicalIp(address);
  if (!a) return false;
  const local = () => loopback(a) || unspecified(a) || interfaces.some((i) => canonicalIp(i) === a);
  return listening.some((l) => {
    if (l.port !== port) return false;
    const h = listenerAddress(l.address);
    if (!h || unspecified(h)) return local();
    return a === h || unspecified(a) || (loopback(a) && loopback(h));
  });
}

/**
 * Whether an allowlist entry's host names the gateway, as the config shows it: an address (any
 * spelling), or `localhost` and names under it; another name (or `*.domain`) only when it is, or
 * covers, the listener's own name.
 * The machine's other addresses, and names that resolve to the gateway, are refused by the proxy
 * when it connects (they depend on the host and its resolver, not on the file).
 */
export function namesGateway(host: string, port: number, listen: Listening): boolean {
  const h = host.toLowerCase();
  const address = listenerAddress(h);
  if (address) return reachesGateway(address, port, [listen], []);
  const name = listen.address.toLowerCase();
  const covered = h === name || (h.startsWith('*.') && name.endsWith(h.slice(1)) && name.length > h.length - 1);
  return port === listen.port && covered;
}

/** What pg makes of a connection string, with the environment (PGHOST, PGPORT) and its defaults. */
type PgParameters = new (config: {
  connectionString: string;
  ssl: boolean;
  sslnegotiation: string;
}) => { host?: unknown; port?: unknown };
const pgParameters = lazyRequire<PgParameters>('pg/lib/connection-parameters.js');
/** What ioredis makes of a URL (its query fills in what the URL leaves out; `path` is a unix socket). */
type RedisUrl = { parseURL(url: string): { host?: unknown; port?: unknown; path?: unknown } };
const redisUrl = lazyRequire<RedisUrl>('ioredis/built/utils/index.js');

/**
 * Query parameters about TLS: pg reads files for some (synchronously, failing on a missing one) and
 * refuses some combinations; none of them moves the address, so they are left out of the reading.
 */
const PG_TLS_PARAMS = new Set([
  'ssl',
  'sslcert',
  'sslkey',
  'sslrootcert',
  'sslmode',
  'sslnegotiation',
  'uselibpqcompat',
]);

/**
 * Where pg connects for `url`, read by pg itself: the query's `host` and `port` before the URL's,
 * then PGHOST and PGPORT, then localhost:5432 (2026-12-07, walk Z: `postgres:///test?host=127.0.0.1`
 * named no hostname, so a sandbox with `allowLoopback` could list and reach the gateway's own
 * database). A unix socket (a host starting with `/`) is no TCP address: undefined.
 */
function postgresAddress(url: string): Listening | undefined {
  try {
    const p = new (pgParameters())({ connectionString: withoutTls(url), ssl: false, sslnegotiation: 'postgres' });
    return tcp(p.host, p.port);
  } catch {
    return undefined; // not a connection string pg takes: said where it is read
  }
}

/** `url` without its TLS query parameters (by name as pg decodes it), every other byte as it was. */
function withoutTls(url: string): string {
  const q = url.indexOf('?');
  const hash = url.indexOf('#');
  if (q < 0 || (hash >= 0 && hash < q)) return url;
  const end = hash < 0 ? url.length : hash;
  const kept = url
    .slice(q + 1, end)
    .split('&')
    .filter((pair) => {
      const name = pair.split('=', 1)[0].replaceAll('+', ' ');
      try {
        return !PG_TLS_PARAMS.has(decodeURIComponent(name));
      } catch {
        return true;
      }
    });
  return `${url.slice(0, q + 1)}${kept.join('&')}${url.slice(end)}`;
}

/** Where ioredis connects for `url`: the URL's host and port, else its query's, else localhost:6379; a unix socket is none. */
function redisAddress(url: string): Listening | undefined {
  try {
    const o = redisUrl().parseURL(url);
    return o.path ? undefined : tcp(o.host ?? 'localhost', o.port ?? 6379);
  } catch {
    return undefined; // not a URL: said where it is read
  }
}

function tcp(host: unknown, port: unknown): Listening | undefined {
  const h = typeof host === 'string' ? host.replace(/^\[|\]$/g, '') : '';
  const n = Number.parseInt(String(port), 10);
  if (!h || h.startsWith('/') || !(n > 0 && n < 65536)) return undefined;
  return { address: h.toLowerCase() === 'localhost' ? '127.0.0.1' : h, port: n };
}

/**
 * The gateway's own database and Redis, from their URLs (`storage.postgresUrl`, `limits.redis.url`),
 * as places no sandboxed server reaches: a local database trusts local callers. Each is read as its
 * client reads it (query parameters, environment, defaults); a unix socket, an unparsable or an absent
 * URL gives nothing (their own checks say so).
 */
export function backingServices(urls: {
  postgres?: unknown;
  redis?: unknown;
}): Array<Listening & { what: 'database' | 'Redis' }> {
  const found: Array<Listening & { what: 'database' | 'Redis' }> = [];
  const db = typeof urls.postgres === 'string' ? postgresAddress(urls.postgres) : undefined;
  if (db) found.push({ what: 'database', ...db });
  const redis = typeof urls.redis === 'string' ? redisAddress(urls.redis) : undefined;
  if (redis) found.push({ what: 'Redis', ...redis });
  return found;
}
