/**
 * Who is calling, for the HTTP listener: the OAuth 2.1 resource server of the MCP authorization
 * spec. A bearer token is an API key (`ghk_...`) or an access token (JWT verified against a configured
 * issuer's keys, or an opaque token through introspection); the principal comes from the verified
 * credential only. Missing or refused credentials are 401 with a `WWW-Authenticate` challenge that
 * names the protected resource metadata; scopes that fall short are 403 `insufficient_scope`.
 * Without an identity config, only loopback callers are served, anonymously (if allowed).
 */
import type { IncomingMessage } from 'node:http';
import type { IdentityConfig } from '../config/schema.ts';
import { GatehouseError } from '../protocol/errors.ts';
import type { ApiKeyStore } from '../storage/types.ts';
import { ANONYMOUS_KEY, ANONYMOUS_SUBJECT, API_KEY_ISSUER, principalKey, type Principal } from './principal.ts';
import { isLoopback, listedAddress } from '../util/address.ts';
import { ApiKeys, looksLikeApiKey } from './api-keys.ts';
import { TokenVerifier, type Principal as TokenPrincipal } from './jwt.ts';
import { metadataUrls, protectedResourceMetadata, wwwAuthenticate, type ProtectedResourceMetadata } from './prm.ts';
import type { ToolClass } from '../model/tool-class.ts';
import { bindTenant, checkBindings, isPlatformIssuer, type IssuerBinding } from './tenant-binding.ts';
import type { PrincipalRevocations } from './revocations.ts';
import type { AuthFailures } from './auth-failures.ts';
import { forwardedClient, hasForwardingHeaders } from './forwarded.ts';
import { authorizationHeader } from './authorization-header.ts';
import { IssuerKeyWarnings } from './key-warnings.ts';
import { isServiceKeySubject, serviceKeySubject } from '../model/approval.ts';

export interface AuthenticatorOptions {
  /** Revoked subjects and token ids (followed from the store). */
  revocations?: PrincipalRevocations;
  /** Where authentication failures are recorded (aggregated). */
  failures?: AuthFailures;
  /** Without identity: proxies whose forwarding headers are believed. */
  trustedProxies?: readonly string[];
  /** Where an issuer whose keys cannot be fetched is reported (once a minute per issuer). */
  log?: { warn(fields: Record<string, unknown>, msg: string): void };
}

/** Who may use the admin api, and for what: every tenant, or one. */
export type AdminScope = { platform: true } | { platform: false; tenant: string };

const TOKEN = Symbol('gatehouse.callerToken');
/** The bearer credential as presented and when it was last verified: `recheck` verifies it again. */
const PRESENTED = Symbol('gatehouse.presented');
interface Presented {
  token: string;
  verifiedAt: number;
}

/** The caller's own access token, for token exchange (undefined for API keys and anonymous callers). */
export function callerToken(p: Principal): string | undefined {
  return (p as unknown as Record<symbol, string | undefined>)[TOKEN];
}

const presentedBy = (p: Principal): Presented | undefined =>
  (p as unknown as Record<symbol, Presented | undefined>)[PRESENTED];

/**
 * Whether `recheck` has nothing to do: the principal's credential was verified within `maxAgeMs`, or
 * it presented none (anonymous, local). Synchronous, for the call path of every request.
 */
export function verifiedWithin(p: Principal, maxAgeMs: number): boolean {
  const c = presentedBy(p);
  return !c || performance.now() - c.verifiedAt <= maxAgeMs;
}

const ANONYMOUS: Principal = {
  subject: ANONYMOUS_SUBJECT,
  tenant: 'default',
  client: 'unknown',
  roles: [],
  scopes: [],
  authenticated: false,
  via: 'anonymous',
  issuer: '',
  key: ANONYMOUS_KEY,
};
const QUERY_TOKEN = /(?:^|&)(?:access_token|token|api_key|apikey)=/i;

