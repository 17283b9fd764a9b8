/**
 * The console's session: a cookie holding the person's access token, sealed (AES-256-GCM) with a key
 * every replica shares through the store, so any replica serves any request and nothing is kept per
 * session on the server. Every request re-verifies the token through the gateway's own Authenticator,
 * so the token's expiry, the issuer's tenant binding and `gatehouse principals revoke` apply to the
 * console exactly as to the MCP endpoint. CSRF tokens are an HMAC of the session's random id.
 * Cookies: HttpOnly, SameSite=Strict (the short-lived login cookie is Lax: it must come back with the
 * provider's cross-site redirect), Path=/, Secure unless the console is plain http on loopback.
 */
import { randomBytes } from 'node:crypto';
import { hmacSha256, sameBytes } from '../util/hmac.ts';
import { seal, unseal } from '../util/seal.ts';

export interface Session {
  /** The access token the person's provider issued for the gateway's resource. */
  token: string;
  /** Random id: what CSRF tokens are bound to. */
  sid: string;
  /** Which login (index into the console's logins) it came from. */
  login: number;
  /** epoch ms */
  exp: number;
}

/** The login in flight: PKCE verifier, state and nonce, bound to the browser by a sealed cookie. */
export interface PendingLogin {
  state: string;
  verifier: string;
  nonce: string;
  login: number;
  exp: number;
}

const SESSION_AAD = 'gatehouse console session v1';
const LOGIN_AAD = 'gatehouse console login v1';
export const LOGIN_TTL_MS = 10 * 60_000;

export class ConsoleCookies {
  readonly #key: Buffer;
  readonly #csrfKey: Buffer;
  readonly secure: boolean;

  constructor(key: Buffer, secure: boolean) {
    this.#key = key.subarray(0, 32);
    this.#csrfKey = hmacSha256(key, 'console csrf');
    this.secure = secure;
  }

  get sessionName(): string {
    return this.secure ? '__Host-gatehouse-console' : 'gatehouse-console';
  }

  get loginName(): string {
    return this.secure ? '__Host-gatehouse-console-login' : 'gatehouse-console-login';
  }

  #cookie(name: string, value: string, maxAgeSec: number, sameSite: 'Strict' | 'Lax'): string {
    return `${name}=${value}; Path=/; Max-Age=${Math.max(0, Math.floor(maxAgeSec))}; HttpOnly; SameSite=${sameSite}${this.secure ? '; Secure' : ''}`;
  }

  sessionCookie(s: Session, now = Date.now()): string {
    return this.#cookie(
      this.sessionName,
      seal(this.#key, SESSION_AAD, JSON.stringify(s)),
      (s.exp - now) / 1000,
      'Strict',
    );
  }

  clearSession(): string {
    return this.#cookie(this.sessionName, '', 0, 'Strict');
  }

  loginCookie(p: PendingLogin, now = Date.now()): string {
    return this.#cookie(this.loginName, seal(this.#key, LOGIN_AAD, JSON.stringify(p)), (p.exp - now) / 1000, 'Lax');
  }

  clearLogin(): string {
    return this.#cookie(this.loginName, '', 0, 'Lax');
  }

  /** The session in the request's cookies, or undefined (absent, tampered, sealed by another key, expired). */
  session(cookieHeader: string | undefined, now = Date.now()): Session | undefined {
    const s = this.#open<Session>(readCookie(cookieHeader, this.sessionName), SESSION_AAD);
    return s && typeof s.token === 'string' && typeof s.sid === 'string' && Number.isInteger(s.login) && s.exp > now
      ? s
      : undefined;
  }

  pendingLogin(cookieHeader: string | undefined, now = Date.now()): PendingLogin | undefined {
    const p = this.#open<PendingLogin>(readCookie(cookieHeader, this.loginName), LOGIN_AAD);
    return p && typeof p.state === 'string' && typeof p.verifier === 'string' && p.exp > now ? p : undefined;
  }

  #open<T>(value: string | undefined, aad: string): T | undefined {
    if (!value || value.length > 8192) return undefined;
    try {
      return JSON.parse(unseal(this.#key, aad, value)) as T;
    } catch {
      return undefined;
    }
  }

  csrf(sid: string): string {
    return hmacSha256(this.#csrfKey, sid).toString('base64url');
  }

  csrfOk(sid: string, token: string | null): boolean {
    return sameBytes(token ?? '', this.csrf(sid));
  }
}

export function newSid(): string {
  return randomBytes(18).toString('base64url');
}

/** One cookie's value from a Cookie header (the first of that name). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header || header.length > 16_384) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}
