// Access-token verification for the gateway as an OAuth 2.1 resource server (MCP authorization spec).
//
// JWTs are verified with jose against the JWKS of a CONFIGURED issuer; the unverified `iss` is only
// used to pick which key set to try, and is then verified like every other claim. Header parameters
// that point at keys (`jku`, `x5u`, `jwk`, `x5c`) are never consulted: keys come only from the issuer's
// configured or discovered jwks_uri. Opaque tokens go to RFC 7662 introspection when configured.
import type { JWTPayload, JWTVerifyGetKey } from 'jose';

/** jose is loaded with the first token to verify: a gateway without issuers never loads it. */
let jose: Promise<typeof import('jose')> | undefined;
const loadJose = () => {
  jose ??= import('jose');
  return jose;
};
import { exactAudience, fail, isAllowedFetchUrl, isObject, principalFromClaims, readJsonCapped } from './claims.ts';
import { gatewaySubject } from './principal.ts';
import type { ClaimNames, VerifyResult } from './claims.ts';
import { Introspector } from './introspection.ts';
import type { IntrospectionConfig } from './introspection.ts';

export type { Principal, VerifyResult, ClaimNames } from './claims.ts';

interface IssuerConfig {
  issuer: string;
  /** else discovered: <issuer>/.well-known/openid-configuration, then RFC 8414 oauth-authorization-server */
  jwksUri?: string;
  /** default ['RS256', 'PS256', 'ES256', 'EdDSA']; asymmetric algorithms only */
  algorithms?: string[];
  /** the longest lifetime a token of this issuer may claim; default: the verifier's maxTokenLifetimeSec */
  maxTokenLifetimeSec?: number;
}

export interface VerifierConfig {
  issuers: IssuerConfig[];
  /** the gateway's resource URL; compared exactly (no normalisation, no trailing-slash leniency) */
  audience: string;
  /** default 30 */
  clockToleranceSec?: number;
  /** the longest lifetime (exp - iat, or exp - now without iat) a token may claim; default 86400 (24 h) */
  maxTokenLifetimeSec?: number;
  claims?: ClaimNames;
  introspection?: IntrospectionConfig;
  /** timeout for discovery, JWKS and introspection requests; default 5000 */
  fetchTimeoutMs?: number;
  /** Told each time an issuer's keys could not be fetched (discovery or JWKS), with why; never a token. */
  onKeysUnavailable?: (issuer: string, reason: string) => void;
}

const DEFAULT_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'];
// Symmetric (HS*) and 'none' are excluded by construction: an HMAC "verified" with the issuer's PUBLIC
// key is the classic algorithm-confusion forgery.
const ASYMMETRIC = new Set([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
]);
const MAX_TOKEN_LENGTH = 16 * 1024;
const JWS_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
// RFC 6750 b64token: what an opaque bearer token may look like before it is sent anywhere.
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const DISCOVERY_RETRY_MS = 10_000;
const DEFAULT_MAX_LIFETIME_SEC = 24 * 3600;
/** A year: what any configuration may allow at most. */
const MAX_LIFETIME_LIMIT_SEC = 365 * 24 * 3600;

interface IssuerState {
  issuer: string;
  algorithms: string[];
  maxLifetimeSec: number;
  keys?: JWTVerifyGetKey;
  /** Configured, else discovered from the issuer's metadata. */
  jwksUri?: string;
  pending?: Promise<JWTVerifyGetKey>;
  failedAt?: number;
  /** Why discovery last failed (for the log while it is not retried). */
  failure?: string;
}

export class TokenVerifier {
  readonly #issuers = new Map<string, IssuerState>();
  readonly #audience: string;
  readonly #tolerance: number;
  readonly #claims: ClaimNames;
  readonly #timeoutMs: number;
  readonly #introspector?: Introspector;
  readonly #onKeysUnavailable: (issuer: string, reason: string) => void;

