/** Network addresses as Node reports them (`req.socket.remoteAddress`). */

/** Whether the address is the machine itself: IPv4 127/8, IPv6 `::1`, or 127/8 mapped into IPv6. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/** An IPv4 address mapped into IPv6 (`::ffff:10.0.0.1`) as IPv4: how it is written in the config. */
export function unmappedAddress(a: string): string {
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

/**
 * The source a client is counted under: an IPv4 address itself; an IPv6 address by its /64
 * (`2001:db8:1:2::/64`), the block one subscriber (a host, a home, a LAN) is given, so that one
 * client cannot take a new address from its block for each connection and pass a cap per address.
 * Two kinds of IPv6 address are not one subscriber's /64: a NAT64 address stands for the IPv4 client
 * embedded in it (the well-known `64:ff9b::/96`: that IPv4 address; the local-use `64:ff9b:1::/48`
 * of RFC 8215, whose operator chooses where in the address the IPv4 one sits: the whole address,
 * which is one IPv4 client's whatever the choice), and a link-local one (`fe80::/10`) is counted with
 * its zone (the interface: each link is its own). What is not an IPv6 address is returned as it is.
 */
export function addressSource(address: string): string {
  const [a, zone] = unmappedAddress(address).toLowerCase().split('%');
  if (!a.includes(':')) return a;
  const groups = ipv6Groups(a);
  if (!groups) return a;
  if (groups.slice(0, 6).join(':') === '64:ff9b:0:0:0:0') {
    const n = [groups[6], groups[7]].map((g) => Number.parseInt(g, 16));
    return [n[0] >> 8, n[0] & 255, n[1] >> 8, n[1] & 255].join('.');
  }
  if (groups[0] === '64' && groups[1] === 'ff9b' && groups[2] === '1') return groups.join(':');
  const block = `${groups.slice(0, 4).join(':')}::/64`;
  return zone !== undefined && /^fe[89ab]/.test(groups[0].padStart(4, '0')) ? `${block}%${zone}` : block;
}

/** Whether `peer` is one of `listed` (trusted proxies), however either is written. */
export function listedAddress(listed: readonly string[], peer: string): boolean {
  const p = canonicalAddress(peer);
  return listed.some((a) => canonicalAddress(a) === p);
}

/** An address written one way whatever way it was given: IPv4 as it is, IPv6 as its eight groups (a trusted proxy's, to compare). */
export function canonicalAddress(address: string): string {
  const a = unmappedAddress(address).toLowerCase();
  if (!a.includes(':')) return a;
  const [bare, zone] = a.split('%');
  const groups = ipv6Groups(bare);
  return groups ? groups.join(':') + (zone !== undefined ? `%${zone}` : '') : a;
}

/**
 * Whether `text` is one IPv4 address (four decimal bytes, no leading zeros) or one IPv6 address (with
 * a zone, `fe80::1%eth0`, as Node reports a link-local peer): what a trusted proxy is written as.
 */
export function isIpAddress(text: string): boolean {
  if (!text.includes(':')) return isIpv4(text);
  const [bare, zone, more] = text.toLowerCase().split('%');
  return more === undefined && zone !== '' && ipv6Groups(bare) !== undefined;
}

function isIpv4(text: string): boolean {
  const bytes = text.split('.');
  return bytes.length === 4 && bytes.every((b) => /^(?:0|[1-9]\d{0,2})$/.test(b) && Number(b) <= 255);
}

/** The eight groups of an IPv6 address (hex, without leading zeros), or undefined when it is not one. */
function ipv6Groups(a: string): string[] | undefined {
  let text = a;
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text); // an IPv4 tail (`64:ff9b::192.0.2.1`)
  if (dotted) {
    const b = dotted[2].split('.').map(Number);
    if (b.some((x) => x > 255)) return undefined;
    text = `${dotted[1]}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const part = (h: string) => (h === '' ? [] : h.split(':'));
  const head = part(halves[0]);
  const tail = halves.length === 2 ? part(halves[1]) : [];
  const zeros = 8 - head.length - tail.length;
  if (halves.length === 2 ? zeros < 1 : zeros !== 0) return undefined;
  const groups = [...head, ...Array<string>(zeros).fill('0'), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return groups.map((g) => g.replace(/^0+(?=.)/, ''));
}
