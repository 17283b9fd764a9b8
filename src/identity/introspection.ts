// RFC 7662 token introspection for opaque (non-JWT) access tokens.
//
// Only an answer with `active: true` counts, and even then the gateway re-checks audience, issuer and
// expiry itself: an authorization server shared by several resources may happily say "active" for a
// token minted for someone else. Answers are cached briefly, keyed by SHA-256 of the token, so the raw
// token never sits in memory as a map key (heap dumps, debug listings): positive ones up to 30 s (never
// past `exp`), negative ones 10 s (an unreachable server 1 s), each cache bounded; concurrent
// lookups of one token share one introspection call. A flood of one bad token costs one call, not one each.
import { createHash } from 'node:crypto';
import { exactAudience, fail, isObject, principalFromClaims, readJsonCapped } from './claims.ts';
import { gatewaySubject } from './principal.ts';
import type { ClaimNames, Principal, VerifyResult } from './claims.ts';

export interface IntrospectionConfig {
  url: string;
  clientId: string;
  clientSecret: string;
}

export interface IntrospectorOptions {
  audience: string;
  issuers: ReadonlySet<string>;
  claims: ClaimNames;
  clockToleranceSec: number;
  fetchTimeoutMs: number;
  /** how long a positive answer may be reused; capped at 30 s and never past the token's exp */
  cacheTtlMs?: number;
  /** entries kept in each cache (positive, negative); default 10 000 */
  cacheEntries?: number;
  now?: () => number;
}

const MAX_CACHE_TTL_MS = 30_000;
const MAX_CACHE_ENTRIES = 10_000;
const NEGATIVE_TTL_MS = 10_000;
const UNAVAILABLE_TTL_MS = 1_000;

export const tokenHash = (token: string): string => createHash('sha256').update(token).digest('base64url');

export class Introspector {
  readonly #config: IntrospectionConfig;
  readonly #opts: IntrospectorOptions;
  readonly #cache = new Map<string, { principal: Principal; until: number }>();
  readonly #negative = new Map<string, { result: VerifyResult; until: number }>();
  readonly #inFlight = new Map<string, Promise<VerifyResult>>();
  readonly #auth: string;
  readonly #now: () => number;

  constructor(config: IntrospectionConfig, opts: IntrospectorOptions) {
    this.#config = config;
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    // RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding.
    const id = encodeURIComponent(config.clientId);
    const secret = encodeURIComponent(config.clientSecret);
    this.#auth = `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
  }

  async verify(token: string): Promise<VerifyResult> {
    const key = tokenHash(token);
    const now = this.#now();
    const hit = this.#cache.get(key);
    if (hit && hit.until > now) return { ok: true, principal: hit.principal };
    if (hit) this.#cache.delete(key);
    const miss = this.#negative.get(key);
    if (miss && miss.until > now) return miss.result;
    if (miss) this.#negative.delete(key);
    const pending = this.#inFlight.get(key);
    if (pending) return pending;
    const p = this.#introspect(token, key, now)
      .then((result) => {
        if (!result.ok) {
          const ttl =
            result.reason === 'introspection unavailable' || result.reason === 'introspection failed'
              ? UNAVAILABLE_TTL_MS
              : NEGATIVE_TTL_MS;
          if (this.#negative.size >= (this.#opts.cacheEntries ?? MAX_CACHE_ENTRIES))
            this.#negative.delete(this.#negative.keys().next().value as string);
          this.#negative.set(key, { result, until: now + ttl });
        }
        return result;
      })
      .finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, p);
    return p;
  }

  async #introspect(token: string, key: string, now: number): Promise<VerifyResult> {
    let body: unknown;
    try {
      const res = await fetch(this.#config.url, {
        method: 'POST',
        headers: {
          authorization: this.#auth,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
        redirect: 'error',
        signal: AbortSignal.timeout(this.#opts.fetchTimeoutMs),
      });
      if (!res.ok) {
        await res.body?.cancel();
        return fail('introspection failed');
      }
      body = await readJsonCapped(res);
    } catch {
      return fail('introspection unavailable');
    }
    if (!isObject(body)) return fail('introspection failed');
    if (body.active !== true) return fail('token inactive');

    const { audience, issuers, clockToleranceSec } = this.#opts;
    if (!exactAudience(body.aud, audience)) return fail('wrong audience');
    if (body.iss !== undefined && !(typeof body.iss === 'string' && issuers.has(body.iss))) return fail('wrong issuer');
    if (body.sub === undefined) return fail('missing sub claim');
    if (typeof body.sub !== 'string' || body.sub === '') return fail('invalid sub claim');
    if (gatewaySubject(body.sub)) return fail('reserved sub claim');
    if (typeof body.exp !== 'number' || !Number.isFinite(body.exp)) return fail('missing exp claim');
    const tolMs = clockToleranceSec * 1000;
    if (body.exp * 1000 <= now - tolMs) return fail('token expired');
    if (typeof body.nbf === 'number' && body.nbf * 1000 > now + tolMs) return fail('token not yet valid');

    // Without `iss` the answer is attributed to the introspection endpoint itself, never guessed.
    const issuer = typeof body.iss === 'string' ? body.iss : this.#config.url;
    const principal = principalFromClaims(body, this.#opts.claims, issuer, 'introspection');
    const ttl = Math.min(this.#opts.cacheTtlMs ?? MAX_CACHE_TTL_MS, MAX_CACHE_TTL_MS);
    const until = Math.min(now + ttl, principal.expiresAt);
    if (until > now) {
      if (this.#cache.size >= (this.#opts.cacheEntries ?? MAX_CACHE_ENTRIES))
        this.#cache.delete(this.#cache.keys().next().value as string);
      this.#cache.set(key, { principal, until });
    }
    return { ok: true, principal };
  }

  /** For tests and diagnostics: the cache keys (token hashes). */
  cacheKeys(): string[] {
    return [...this.#cache.keys()];
  }

  /** For tests and diagnostics: how many refusals are cached. */
  get negativeEntries(): number {
    return this.#negative.size;
  }
}
