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
