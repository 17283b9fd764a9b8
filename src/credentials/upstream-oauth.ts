/**
 * Gatehouse as the OAuth client of upstream MCP servers that use OAuth: one token set per (server,
 * tenant), obtained by authorization code + PKCE with a resource indicator (RFC 8707), refreshed when
 * it expires, stored sealed (AES-256-GCM under the secrets key; replicas sharing GATEHOUSE_SECRETS_KEY
 * share the tokens). The verifier of an authorization in progress never leaves the store.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { HttpServerConfig } from '../config/schema.ts';
import type { UpstreamTokenStore } from '../storage/types.ts';
import { GatehouseError, quote } from '../protocol/errors.ts';

export interface TokenSet {
  access_token: string;
  refresh_token?: string;
  /** epoch ms */
  expires_at?: number;
}

interface Metadata {
  authorization_endpoint: string;
  token_endpoint: string;
}

const PENDING_MS = 10 * 60_000;
const SKEW_MS = 30_000;

export function seal(key: Buffer, aad: string, plain: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad));
  const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  return [iv, c.getAuthTag(), body].map((b) => b.toString('base64url')).join('.');
}

export function unseal(key: Buffer, aad: string, sealed: string): string {
  const [iv, tag, body] = sealed.split('.').map((p) => Buffer.from(p, 'base64url'));
  const d = createDecipheriv('aes-256-gcm', key, iv);
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(tag);
  return Buffer.concat([d.update(body), d.final()]).toString('utf8');
}

export class UpstreamOAuth {
  readonly #store: UpstreamTokenStore;
  readonly #key: Buffer;
  readonly #meta = new Map<string, Promise<Metadata>>();
  readonly #refreshing = new Map<string, Promise<TokenSet>>();

  constructor(store: UpstreamTokenStore, key: Buffer) {
    this.#store = store;
    this.#key = key;
  }

