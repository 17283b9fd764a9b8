/**
 * No credentials in the URLs the gateway posts to (HTTP upstreams, the audit trail's HTTP sinks): a
 * URL is written to logs, error messages, the inventory and traces, and sent on by proxies, where a
 * header is not. A credential belongs in `headers:` (from a secret reference or `${VAR}`), and the
 * URL is refused at load when it carries one: user info (which the client never sends anyway), a
 * `${VAR}` reference past the host (in the path, query or fragment: an environment variable there is
 * a secret spliced into the URL), a query parameter named like a credential with a value, or a query
 * value that is a secret reference (never resolved there, so sent as written). A reference in the
 * scheme, host or port (`http://${UPSTREAM_HOST}:8080/mcp`), or a whole URL from the environment, is
 * taken: what it makes is checked like any URL. Messages name the key, never the value.
 */
import type { Path } from '../util/yaml-positions.ts';
import { formatPath } from '../util/yaml-positions.ts';
import { isObj, type Context, type Obj } from './issues.ts';
import { writtenAt } from './references.ts';

const USE_HEADERS =
  'put the credential in `headers:` (for a server, `credentials.headers` with a secret reference), where it is never logged';

/**
 * Query parameter names that carry credentials, compared lowercase without `-` and `_`: these
 * exactly, or any name ending in one of the suffixes (`x-api-key`, `dd-api-key`, `auth_token`, `pat` and
 * `github_pat` for a personal access token).
 */
const CREDENTIAL_PARAMS = new Set([
  'key',
  'auth',
  'pwd',
  'pass',
  'sig',
  'jwt',
  'bearer',
  'credential',
  'credentials',
  'code', // Azure Functions' function key
]);
const CREDENTIAL_SUFFIX =
  /(?:token|apikey|secret|password|passwd|passphrase|signature|authorization|sessionid|pat|(?:access|secret|subscription|shared|private|client|account|master|signing|app|auth)key)$/;

/** The secret references of `credentials` (docs/credentials.md), resolved nowhere else. */
const SECRET_REFERENCE = /^(?:vault|aws-sm|op):\/\/|^(?:local|env|exec):\S/i;

function credentialParam(name: string): boolean {
  const n = name.toLowerCase().replace(/[-_]/g, '');
  return CREDENTIAL_PARAMS.has(n) || CREDENTIAL_SUFFIX.test(n);
}

/** What in `url` (as loaded, references substituted) is a credential, or undefined. */
export function urlCredential(url: string): string | undefined {
  if (!URL.canParse(url)) return undefined;
  const u = new URL(url);
  if (u.username || u.password) return 'a user name or password';
  // A fragment is never sent, but it is logged with the URL like a query (`#access_token=...`).
  for (const [where, params] of [
    ['query', u.searchParams],
    ['fragment', new URLSearchParams(u.hash.slice(1))],
  ] as const)
    for (const [name, value] of params) {
      if (value && credentialParam(name)) return `a credential in its ${where} (\`${name}\`)`;
      if (SECRET_REFERENCE.test(value)) return `a secret reference in its ${where} (\`${name}\`)`;
    }
  return undefined;
}

/** Whether the URL as written has a `${VAR}` reference past its host (or in its user info). */
function referencePastHost(written: string): boolean {
  const ref = (s: string) => /\$\{/.test(s.replace(/\$\$\{/g, ''));
  const scheme = written.indexOf('://');
  if (scheme < 0) return false; // a whole URL (or its scheme) from the environment: what it makes is checked
  const rest = written.slice(scheme + 3);
  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  const at = authority.lastIndexOf('@');
  return (end >= 0 && ref(rest.slice(end))) || (at >= 0 && ref(authority.slice(0, at)));
}

export function urlCredentialChecks(raw: Obj, ctx: Context): void {
  const urls: Array<[Path, unknown]> = [];
  for (const [i, s] of (Array.isArray(raw.servers) ? raw.servers : []).entries())
    if (isObj(s)) urls.push([['servers', i, 'url'], s.url]);
  const audit = isObj(raw.audit) ? raw.audit : {};
  for (const [i, e] of (Array.isArray(audit.exports) ? audit.exports : []).entries())
    if (isObj(e)) urls.push([['audit', 'exports', i, 'url'], e.url]);
  for (const [path, url] of urls) {
    const key = formatPath(path);
    if (typeof url !== 'string' || ctx.unset.has(key)) continue;
    const written = writtenAt(ctx.doc, ctx.references, path);
    const what = written !== undefined && referencePastHost(written) ? 'an environment variable' : urlCredential(url);
    if (what) ctx.add(path, `must not carry ${what}: ${USE_HEADERS}`);
  }
}
