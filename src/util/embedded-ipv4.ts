/**
 * The IPv4 address an IPv6 address carries, for the forms that reach it: IPv4-mapped
 * (`::ffff:0:0/96`, the IPv4 socket itself), SIIT (`::ffff:0:0:0/96`), NAT64 (the well-known
 * `64:ff9b::/96` and the local-use `64:ff9b:1::/48`, RFC 6052/8215), the deprecated IPv4-compatible
 * (`::/96`), 6to4 (`2002::/16`) and Teredo (`2001::/32`, the client's address). On a network that
 * translates them, a connection to such an address arrives at the IPv4 one (loopback, a metadata
 * service, a private network), so what may be reached is decided by that IPv4 address. Pure.
 */
import { isIP } from 'node:net';

export type EmbeddingForm = 'mapped' | 'siit' | 'compatible' | 'nat64' | 'nat64-local' | '6to4' | 'teredo';

/** The 16 bytes of an IPv6 address (brackets and zone ignored), or undefined. */
function ipv6Bytes(text: string): number[] | undefined {
  const ip = text.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (isIP(ip) !== 6) return undefined;
  let body = ip.toLowerCase();
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(body);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number);
    body = `${body.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = body.split('::');
  const words = (s: string | undefined) => (s ? s.split(':').map((w) => Number.parseInt(w, 16)) : []);
  const h = words(head);
  const t = words(tail);
  const all = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  return all.flatMap((w) => [w >> 8, w & 255]);
}

const v4 = (b: number[], at: number[]) => at.map((i) => b[i]).join('.');
const zero = (b: number[], from: number, to: number) => b.slice(from, to).every((x) => x === 0);
const LAST = [12, 13, 14, 15];

/**
 * Where RFC 6052 puts the IPv4 address under a NAT64 prefix of each length the local-use /48 may be
 * cut to (/48, /56, /64, /96; byte 8 is never used): the operator's choice is not known here.
 */
const NAT64_LOCAL_POSITIONS = [[6, 7, 9, 10], [7, 9, 10, 11], [9, 10, 11, 12], LAST];

/**
 * The IPv4 addresses `ip` may reach through a translation, with its form; undefined for an IPv4
 * address, a name, or an IPv6 address of none of these forms (`::` and `::1` are their own).
 * One address, except under the local-use NAT64 prefix, where each possible position is given.
 */
export function embeddedIpv4(ip: string): { form: EmbeddingForm; ipv4: string[] } | undefined {
  const b = ipv6Bytes(ip);
  if (!b) return undefined;
  const hi = (i: number) => (b[i] << 8) | b[i + 1];
  if (zero(b, 0, 10) && hi(10) === 0xffff) return { form: 'mapped', ipv4: [v4(b, LAST)] };
  if (zero(b, 0, 8) && hi(8) === 0xffff && hi(10) === 0) return { form: 'siit', ipv4: [v4(b, LAST)] };
  if (zero(b, 0, 12)) return zero(b, 12, 15) && b[15] <= 1 ? undefined : { form: 'compatible', ipv4: [v4(b, LAST)] };
  if (hi(0) === 0x64 && hi(2) === 0xff9b && zero(b, 4, 12)) return { form: 'nat64', ipv4: [v4(b, LAST)] };
  if (hi(0) === 0x64 && hi(2) === 0xff9b && hi(4) === 1)
    return { form: 'nat64-local', ipv4: NAT64_LOCAL_POSITIONS.map((at) => v4(b, at)) };
  if (hi(0) === 0x2002) return { form: '6to4', ipv4: [v4(b, [2, 3, 4, 5])] };
  if (hi(0) === 0x2001 && hi(2) === 0) {
    // The client's address, obfuscated (every bit inverted), is the last 32 bits.
    return { form: 'teredo', ipv4: [LAST.map((i) => b[i] ^ 255).join('.')] };
  }
  return undefined;
}
