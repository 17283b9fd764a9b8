/**
 * Keeping database passwords out of what people see: a connection string is shown with its
 * password replaced by `***`, and any text about it (a driver's error message) is scrubbed of the
 * password in every spelling it could take. Pure functions, no I/O.
 */

const MASK = '***';

/** What a connection string that is not a postgres URL is shown as: nothing of it (it may be a password). */
const UNPARSED = '(storage.postgresUrl, not a postgres:// URL: not shown)';

/** Whether `url` parses as a `postgres://` or `postgresql://` URL, the only connection strings the store takes. */
export function isPostgresUrl(url: string): boolean {
  try {
    return ['postgres:', 'postgresql:'].includes(new URL(url).protocol);
  } catch {
    return false;
  }
}

/** `url` with its password (userinfo or `?password=`) replaced by `***`; anything but a postgres URL, whole. */
export function maskUrl(url: string): string {
  if (!isPostgresUrl(url)) return UNPARSED;
  const u = new URL(url);
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
  if (isPostgresUrl(url)) {
    const u = new URL(url);
    add(u.password);
    add(u.searchParams.get('password'));
  } else {
    // Not a postgres URL: all of it may be the secret (a password in the wrong variable).
    add(url);
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
