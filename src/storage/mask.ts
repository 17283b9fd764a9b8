/**
 * Keeping database passwords out of what people see: a connection string is shown with its
 * password replaced by `***`, and any text about it (a driver's error message) is scrubbed of the
 * password in every spelling it could take. Pure functions, no I/O.
 */

const MASK = '***';

/** `url` with its password (userinfo or `?password=`) replaced by `***`. */
export function maskUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Not a URL we can parse: mask generously (everything between `//user:` and the last `@`).
    return url.replace(/(\/\/[^/:@]*:).*@/, `$1${MASK}@`).replace(/(password=)[^&\s]*/gi, `$1${MASK}`);
  }
  if (u.password) u.password = MASK;
  if (u.searchParams.has('password')) u.searchParams.set('password', MASK);
  return u.toString();
}

/** Every spelling of the password carried by `url` (as written, percent-decoded), longest first. */
function secretsOf(url: string): string[] {
  const found = new Set<string>();
  const add = (s: string | null) => {
    if (!s) return;
    found.add(s);
    try {
      found.add(decodeURIComponent(s));
    } catch {
      // a malformed escape: the raw spelling is still masked
    }
  };
  try {
    const u = new URL(url);
    add(u.password);
    add(u.searchParams.get('password'));
  } catch {
    add(/\/\/[^/:@]*:(.*)@/.exec(url)?.[1] ?? null);
    add(/password=([^&\s]*)/i.exec(url)?.[1] ?? null);
  }
  return [...found].sort((a, b) => b.length - a.length);
}

/** `text` (say, a driver's error message) with `url` masked and its password removed wherever it appears. */
export function scrub(text: string, url: string): string {
  let out = text.split(url).join(maskUrl(url));
  for (const secret of secretsOf(url)) out = out.split(secret).join(MASK);
  return out;
}
