// Shared pieces of the resource server: the Principal shape, mapping VERIFIED claims to it, and the
// guards used before talking to an authorization server (URL scheme, bounded JSON bodies).

export interface Principal {
  subject: string;
  tenant: string | null;
  clientId: string | null;
  roles: string[];
  scopes: string[];
  issuer: string;
  /** epoch milliseconds */
  expiresAt: number;
  via: 'jwt' | 'introspection';
  /** The token's `jti`, when it has one (for revoking one token). */
  tokenId: string | null;
}

export interface ClaimNames {
  /** dotted path, default 'tenant' */
  tenant?: string;
  /** dotted path, default 'roles' (e.g. 'realm_access.roles' for Keycloak) */
  roles?: string;
  /** default 'client_id', falling back to 'azp' */
  clientId?: string;
}

export type VerifyResult = { ok: true; principal: Principal } | { ok: false; reason: string };

export const fail = (reason: string): VerifyResult => ({ ok: false, reason });

/**
 * A token's `aud` names this resource and nothing else: the string itself, or an array of exactly it.
 * A token that also names another audience was issued to be presented there too, and whoever it was
 * presented to could replay it here (RFC 8707 / RFC 9068: one token, one resource).
 */
export function exactAudience(aud: unknown, audience: string): boolean {
  return aud === audience || (Array.isArray(aud) && aud.length === 1 && aud[0] === audience);
}

/**
 * Builds the principal from claims that have ALREADY been verified (signature + iss/aud/exp for a JWT,
 * or an `active: true` introspection answer). Callers check `sub` and `exp` before calling.
 */
export function principalFromClaims(
  claims: Record<string, unknown>,
  names: ClaimNames,
  issuer: string,
  via: Principal['via'],
): Principal {
  const tenant = claimAt(claims, names.tenant ?? 'tenant');
  const clientId = claimAt(claims, names.clientId ?? 'client_id') ?? claims.azp;
  // `scope` (RFC 8693/9068, space-separated) wins; `scp` is what Entra ID and others send instead.
  const scopes = claims.scope !== undefined ? toList(claims.scope) : toList(claims.scp);
  return Object.freeze({
    subject: claims.sub as string,
    tenant: typeof tenant === 'string' && tenant !== '' ? tenant : null,
    clientId: typeof clientId === 'string' && clientId !== '' ? clientId : null,
    roles: Object.freeze(toList(claimAt(claims, names.roles ?? 'roles'))) as string[],
    scopes: Object.freeze(scopes) as string[],
    issuer,
    expiresAt: (claims.exp as number) * 1000,
    via,
    tokenId: typeof claims.jti === 'string' && claims.jti !== '' ? claims.jti : null,
  });
}

/** Dotted-path lookup over OWN properties only, so `__proto__.x` or `constructor` can never resolve. */
function claimAt(claims: Record<string, unknown>, path: string): unknown {
  let cur: unknown = claims;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.hasOwn(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** An array of strings or a space-separated string, deduplicated; anything else is an empty list. */
function toList(value: unknown): string[] {
  return [...new Set(listItems(value).filter((v): v is string => typeof v === 'string' && v !== ''))];
}

function listItems(value: unknown): unknown[] {
  if (typeof value === 'string') return value.split(' ');
  if (Array.isArray(value)) return value;
  return [];
}

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** https anywhere; plain http only to loopback (local development and tests). */
export function isAllowedFetchUrl(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.username || u.password) return false;
  return u.protocol === 'https:' || (u.protocol === 'http:' && LOOPBACK.has(u.hostname));
}

/** Reads a JSON body, refusing more than `max` bytes: an authorization server is trusted, not infinite. */
export async function readJsonCapped(res: Response, max = 64 * 1024): Promise<unknown> {
  if (Number(res.headers.get('content-length') ?? 0) > max) throw new Error('response too large');
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = res.body?.getReader();
  if (!reader) throw new Error('empty response');
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel();
      throw new Error('response too large');
    }
    chunks.push(value);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

export const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);