  #metadata(issuer: string): Promise<Metadata> {
    let m = this.#meta.get(issuer);
    if (!m) {
      m = (async () => {
        const base = issuer.replace(/\/+$/, '');
        for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
          const r = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5000), redirect: 'error' }).catch(() => undefined);
          if (r?.ok) {
            const j = (await r.json()) as Partial<Metadata> & { issuer?: string };
            if (j.authorization_endpoint && j.token_endpoint && (!j.issuer || j.issuer.replace(/\/+$/, '') === base)) return j as Metadata;
          }
        }
        throw new Error(`no authorization server metadata at ${issuer}`);
      })();
      m.catch(() => this.#meta.delete(issuer));
      this.#meta.set(issuer, m);
    }
    return m;
  }

  /** Start an authorization for (server, tenant): the URL a person opens. */
  async authorizeUrl(server: HttpServerConfig, tenant: string, redirectUri: string): Promise<string> {
    const o = server.oauth!;
    const meta = await this.#metadata(o.issuer);
    const verifier = randomBytes(32).toString('base64url');
    const state = randomBytes(24).toString('base64url');
    await this.#store.addPending({ state, server: server.name, tenant, sealedVerifier: seal(this.#key, `pkce\u0000${state}`, verifier), createdAt: Date.now() });
    const u = new URL(meta.authorization_endpoint);
    const params = {
      response_type: 'code', client_id: o.clientId, redirect_uri: redirectUri, state, resource: o.resource ?? server.url,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256', scope: (o.scopes ?? []).join(' '),
    };
    for (const [k, v] of Object.entries(params)) if (v) u.searchParams.set(k, v);
    return u.href;
  }

  /** The redirect back: exchange the code (once, within ten minutes), keep the tokens sealed. */
  async complete(servers: (name: string) => HttpServerConfig | undefined, state: string, code: string, redirectUri: string): Promise<{ server: string; tenant: string }> {
    const p = await this.#store.takePending(state);
    if (!p || Date.now() - p.createdAt > PENDING_MS) throw new GatehouseError('E_INVALID_PARAMS', 'this authorization is unknown or expired: start again with `gatehouse upstream authorize`');
    const server = servers(p.server);
    if (!server?.oauth) throw new GatehouseError('E_INVALID_PARAMS', `server ${quote(p.server)} no longer uses oauth`);
    const verifier = unseal(this.#key, `pkce\u0000${state}`, p.sealedVerifier);
    const tokens = await this.#token(server, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier });
    await this.#save(server.name, p.tenant, tokens);
    return { server: p.server, tenant: p.tenant };
  }

  readonly #exchanged = new Map<string, TokenSet>();

  /**
   * RFC 8693: the caller's access token exchanged for one for this server, cached (by the subject
   * token's hash, never the token) until shortly before it expires.
   */
  async exchange(server: HttpServerConfig, subjectToken: string): Promise<string> {
    const key = `${server.name}\u0000${createHash('sha256').update(subjectToken).digest('hex')}`;
    const cached = this.#exchanged.get(key);
    if (cached && (cached.expires_at === undefined || cached.expires_at - SKEW_MS > Date.now())) return cached.access_token;
    const t = await this.#token(server, {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: subjectToken,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    });
    if (this.#exchanged.size > 10_000) this.#exchanged.clear();
    this.#exchanged.set(key, t);
    return t.access_token;
  }

  /** A valid access token for (server, tenant), refreshed when due; fails closed when there is none. */
  async accessToken(server: HttpServerConfig, tenant: string): Promise<string> {
    const sealed = await this.#store.get(server.name, tenant);
    if (!sealed) {
      const [t, subject] = tenant.split('/');
      const who = subject ? `user ${quote(subject)} of tenant ${quote(t)}` : `tenant ${quote(t)}`;
      throw new GatehouseError('E_CREDENTIAL_UNAVAILABLE', `server ${quote(server.name)} is not authorized for ${who} yet: run \`gatehouse upstream authorize ${server.name} --tenant ${t}${subject ? ` --subject ${subject}` : ''}\``);
    }
    let t = JSON.parse(unseal(this.#key, `${server.name}\u0000${tenant}`, sealed)) as TokenSet;
    if (t.expires_at !== undefined && t.expires_at - SKEW_MS < Date.now()) {
      if (!t.refresh_token) throw new GatehouseError('E_CREDENTIAL_UNAVAILABLE', `the authorization of server ${quote(server.name)} for tenant ${quote(tenant)} expired: authorize again`);
      const key = `${server.name}\u0000${tenant}`;
      let pending = this.#refreshing.get(key);
      if (!pending) {
        pending = this.#token(server, { grant_type: 'refresh_token', refresh_token: t.refresh_token })
          .then(async (fresh) => {
            const next = { ...fresh, refresh_token: fresh.refresh_token ?? t.refresh_token };
            await this.#save(server.name, tenant, next);
            return next;
          })
          .finally(() => this.#refreshing.delete(key));
        this.#refreshing.set(key, pending);
      }
      t = await pending.catch(() => {
        throw new GatehouseError('E_CREDENTIAL_UNAVAILABLE', `the authorization of server ${quote(server.name)} for tenant ${quote(tenant)} could not be refreshed: authorize again`);
      });
    }
    return t.access_token;
  }

  async #token(server: HttpServerConfig, grant: Record<string, string>): Promise<TokenSet> {
    const o = server.oauth!;
    const meta = await this.#metadata(o.issuer);
    const body = new URLSearchParams({ ...grant, resource: o.resource ?? server.url });
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    if (o.clientSecret) headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(o.clientId)}:${encodeURIComponent(o.clientSecret)}`).toString('base64')}`;
    else body.set('client_id', o.clientId);
    const r = await fetch(meta.token_endpoint, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000), redirect: 'error' });
    const j = (await r.json().catch(() => ({}))) as { access_token?: string; refresh_token?: string; expires_in?: number; error?: string };
    if (!r.ok || !j.access_token) throw new GatehouseError('E_CREDENTIAL_UNAVAILABLE', `the authorization server of ${quote(server.name)} refused: ${String(j.error ?? r.status).slice(0, 60)}`);
    return { access_token: j.access_token, refresh_token: j.refresh_token, expires_at: typeof j.expires_in === 'number' ? Date.now() + j.expires_in * 1000 : undefined };
  }

  async #save(server: string, tenant: string, t: TokenSet): Promise<void> {
    await this.#store.put(server, tenant, seal(this.#key, `${server}\u0000${tenant}`, JSON.stringify(t)), Date.now());
  }
}