  /** Throws a TypeError for an unsafe or incomplete configuration (fail at start, not per request). */
  constructor(config: VerifierConfig) {
    if (!config.issuers?.length) throw new TypeError('identity: at least one issuer is required');
    if (typeof config.audience !== 'string' || !URL.canParse(config.audience))
      throw new TypeError('identity: audience must be an absolute URL');
    this.#audience = config.audience;
    this.#tolerance = config.clockToleranceSec ?? 30;
    if (!(this.#tolerance >= 0 && this.#tolerance <= 300))
      throw new TypeError('identity: clockToleranceSec must be 0..300');
    this.#claims = config.claims ?? {};
    this.#timeoutMs = config.fetchTimeoutMs ?? 5000;
    this.#onKeysUnavailable = config.onKeysUnavailable ?? (() => {});
    const defaultLifetime = lifetimeLimit(config.maxTokenLifetimeSec ?? DEFAULT_MAX_LIFETIME_SEC, 'identity');
    for (const ic of config.issuers) {
      if (!isAllowedFetchUrl(ic.issuer))
        throw new TypeError(`identity: issuer ${ic.issuer} must be https (http only on loopback)`);
      if (this.#issuers.has(ic.issuer)) throw new TypeError(`identity: issuer ${ic.issuer} is configured twice`);
      const algorithms = ic.algorithms ?? DEFAULT_ALGORITHMS;
      const bad = algorithms.filter((a) => !ASYMMETRIC.has(a));
      if (!algorithms.length || bad.length)
        throw new TypeError(`identity: algorithms not allowed for ${ic.issuer}: ${bad.join(', ') || '(empty)'}`);
      const maxLifetimeSec =
        ic.maxTokenLifetimeSec === undefined ? defaultLifetime : lifetimeLimit(ic.maxTokenLifetimeSec, ic.issuer);
      const state: IssuerState = { issuer: ic.issuer, algorithms, maxLifetimeSec };
      if (ic.jwksUri !== undefined) {
        if (!isAllowedFetchUrl(ic.jwksUri))
          throw new TypeError(`identity: jwksUri ${ic.jwksUri} must be https (http only on loopback)`);
        state.jwksUri = ic.jwksUri;
      }
      this.#issuers.set(ic.issuer, state);
    }
    if (config.introspection) {
      if (!isAllowedFetchUrl(config.introspection.url))
        throw new TypeError('identity: introspection url must be https (http only on loopback)');
      this.#introspector = new Introspector(config.introspection, {
        audience: this.#audience,
        issuers: new Set(this.#issuers.keys()),
        claims: this.#claims,
        clockToleranceSec: this.#tolerance,
        fetchTimeoutMs: this.#timeoutMs,
      });
    }
  }

  async verify(token: string): Promise<VerifyResult> {
    if (typeof token !== 'string' || token === '') return fail('missing token');
    if (token.length > MAX_TOKEN_LENGTH) return fail('token too large');
    try {
      if (JWS_SHAPE.test(token)) return await this.#verifyJwt(token);
      if (this.#introspector && B64TOKEN.test(token)) return await this.#introspector.verify(token);
      return fail('malformed token');
    } catch {
      return fail('verification failed');
    }
  }

  async #verifyJwt(token: string): Promise<VerifyResult> {
    const { decodeJwt, decodeProtectedHeader, jwtVerify } = await loadJose();
    let alg: unknown;
    let iss: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
      iss = decodeJwt(token).iss;
    } catch {
      return fail('malformed token');
    }
    const state = typeof iss === 'string' ? this.#issuers.get(iss) : undefined;
    if (!state) return fail(iss === undefined ? 'missing iss claim' : 'unknown issuer');
    if (typeof alg !== 'string' || !state.algorithms.includes(alg)) return fail('algorithm not allowed');

    let keys: JWTVerifyGetKey;
    try {
      keys = await this.#keysFor(state);
    } catch (err) {
      this.#onKeysUnavailable(state.issuer, (err as Error).message);
      return fail('issuer keys unavailable');
    }

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: state.issuer,
        audience: this.#audience,
        algorithms: state.algorithms,
        clockTolerance: this.#tolerance,
        requiredClaims: ['sub', 'exp'],
      }));
    } catch (err) {
      const reason = reasonFor(err);
      if (reason === 'issuer keys unavailable') this.#onKeysUnavailable(state.issuer, jwksProblem(err, state.jwksUri));
      return fail(reason);
    }
    // jose accepts an `aud` array that merely includes ours: only exactly ours is ours.
    if (!exactAudience(payload.aud, this.#audience)) return fail('wrong audience');
    // jose checks presence only; a numeric or empty `sub` would make a meaningless subject.
    if (typeof payload.sub !== 'string' || payload.sub === '') return fail('invalid sub claim');
    if (gatewaySubject(payload.sub)) return fail('reserved sub claim');
    const timing = this.#timingProblem(payload, state);
    if (timing) return fail(timing);
    return {
      ok: true,
      principal: principalFromClaims(payload as Record<string, unknown>, this.#claims, state.issuer, 'jwt'),
    };
  }

  /**
   * What jose leaves unchecked: an `iat` in the future (jose looks at it only with maxTokenAge), and a
   * lifetime longer than the issuer may grant. A token minted for ten years, by a mistake or with a
   * stolen signing key, would otherwise be honoured until then. Without `iat`, what is left of the
   * token's life counts, with the clock tolerance for this gateway's own clock.
   */
  #timingProblem(payload: JWTPayload, state: IssuerState): string | undefined {
    const now = Math.floor(Date.now() / 1000);
    const exp = payload.exp as number; // required and checked numeric by jose
    if (payload.iat !== undefined) {
      if (payload.iat > now + this.#tolerance) return 'token issued in the future';
      if (exp - payload.iat > state.maxLifetimeSec) return 'token lifetime too long';
    } else if (exp - now > state.maxLifetimeSec + this.#tolerance) return 'token lifetime too long';
    return undefined;
  }

  async #remoteKeys(jwksUri: string): Promise<JWTVerifyGetKey> {
    const { createRemoteJWKSet } = await loadJose();
    // cooldown: an unknown `kid` (rotation, or an attacker's ../../etc/passwd) refetches at most every 30 s.
    return createRemoteJWKSet(new URL(jwksUri), {
      timeoutDuration: this.#timeoutMs,
      cooldownDuration: 30_000,
      cacheMaxAge: 10 * 60_000,
    });
  }

  /** The issuer's key set, discovering jwks_uri once; a failed discovery is retried after a pause. */
  #keysFor(state: IssuerState): Promise<JWTVerifyGetKey> {
    if (state.keys) return Promise.resolve(state.keys);
    if (state.pending) return state.pending;
    if (state.failedAt !== undefined && Date.now() - state.failedAt < DISCOVERY_RETRY_MS) {
      return Promise.reject(
        new Error(`${state.failure ?? 'discovery failed'} (not retried for ${DISCOVERY_RETRY_MS / 1000} s)`),
      );
    }
    const uri = state.jwksUri ? Promise.resolve(state.jwksUri) : this.#discoverJwksUri(state.issuer);
    state.pending = uri.then(
      async (found) => {
        state.jwksUri = found;
        state.keys = await this.#remoteKeys(found);
        state.pending = undefined;
        return state.keys;
      },
      (err: unknown) => {
        state.failedAt = Date.now();
        state.failure = (err as Error).message;
        state.pending = undefined;
        throw err;
      },
    );
    return state.pending;
  }

  async #discoverJwksUri(issuer: string): Promise<string> {
    const tried: string[] = [];
    for (const url of discoveryUrls(issuer)) {
      let doc: unknown;
      try {
        const res = await fetch(url, {
          headers: { accept: 'application/json' },
          redirect: 'error',
          signal: AbortSignal.timeout(this.#timeoutMs),
        });
        if (!res.ok) {
          await res.body?.cancel();
          tried.push(`${url}: HTTP ${res.status}`);
          continue;
        }
        doc = await readJsonCapped(res);
      } catch (err) {
        tried.push(`${url}: ${fetchProblem(err)}`);
        continue;
      }
      // RFC 8414 §3.3 / OIDC Discovery §4.3: the document must name exactly the issuer we asked about.
      if (!isObject(doc) || doc.issuer !== issuer) {
        tried.push(`${url}: not a metadata document of this issuer`);
        continue;
      }
      if (typeof doc.jwks_uri === 'string' && isAllowedFetchUrl(doc.jwks_uri)) return doc.jwks_uri;
      tried.push(`${url}: no usable jwks_uri`);
    }
    throw new Error(`no usable discovery document (${tried.join('; ')})`);
  }
}

