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
import { principalKey, type Principal } from '../gateway/context.ts';
import { isLoopback } from '../listeners/guards.ts';
import { ApiKeys, looksLikeApiKey } from './api-keys.ts';
import { TokenVerifier, type Principal as TokenPrincipal } from './jwt.ts';
import { metadataUrls, protectedResourceMetadata, wwwAuthenticate, type ProtectedResourceMetadata } from './prm.ts';
import type { ToolClass } from '../inventory/classify.ts';

const TOKEN = Symbol('gatehouse.callerToken');

/** The caller's own access token, for token exchange (undefined for API keys and anonymous callers). */
export function callerToken(p: Principal): string | undefined {
  return (p as unknown as Record<symbol, string | undefined>)[TOKEN];
}

const ANONYMOUS: Principal = { subject: 'anonymous', tenant: 'default', client: 'unknown', roles: [], scopes: [], authenticated: false, via: 'anonymous', issuer: '', key: 'anonymous' };
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

  constructor(cfg: IdentityConfig | undefined, allowUnauthenticated: 'loopback' | 'never', keys: ApiKeyStore) {
    this.#cfg = cfg;
    this.#anonymousLoopback = !cfg && allowUnauthenticated === 'loopback';
    if (!cfg) return;
    if (cfg.issuers.length || cfg.introspection) {
      this.#verifier = new TokenVerifier({
        issuers: cfg.issuers.length ? cfg.issuers : [{ issuer: cfg.introspection!.url }],
        audience: cfg.resource,
        clockToleranceSec: cfg.clockToleranceSec,
        claims: cfg.claims,
        introspection: cfg.introspection,
      });
    }
    if (cfg.apiKeys) this.#keys = new ApiKeys(keys);
    const urls = metadataUrls(cfg.resource);
    this.#metadataUrl = urls[0];
    this.metadataPaths = urls.map((u) => new URL(u).pathname);
    const scopes = [...new Set(Object.values(cfg.requiredScopes).flat())] as string[];
    this.#metadata = protectedResourceMetadata({ resource: cfg.resource, authorizationServers: cfg.issuers.map((i) => i.issuer), scopesSupported: scopes, resourceName: cfg.resourceName });
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
    const query = (req.url ?? '').split('?')[1] ?? '';
    if (QUERY_TOKEN.test(query)) throw new GatehouseError('E_INVALID_AUTH_REQUEST', 'access tokens in the query string are refused: send them in the authorization header');
    const cfg = this.#cfg;
    if (!cfg) {
      if (this.#anonymousLoopback && isLoopback(req.socket.remoteAddress)) return ANONYMOUS;
      throw new GatehouseError('E_UNAUTHENTICATED', 'authentication required: no identity provider is configured, so only loopback callers are served');
    }
    const auth = req.headers.authorization;
    if (!auth) throw new GatehouseError('E_UNAUTHENTICATED', 'authentication required: send a bearer token');
    const m = /^Bearer +([^\s]+) *$/i.exec(auth);
    if (!m) throw new GatehouseError('E_INVALID_AUTH_REQUEST', 'the authorization header must be `Bearer <token>`');
    const principal = await this.#verify(m[1]);
    this.requireScopes(principal, cfg.requiredScopes.mcp ?? []);
    // Kept for RFC 8693 token exchange with an upstream's authorization server only: not enumerable,
    // so it is in no JSON, log line or record made of the principal; it never goes to an upstream.
    if (principal.via === 'jwt' || principal.via === 'introspection') Object.defineProperty(principal, TOKEN, { value: m[1], enumerable: false });
    return principal;
  }

  async #verify(token: string): Promise<Principal> {
    const cfg = this.#cfg!;
    if (looksLikeApiKey(token)) {
      if (!this.#keys) throw new GatehouseError('E_INVALID_TOKEN', 'invalid token: api keys are not accepted here');
      const r = await this.#keys.verify(token);
      if (!r.ok) throw new GatehouseError('E_INVALID_TOKEN', `invalid token: ${r.reason}`);
      const k = r.record;
      const p = { subject: `apikey:${k.name}`, tenant: k.tenant, client: k.name, roles: k.roles, scopes: k.scopes, authenticated: true, via: 'api-key' as const, issuer: 'gatehouse' };
      return { ...p, key: principalKey(p) };
    }
    if (!this.#verifier) throw new GatehouseError('E_INVALID_TOKEN', 'invalid token: only api keys are accepted here');
    const r = await this.#verifier.verify(token);
    if (!r.ok) throw new GatehouseError('E_INVALID_TOKEN', `invalid token: ${r.reason}`);
    return fromToken(r.principal, cfg.defaultTenant);
  }

  /** 403 insufficient_scope unless the principal holds every scope in `needed`. */
  requireScopes(p: Principal, needed: readonly string[]): void {
    const missing = needed.filter((s) => !p.scopes.includes(s));
    if (missing.length) throw new GatehouseError('E_INSUFFICIENT_SCOPE', `insufficient scope: this needs ${missing.map((s) => `\`${s}\``).join(', ')}`, { scope: [...needed] });
  }

  /** Scopes a tools/call of this class needs (besides the `mcp` ones every request needs). */
  classScopes(cls: ToolClass): string[] {
    return this.#cfg?.requiredScopes[cls] ?? [];
  }

  /** Whether the principal may use the admin api. */
  isAdmin(p: Principal): boolean {
    return p.authenticated && p.roles.some((r) => this.#cfg?.adminRoles.includes(r));
  }

  /** Headers for an authentication failure: the RFC 6750 / 9728 challenge. */
  challenge(err: unknown): Record<string, string> {
    if (!this.#cfg || !(err instanceof GatehouseError)) return {};
    const url = this.#metadataUrl;
    switch (err.code) {
      case 'E_UNAUTHENTICATED':
        return { 'www-authenticate': wwwAuthenticate({ resourceMetadataUrl: url }) };
      case 'E_INVALID_TOKEN':
        return { 'www-authenticate': wwwAuthenticate({ resourceMetadataUrl: url, error: 'invalid_token', description: err.message }) };
      case 'E_INVALID_AUTH_REQUEST':
        return { 'www-authenticate': wwwAuthenticate({ resourceMetadataUrl: url, error: 'invalid_request', description: err.message }) };
      case 'E_INSUFFICIENT_SCOPE':
        return { 'www-authenticate': wwwAuthenticate({ resourceMetadataUrl: url, error: 'insufficient_scope', scope: (err.data as { scope?: string[] })?.scope }) };
      default:
        return {};
    }
  }
}

function fromToken(t: TokenPrincipal, defaultTenant: string | undefined): Principal {
  const tenant = t.tenant ?? defaultTenant;
  if (!tenant) throw new GatehouseError('E_INVALID_TOKEN', 'invalid token: no tenant claim');
  const p = { subject: t.subject, tenant, client: t.clientId ?? 'unknown', roles: [...t.roles], scopes: [...t.scopes], authenticated: true, via: t.via, issuer: t.issuer };
  return { ...p, key: principalKey(p) };
}