export class Authenticator {
  readonly #cfg: IdentityConfig | undefined;
  readonly #anonymousLoopback: boolean;
  readonly #verifier: TokenVerifier | undefined;
  readonly #keys: ApiKeys | undefined;
  /** Where the metadata is served (path-suffixed form first), and the document. */
  readonly metadataPaths: string[] = [];
  readonly #metadataUrl: string = '';
  readonly #metadata: ProtectedResourceMetadata | undefined;
  readonly #opts: AuthenticatorOptions;
  readonly #bindings = new Map<string, IssuerBinding>();
  #issuerCount = 0;

  constructor(
    cfg: IdentityConfig | undefined,
    allowUnauthenticated: 'loopback' | 'never',
    keys: ApiKeyStore,
    opts: AuthenticatorOptions = {},
  ) {
    this.#cfg = cfg;
    this.#opts = opts;
    this.#anonymousLoopback = !cfg && allowUnauthenticated === 'loopback';
    if (!cfg) return;
    const issuers = configuredIssuers(cfg);
    checkBindings(issuers);
    this.#issuerCount = issuers.length;
    for (const i of issuers)
      this.#bindings.set(i.issuer, { tenant: i.tenant, tenants: i.tenants, platform: i.platform });
    if (issuers.length) {
      const log = opts.log;
      const warnings = log && new IssuerKeyWarnings((fields, msg) => log.warn(fields, msg));
      this.#verifier = new TokenVerifier({
        onKeysUnavailable: warnings && ((issuer, reason) => warnings.note(issuer, reason)),
        issuers,
        audience: cfg.resource,
        clockToleranceSec: cfg.clockToleranceSec,
        maxTokenLifetimeSec: cfg.maxTokenLifetimeSec,
        claims: cfg.claims,
        introspection: cfg.introspection,
      });
    }
    if (cfg.apiKeys) this.#keys = new ApiKeys(keys);
    const urls = metadataUrls(cfg.resource);
    this.#metadataUrl = urls[0];
    this.metadataPaths = urls.map((u) => new URL(u).pathname);
    const scopes = [...new Set(Object.values(cfg.requiredScopes).flat())] as string[];
    this.#metadata = protectedResourceMetadata({
      resource: cfg.resource,
      authorizationServers: cfg.issuers.map((i) => i.issuer),
      scopesSupported: scopes,
      resourceName: cfg.resourceName,
    });
  }

  get enabled(): boolean {
    return this.#cfg !== undefined;
  }

  /** The RFC 9728 document, or undefined when no identity is configured. */
  get metadata(): ProtectedResourceMetadata | undefined {
    return this.#metadata;
  }

  /** The verified principal of an HTTP request; throws a GatehouseError (401/403) otherwise. */
  async authenticate(req: IncomingMessage): Promise<Principal> {
    try {
      return await this.#authenticate(req);
    } catch (err) {
      // Scopes that fall short are authorization, not authentication: the call's own refusal records them.
      // A store that is away failed the gateway, not the credential: no authentication failure either.
      if (err instanceof GatehouseError && err.code !== 'E_INSUFFICIENT_SCOPE' && err.code !== 'E_STORE_UNAVAILABLE') {
        const seen = (err.data as { refused?: Partial<TokenPrincipal> & { tenantClaim?: string | null } } | undefined)
          ?.refused;
        this.#opts.failures?.note({
          reason: err.message.replace(/^invalid token: /, ''),
          code: err.code,
          remote: req.socket.remoteAddress,
          issuer: seen?.issuer,
          subject: seen?.subject,
          tenant: seen?.tenantClaim ?? undefined,
          via: seen?.via,
        });
      }
      throw err;
    }
  }

  async #authenticate(req: IncomingMessage): Promise<Principal> {
    // Refused with or without identity: a proxy in front may read the other header.
    const auth = authorizationHeader(req);
    const query = (req.url ?? '').split('?')[1] ?? '';
    if (QUERY_TOKEN.test(query))
      throw new GatehouseError(
        'E_INVALID_AUTH_REQUEST',
        'access tokens in the query string are refused: send them in the authorization header',
      );
    const cfg = this.#cfg;
    if (!cfg) {
      const remote = req.socket.remoteAddress;
      // Behind a reverse proxy every caller arrives from the proxy's (often loopback) address: the
      // caller is the one the proxy names, and only a named proxy is believed.
      if (hasForwardingHeaders(req.headers)) {
        const trusted = this.#opts.trustedProxies ?? [];
        if (!remote || !listedAddress(trusted, remote)) {
          throw new GatehouseError(
            'E_UNAUTHENTICATED',
            'authentication required: a forwarded request reached a gateway without identity, and its proxy is not in gateway.trustedProxies',
          );
        }
        const client = forwardedClient(req.headers, trusted);
        if (this.#anonymousLoopback && client !== undefined && isLoopback(client)) return this.#anonymous();
        throw new GatehouseError(
          'E_UNAUTHENTICATED',
          'authentication required: no identity provider is configured, so only loopback callers are served',
        );
      }
      if (this.#anonymousLoopback && isLoopback(remote)) return this.#anonymous();
      throw new GatehouseError(
        'E_UNAUTHENTICATED',
        'authentication required: no identity provider is configured, so only loopback callers are served',
      );
    }
    if (!auth) throw new GatehouseError('E_UNAUTHENTICATED', 'authentication required: send a bearer token');
    const m = /^Bearer +([^\s]+) *$/i.exec(auth);
    if (!m) throw new GatehouseError('E_INVALID_AUTH_REQUEST', 'the authorization header must be `Bearer <token>`');
    const principal = await this.#verify(cfg, m[1]);
    this.requireScopes(principal, cfg.requiredScopes.mcp ?? []);
    // Kept for RFC 8693 token exchange with an upstream's authorization server only: not enumerable,
    // so it is in no JSON, log line or record made of the principal; it never goes to an upstream.
    if (principal.via === 'jwt' || principal.via === 'introspection')
      Object.defineProperty(principal, TOKEN, { value: m[1], enumerable: false });
    // Also not enumerable: kept so that a request that waits (a slow body, an approval) is checked again.
    const presented: Presented = { token: m[1], verifiedAt: performance.now() };
    Object.defineProperty(principal, PRESENTED, { value: presented, enumerable: false });
    return principal;
  }

  /**
   * The anonymous caller, unless its subject is revoked. Without identity every caller is `anonymous`:
   * that is the name the audit trail shows, so it is the name an operator revokes (or contains in an
   * incident), and the revocation refuses every caller without a credential until it is restored.
   */
  #anonymous(): Principal {
    const why = this.#opts.revocations?.revoked(ANONYMOUS);
    if (why)
      throw new GatehouseError('E_UNAUTHENTICATED', `${why}: every caller without a credential is refused`, {
        refused: { subject: ANONYMOUS.subject, issuer: ANONYMOUS.issuer, via: ANONYMOUS.via },
      });
    return ANONYMOUS;
  }

  /**
   * The principal's credential verified again when it was last verified more than `maxAgeMs` ago: an
   * API key or a person revoked since, a token expired, an issuer or API keys no longer accepted by
   * this (reloaded) configuration. Throws as `authenticate` does; a credential that now names another
   * principal is refused. Anonymous and local principals (no credential presented) have nothing to check.
   */
  /**
   * Why a principal that presented no credential (the anonymous caller without identity, the local
   * user of `gatehouse stdio`) is refused now, or undefined: its subject revoked since. An in-memory
   * lookup, asked by every request's first stage and by every check again of a request that waited
   * or a stream that stays open (walk O: the revocation reached only new HTTP requests).
   */
  revokedWithoutCredential(p: Principal): string | undefined {
    if (presentedBy(p)) return undefined;
    const why = this.#opts.revocations?.revoked(p);
    if (!why) return undefined;
    return p.subject === ANONYMOUS_SUBJECT ? `${why}: every caller without a credential is refused` : why;
  }

  async recheck(p: Principal, maxAgeMs: number): Promise<void> {
    const revoked = this.revokedWithoutCredential(p);
    if (revoked) throw new GatehouseError('E_UNAUTHENTICATED', revoked);
    if (verifiedWithin(p, maxAgeMs)) return;
    const c = presentedBy(p) as Presented;
    if (!this.#cfg)
      throw new GatehouseError('E_UNAUTHENTICATED', 'authentication required: identity is configured differently now');
    const again = await this.#verify(this.#cfg, c.token);
    if (again.key !== p.key || again.tenant !== p.tenant)
      throw new GatehouseError('E_INVALID_TOKEN', 'invalid token: it no longer names the same principal');
    c.verifiedAt = performance.now();
  }

  /** A bare credential (the CLI's `--as`): the checks of a bearer token, without an HTTP request. */
  async authenticateToken(token: string): Promise<Principal> {
    const cfg = this.#cfg;
    if (!cfg)
      throw new GatehouseError(
        'E_UNAUTHENTICATED',
        'authentication required: no identity provider is configured, so credentials mean nothing here',
      );
    return this.#verify(cfg, token.trim());
  }

  async #verify(cfg: IdentityConfig, token: string): Promise<Principal> {
    if (looksLikeApiKey(token)) {
      if (!this.#keys) throw new GatehouseError('E_INVALID_TOKEN', 'invalid token: api keys are not accepted here');
      const r = await this.#keys.verify(token);
      if (!r.ok) throw new GatehouseError('E_INVALID_TOKEN', `invalid token: ${r.reason}`);
      const k = r.record;
      // The key's own identity owns its sessions; the person it acts for (when it names one) is the
      // subject, so two keys of one person are one person to the two-person rule.
      const own = {
        via: 'api-key' as const,
        issuer: API_KEY_ISSUER,
        subject: serviceKeySubject(k.name),
        tenant: k.tenant,
      };
      const p = {
        subject: k.subject ?? own.subject,
        tenant: k.tenant,
        client: k.name,
        roles: k.roles,
        scopes: k.scopes,
        authenticated: true,
        via: 'api-key' as const,
        issuer: API_KEY_ISSUER,
      };
      const why = this.#opts.revocations?.revoked(p);
      if (why)
        throw new GatehouseError('E_INVALID_TOKEN', `invalid token: ${why}`, {
          refused: { subject: p.subject, issuer: p.issuer, via: p.via, tenantClaim: p.tenant },
        });
      return { ...p, key: principalKey(own) };
    }
    if (!this.#verifier) throw new GatehouseError('E_INVALID_TOKEN', 'invalid token: only api keys are accepted here');
    const r = await this.#verifier.verify(token);
    if (!r.ok) throw new GatehouseError('E_INVALID_TOKEN', `invalid token: ${r.reason}`);
    const t = r.principal;
    const refused = { subject: t.subject, issuer: t.issuer, via: t.via, tenantClaim: t.tenant };
    const bound = bindTenant(this.#bindings.get(t.issuer), this.#issuerCount, t.tenant, cfg.defaultTenant);
    if (!bound.ok) throw new GatehouseError('E_INVALID_TOKEN', `invalid token: ${bound.reason}`, { refused });
    const why = this.#opts.revocations?.revoked(t);
    if (why) throw new GatehouseError('E_INVALID_TOKEN', `invalid token: ${why}`, { refused });
    return fromToken(t, bound.tenant);
  }

  /** 403 insufficient_scope unless the principal holds every scope in `needed`. */
  requireScopes(p: Principal, needed: readonly string[]): void {
    const missing = needed.filter((s) => !p.scopes.includes(s));
    if (missing.length)
      throw new GatehouseError(
        'E_INSUFFICIENT_SCOPE',
        `insufficient scope: this needs ${missing.map((s) => `\`${s}\``).join(', ')}`,
        { scope: [...needed] },
      );
  }

  /** Scopes a tools/call of this class needs (besides the `mcp` ones every request needs). */
  classScopes(cls: ToolClass): string[] {
    return this.#cfg?.requiredScopes[cls] ?? [];
  }

  /** Whether the principal may use the admin api. */
  isAdmin(p: Principal): boolean {
    return this.adminScope(p) !== undefined;
  }

  /**
   * What the principal may administer. Without identity (loopback only): everything. A platform
   * admin role counts from an API key (made by an operator) or a platform issuer only; an admin role
   * from a tenant's issuer, or an API key, administers that tenant; from a platform issuer, every tenant.
   */
  adminScope(p: Principal): AdminScope | undefined {
    const cfg = this.#cfg;
    if (!cfg) return { platform: true };
    if (!p.authenticated) return undefined;
    const platformIssuer =
      (p.via === 'jwt' || p.via === 'introspection') &&
      isPlatformIssuer(this.#bindings.get(p.issuer), this.#issuerCount);
    if (p.roles.some((r) => cfg.platformAdminRoles.includes(r)) && (p.via === 'api-key' || platformIssuer))
      return { platform: true };
    if (p.roles.some((r) => cfg.adminRoles.includes(r)))
      return platformIssuer ? { platform: true } : { platform: false, tenant: p.tenant };
    return undefined;
  }

  /** Whether this credential stands for a person (not a service key): only people approve. */
  isPerson(p: Principal): boolean {
    if (!p.authenticated) return !this.#cfg;
    return !(p.via === 'api-key' && isServiceKeySubject(p.subject));
  }

  /**
   * Headers for an authentication failure: the RFC 6750 / 9728 challenge; for a credential that could
   * not be checked because the store is away, when to try again (as the other 503s say).
   */
  challenge(err: unknown): Record<string, string> {
    if (!this.#cfg || !(err instanceof GatehouseError)) return {};
    const url = this.#metadataUrl;
    switch (err.code) {
      case 'E_STORE_UNAVAILABLE':
        return { 'retry-after': String(STORE_RETRY_AFTER_S) };
      case 'E_UNAUTHENTICATED':
        return { 'www-authenticate': wwwAuthenticate({ resourceMetadataUrl: url }) };
      case 'E_INVALID_TOKEN':
        return {
          'www-authenticate': wwwAuthenticate({
            resourceMetadataUrl: url,
            error: 'invalid_token',
            description: err.message,
          }),
        };
      case 'E_INVALID_AUTH_REQUEST':
        return {
          'www-authenticate': wwwAuthenticate({
            resourceMetadataUrl: url,
            error: 'invalid_request',
            description: err.message,
          }),
        };
      case 'E_INSUFFICIENT_SCOPE':
        return {
          'www-authenticate': wwwAuthenticate({
            resourceMetadataUrl: url,
            error: 'insufficient_scope',
            scope: (err.data as { scope?: string[] })?.scope,
          }),
        };
      default:
        return {};
    }
  }
}

/** Retry-After of a credential the store could not check: long enough for a failover, short for a blip. */
const STORE_RETRY_AFTER_S = 5;

/** The issuers whose tokens are verified: the configured ones, else the introspection endpoint alone. */
function configuredIssuers(cfg: IdentityConfig): Array<{ issuer: string } & IssuerBinding> {
  if (cfg.issuers.length) return cfg.issuers;
  if (cfg.introspection) return [{ issuer: cfg.introspection.url }];
  return [];
}

function fromToken(t: TokenPrincipal, tenant: string): Principal {
  const p = {
    subject: t.subject,
    tenant,
    client: t.clientId ?? 'unknown',
    roles: [...t.roles],
    scopes: [...t.scopes],
    authenticated: true,
    via: t.via,
    issuer: t.issuer,
  };
  return { ...p, key: principalKey(p) };
}
