/** The `=?base64?…?=` sentinel form of header values (2026-07-28 Mcp-Name and Mcp-Param-*). */

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decode the `=?base64?…?=` sentinel used for non-ASCII Mcp-Name / Mcp-Param values: undefined when
 * its payload is not canonical base64 of UTF-8 (read leniently, junk, missing padding or bytes after
 * it would name the same target as the body while a proxy in front read something else).
 */
export function decodeHeaderValue(v: string): string | undefined {
  const m = /^=\?base64\?(.*)\?=$/s.exec(v);
  if (!m) return v;
  if (badSentinel(v)) return undefined;
  try {
    return UTF8.decode(Buffer.from(m[1], 'base64'));
  } catch {
    return undefined;
  }
}

/** A value in the sentinel form whose payload is not canonical base64 (bad characters or padding). */
export function badSentinel(v: string): boolean {
  const m = /^=\?base64\?(.*)\?=$/s.exec(v);
  if (!m) return false; // not the sentinel form (e.g. no closing `?=`): a literal value
  const b64 = m[1];
  if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return true;
  return Buffer.from(b64, 'base64').toString('base64') !== b64;
}
