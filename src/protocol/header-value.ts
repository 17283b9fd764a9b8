/** The `=?base64?…?=` sentinel form of header values (2026-07-28 Mcp-Name and Mcp-Param-*). */

/** Decode the `=?base64?…?=` sentinel used for non-ASCII Mcp-Name / Mcp-Param values. */
export function decodeHeaderValue(v: string): string {
  const m = /^=\?base64\?(.*)\?=$/s.exec(v);
  return m ? Buffer.from(m[1], 'base64').toString('utf8') : v;
}

/** A value in the sentinel form whose payload is not canonical base64 (bad characters or padding). */
export function badSentinel(v: string): boolean {
  const m = /^=\?base64\?(.*)\?=$/s.exec(v);
  if (!m) return false; // not the sentinel form (e.g. no closing `?=`): a literal value
  const b64 = m[1];
  if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return true;
  return Buffer.from(b64, 'base64').toString('base64') !== b64;
}