/** A configured lifetime limit, checked at start: whole seconds, 1 s to a year. */
function lifetimeLimit(sec: number, where: string): number {
  if (!Number.isInteger(sec) || sec < 1 || sec > MAX_LIFETIME_LIMIT_SEC)
    throw new TypeError(
      `identity: maxTokenLifetimeSec for ${where} must be a whole number of seconds, 1..${MAX_LIFETIME_LIMIT_SEC}`,
    );
  return sec;
}

/**
 * Discovery locations, OpenID first (append form, then RFC 8414 insert form for issuers with a path),
 * then RFC 8414 oauth-authorization-server (insert form), as the MCP authorization spec lists them.
 */
function discoveryUrls(issuer: string): string[] {
  const u = new URL(issuer);
  const path = u.pathname.replace(/\/+$/, '');
  const urls = [`${u.origin}${path}/.well-known/openid-configuration`];
  if (path) urls.push(`${u.origin}/.well-known/openid-configuration${path}`);
  urls.push(`${u.origin}/.well-known/oauth-authorization-server${path}`);
  return urls;
}

/** Why a fetch failed, in a few words: the network error's code (ENOTFOUND, ECONNREFUSED), a timeout, or its message. */
function fetchProblem(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'timed out';
  return e?.cause?.code ?? String(e?.message ?? err).slice(0, 200);
}

