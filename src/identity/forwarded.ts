/**
 * Forwarding headers (RFC 7239 `Forwarded`, `X-Forwarded-For`, `X-Real-IP`). Without identity the
 * gateway serves loopback callers only; behind a reverse proxy on the same host every request comes
 * from loopback, so a request that says it was forwarded is judged by the client the proxy names, and
 * only when the proxy is one the operator trusts (`gateway.trustedProxies`).
 */
import type { IncomingHttpHeaders } from 'node:http';

/**
 * Headers some proxy or CDN writes when it forwards a request (besides the three that name the
 * client, read below): any of them says the loopback peer is a proxy, not the caller. A proxy that
 * writes none (nginx's bare `proxy_pass`) cannot be told from a local caller: README, "Running it for
 * real", says to set X-Forwarded-For, or to configure identity.
 */
const PROXY_SIGNS = [
  'forwarded',
  'x-forwarded-for',
  'x-real-ip',
  'via',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-client-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'fastly-client-ip',
  'x-cluster-client-ip',
  'x-original-forwarded-for',
  'forwarded-for',
] as const;

export function hasForwardingHeaders(h: IncomingHttpHeaders): boolean {
  return PROXY_SIGNS.some((k) => h[k] !== undefined);
}

const strip = (a: string): string => {
  let v = a.trim().replace(/^"|"$/g, '');
  if (v.startsWith('['))
    v = v.slice(1, v.indexOf(']')); // [::1]:port
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(v)) v = v.slice(0, v.lastIndexOf(':'));
  return v.startsWith('::ffff:') ? v.slice(7) : v;
};

/**
 * The client address the trusted proxies report: the right-most hop that is not itself a trusted
 * proxy (hops to the left of it could be written by the client), or the first hop when all are
 * (a client on the proxy's own host). Undefined when none can be read.
 */
export function forwardedClient(h: IncomingHttpHeaders, trusted: readonly string[]): string | undefined {
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(',') : v);
  let hops: string[] = [];
  const fwd = one(h.forwarded);
  if (fwd !== undefined) {
    hops = fwd
      .split(',')
      .map((el) => /(?:^|;)\s*for=("[^"]*"|[^;,\s]*)/i.exec(el)?.[1] ?? '')
      .map(strip);
  } else if (h['x-forwarded-for'] !== undefined) {
    hops = (one(h['x-forwarded-for']) ?? '').split(',').map(strip);
  } else if (h['x-real-ip'] !== undefined) {
    hops = [strip(one(h['x-real-ip']) ?? '')];
  }
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!hops[i]) return undefined;
    if (!trusted.includes(hops[i])) return hops[i];
  }
  // Every hop is a trusted proxy's address: the first one is where the request started.
  return hops[0] || undefined;
}
