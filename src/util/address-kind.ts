/**
 * What kind of address a sandboxed server may not reach through the egress proxy
 * (src/sandbox/egress.ts): metadata, loopback, link-local, private and reserved ranges. Pure; the
 * config's checks ask it too (an allowlist entry that names a metadata address is refused at load).
 */
import { BlockList, isIP } from 'node:net';
import { embeddedIpv4, type EmbeddingForm } from './embedded-ipv4.ts';

export type AddressKind =
  | 'metadata address'
  | 'loopback address'
  | 'private address'
  | 'link-local address'
  | 'reserved address';

const METADATA = new Set(['169.254.169.254', '169.254.170.2', '100.100.100.200', 'fd00:ec2::254']);

function blocks(list: Array<[string, number, 'ipv4' | 'ipv6']>): BlockList {
  const b = new BlockList();
  for (const [net, prefix, family] of list) b.addSubnet(net, prefix, family);
  return b;
}
const LOOPBACK = blocks([
  ['127.0.0.0', 8, 'ipv4'],
  ['::1', 128, 'ipv6'],
]);
const LINK_LOCAL = blocks([
  ['169.254.0.0', 16, 'ipv4'],
  ['fe80::', 10, 'ipv6'],
]);
const PRIVATE = blocks([
  ['10.0.0.0', 8, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'],
  ['fc00::', 7, 'ipv6'],
]);
const RESERVED = blocks([
  ['0.0.0.0', 8, 'ipv4'],
  ['192.0.0.0', 24, 'ipv4'],
  ['192.0.2.0', 24, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'],
  ['198.51.100.0', 24, 'ipv4'],
  ['203.0.113.0', 24, 'ipv4'],
  ['224.0.0.0', 3, 'ipv4'],
  ['::', 128, 'ipv6'],
  ['64:ff9b:1::', 48, 'ipv6'],
  ['100::', 64, 'ipv6'],
  ['2001:db8::', 32, 'ipv6'],
  ['2002::', 16, 'ipv6'],
  ['ff00::', 8, 'ipv6'],
]);

/** The most serious first: what an address that may reach several is refused as. */
const SEVERITY: AddressKind[] = [
  'metadata address',
  'loopback address',
  'link-local address',
  'private address',
  'reserved address',
];

/** Forms refused even for a public IPv4 address: deprecated (RFC 4291, RFC 7526), or a network's own translator. */
const RESERVED_FORMS = new Set<EmbeddingForm>(['compatible', '6to4', 'nat64-local']);

/**
 * Why an address may not be reached from a sandbox, or undefined for a public address. An IPv6
 * address that carries an IPv4 one (mapped, SIIT, NAT64, 6to4, Teredo: ./embedded-ipv4.ts) is the
 * IPv4 address it reaches: `64:ff9b::a9fe:a9fe` is the metadata service on a NAT64 network.
 */
export function refusedAddress(ip: string): AddressKind | undefined {
  const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
  const addr = ip.toLowerCase();
  const embedded = family === 'ipv6' ? embeddedIpv4(addr) : undefined;
  if (embedded) {
    const kinds = embedded.ipv4.map((v4) => refusedAddress(v4));
    const worst = SEVERITY.find((k) => kinds.includes(k));
    return worst ?? (RESERVED_FORMS.has(embedded.form) ? 'reserved address' : undefined);
  }
  if (METADATA.has(addr)) return 'metadata address';
  if (LOOPBACK.check(addr, family)) return 'loopback address';
  if (LINK_LOCAL.check(addr, family)) return 'link-local address';
  if (PRIVATE.check(addr, family)) return 'private address';
  if (RESERVED.check(addr, family)) return 'reserved address';
  return undefined;
}