/** Why the JWKS could not be fetched (jose's code and message name the HTTP status or the timeout; never the token). */
function jwksProblem(err: unknown, jwksUri: string | undefined): string {
  const e = err as { code?: string };
  const why = e?.code && e.code !== 'ERR_JOSE_GENERIC' ? `${e.code}: ${(err as Error).message}` : fetchProblem(err);
  return `${jwksUri ? `${jwksUri}: ` : ''}${why.slice(0, 200)}`;
}

/** Maps a jose failure to a short, fixed, loggable reason (never echoing token content). */
function reasonFor(err: unknown): string {
  const e = err as { code?: string; claim?: string; reason?: string };
  switch (e?.code) {
    case 'ERR_JWT_EXPIRED':
      return 'token expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'aud') return 'wrong audience';
      if (e.claim === 'iss') return 'wrong issuer';
      if (e.reason === 'invalid') return 'invalid claims'; // e.g. a string `exp`
      if (e.claim === 'nbf') return 'token not yet valid';
      if (e.claim === 'sub' || e.claim === 'exp') return `missing ${e.claim} claim`;
      return 'invalid claims';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'algorithm not allowed';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'bad signature';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'no matching key';
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'ambiguous key';
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JWKS_INVALID':
    case 'ERR_JOSE_GENERIC': // e.g. a non-200 answer from the jwks_uri
      return 'issuer keys unavailable';
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return 'malformed token';
    default:
      // jose throws TypeError for mistyped claims ('"sub" claim must be a string'); a TypeError without
      // "claim" is fetch() failing to reach the jwks_uri.
      if (err instanceof TypeError) return /claim/.test(err.message) ? 'invalid claims' : 'issuer keys unavailable';
      return 'verification failed';
  }
}
