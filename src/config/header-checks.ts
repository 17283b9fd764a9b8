/**
 * The headers the config sets on what the gateway sends (an HTTP server's `headers`, an audit sink's
 * `headers`): a name that is no HTTP token, or a value with a control character (CR, LF, NUL: a
 * header injected after it), is refused by the HTTP client at every send (src/util/http1/), so the
 * server never starts and the sink never delivers. Refused here instead, at the line, by the
 * client's own rules. A value from a secret reference is known only when it is resolved: the client
 * refuses that one. Messages never echo the value (it is a credential, often).
 *
 * Names the gateway writes itself are refused too: the client's own (framing, connection, and the
 * body's `Content-Encoding` and `Trailer`, which it refuses at every send) and, for a server, the
 * protocol's (`Content-Type`, `Accept`, `Last-Event-ID` and every `Mcp-*` header: a session id,
 * version or method set by hand would be sent
 * where the gateway sets none, or fight the one it sets). So is a name set twice in spellings that
 * differ only in case (in a server's `headers` and `credentials.headers` together): one header.
 */
const PROTOCOL = new Set(['content-type', 'accept', 'last-event-id']);
/** Among the client's own: the ones about the body, said so. */
const BODY = new Set(['content-encoding', 'trailer']);

/** Why the gateway, not the config, writes header `name`; undefined when the config may set it. */
function ownedBy(name: string, server: boolean): string | undefined {
  const n = name.toLowerCase();
  if (BODY.has(n)) return 'it describes the body the gateway writes (never encoded, never with trailers)';
  if (CLIENT_HEADERS.has(n)) return 'the HTTP client writes it itself';
  if (server && (PROTOCOL.has(n) || n.startsWith('mcp-'))) return 'the gateway writes it as the MCP transport requires';
  return undefined;
}
import { CLIENT_HEADERS, FIELD_VALUE, TOKEN } from '../util/http1/parser.ts';
import { formatPath, type Path } from '../util/yaml-positions.ts';
import { isObj, keyOrMap, type Context, type Obj } from './issues.ts';

export function headerChecks(raw: Obj, ctx: Context): void {
  // The header sets sent together: a server's own and its credentials' (one request), a sink's.
  const groups: Array<{ server: boolean; sets: Path[] }> = [];
  for (const [i, s] of (Array.isArray(raw.servers) ? raw.servers : []).entries()) {
    if (!isObj(s)) continue;
    const sets: Path[] = [];
    if (isObj(s.headers)) sets.push(['servers', i, 'headers']);
    if (isObj(s.credentials) && isObj(s.credentials.headers)) sets.push(['servers', i, 'credentials', 'headers']);
    groups.push({ server: true, sets });
  }
  const audit = isObj(raw.audit) ? raw.audit : {};
  for (const [i, e] of (Array.isArray(audit.exports) ? audit.exports : []).entries())
    if (isObj(e) && isObj(e.headers)) groups.push({ server: false, sets: [['audit', 'exports', i, 'headers']] });
  for (const { server, sets } of groups) {
    const seen = new Map<string, string>();
    for (const at of sets) {
      const headers = at.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], raw) as Obj;
      for (const [name, value] of Object.entries(headers)) {
        headerCheck(ctx, at, name, value, server);
        // HTTP header names are not case-sensitive: two spellings are one header, and only one would go.
        const first = seen.get(name.toLowerCase());
        if (first !== undefined)
          ctx.add(
            at,
            `\`${name.slice(0, 64)}\` is set twice (as \`${first.slice(0, 64)}\` too): header names are not case-sensitive, so only one would be sent; keep one`,
            keyOrMap(ctx.doc, at, name),
          );
        else seen.set(name.toLowerCase(), name);
      }
    }
  }
}

/** One header: a name the gateway writes, no header name, or a value with a control character. */
function headerCheck(ctx: Context, at: Path, name: string, value: unknown, server: boolean): void {
  const path = [...at, name];
  const owned = TOKEN.test(name) ? ownedBy(name, server) : undefined;
  if (owned) ctx.add(at, `\`${name}\` cannot be set here: ${owned}`, keyOrMap(ctx.doc, at, name));
  else if (!TOKEN.test(name))
    ctx.add(
      at,
      `\`${name.slice(0, 64)}\` is not a header name (letters, digits and !#$%&'*+-.^_\`|~)`,
      keyOrMap(ctx.doc, at, name),
    );
  else if (typeof value === 'string' && !ctx.unset.has(formatPath(path)) && !FIELD_VALUE.test(value))
    ctx.add(
      path,
      'a header value cannot hold a line break, a NUL or another control character (the HTTP client refuses to send it)',
    );
}
