/**
 * Gatehouse as the OAuth client of upstream MCP servers that use OAuth: one token set per (server,
 * tenant), obtained by authorization code + PKCE with a resource indicator (RFC 8707), refreshed when
 * it expires, stored sealed (AES-256-GCM under the secrets key; replicas sharing GATEHOUSE_SECRETS_KEY
 * share the tokens). The verifier of an authorization in progress never leaves the store.
 *
 * The protocol is oauth4webapi's (discovery, grants, response checks), with what an attacker who
 * controls an authorization server's metadata could otherwise exploit closed here: the issuer and
 * every endpoint must be https (plain http only on a loopback address, for local servers and tests),
 * so a `javascript:` or `file:` authorization URL is never printed and no client secret or PKCE
 * verifier is sent in clear; metadata is found per RFC 8414 (the well-known path inserted before an
 * issuer's path) and then as OpenID Connect discovery, and must name the issuer exactly; every
 * response is read up to a size cap, with a timeout, and never follows a redirect.
 */
import { createHash, randomBytes } from 'node:crypto';
import { seal, unseal } from '../util/seal.ts';
import { systemClock, type Clock } from '../util/clock.ts';
import * as oauth from 'oauth4webapi';
import type { Config, HttpServerConfig } from '../config/schema.ts';
import { pagesBaseUrl } from '../config/pages-url.ts';
import type { UpstreamTokenStore } from '../storage/types.ts';
import { GatehouseError, quote } from '../protocol/errors.ts';
import { SecretsKeys } from './key-watch.ts';

/** Largest metadata or token response read (bytes): anything longer is refused, unread. */
export const MAX_OAUTH_RESPONSE_BYTES = 64 * 1024;
const TIMEOUT_MS = 10_000;
const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** Why `url` may not be an OAuth endpoint (https only; http on loopback), or undefined. */
export function endpointProblem(url: string | undefined, what: string): string | undefined {
  if (typeof url !== 'string' || !url) return `${what} is missing`;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `${what} \`${url.slice(0, 80)}\` is not a url`;
  }
  if (u.protocol === 'https:') return undefined;
  if (u.protocol === 'http:' && LOOPBACK.has(u.hostname)) return undefined;
  return `${what} \`${url.slice(0, 80)}\` must be https (plain http only on a loopback address)`;
}

const insecure = (url: string): boolean => new URL(url).protocol === 'http:';

/** fetch with a size cap on the body, a timeout, and no redirects (oauth4webapi's customFetch). */
async function cappedFetch(url: string, init: RequestInit): Promise<Response> {
  const r = await fetch(url, {
    ...init,
    redirect: 'error',
    signal: AbortSignal.any([AbortSignal.timeout(TIMEOUT_MS), ...(init.signal ? [init.signal] : [])]),
  });
  const declared = Number(r.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > MAX_OAUTH_RESPONSE_BYTES) {
    await r.body?.cancel();
    throw new Error(`response larger than ${MAX_OAUTH_RESPONSE_BYTES} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const c of (r.body ?? []) as AsyncIterable<Uint8Array>) {
    size += c.length;
    if (size > MAX_OAUTH_RESPONSE_BYTES) throw new Error(`response larger than ${MAX_OAUTH_RESPONSE_BYTES} bytes`);
    chunks.push(c);
  }
  return new Response(Buffer.concat(chunks), { status: r.status, statusText: r.statusText, headers: r.headers });
}

function options(url: string): { [oauth.customFetch]: typeof cappedFetch; [oauth.allowInsecureRequests]: boolean } {
  return { [oauth.customFetch]: cappedFetch, [oauth.allowInsecureRequests]: insecure(url) };
}

export interface TokenSet {
  access_token: string;
  refresh_token?: string;
  /** epoch ms */
  expires_at?: number;
}

/** The server's OAuth client settings; without them there is no authorization to start or use. */
function oauthOf(server: HttpServerConfig): NonNullable<HttpServerConfig['oauth']> {
  if (!server.oauth)
    throw new GatehouseError('E_CREDENTIAL_UNAVAILABLE', `server ${quote(server.name)} does not use oauth`);
  return server.oauth;
}

type Metadata = oauth.AuthorizationServer & { authorization_endpoint: string; token_endpoint: string };

const PENDING_MS = 10 * 60_000;
const SKEW_MS = 30_000;

export class UpstreamOAuth {
  readonly #store: UpstreamTokenStore;
  /** The secrets key, and those it replaced while this process ran (credentials/key-watch.ts). */
  readonly #keys: SecretsKeys;
  readonly #meta = new Map<string, Promise<Metadata>>();
  readonly #refreshing = new Map<string, Promise<TokenSet>>();
  readonly #clock: Clock;

  constructor(store: UpstreamTokenStore, key: Buffer | SecretsKeys, clock: Clock = systemClock) {
    this.#store = store;
    this.#keys = key instanceof SecretsKeys ? key : new SecretsKeys(key);
    this.#clock = clock;
  }

  /** A stored token set, opened with whichever key sealed it; throws when none does. */
  async #open(server: string, tenant: string, sealed: string, aside = true): Promise<{ t: TokenSet; stale: boolean }> {
    const o = await this.#keys.open((k) => unseal(k, `${server}\u0000${tenant}`, sealed), aside);
    return { t: JSON.parse(o.value) as TokenSet, stale: o.stale };
  }

  #metadata(issuer: string): Promise<Metadata> {
    let m = this.#meta.get(issuer);
    if (!m) {
      m = discover(issuer);
      m.catch(() => this.#meta.delete(issuer));
      this.#meta.set(issuer, m);
    }
    return m;
  }

  /** Start an authorization for (server, tenant): the URL a person opens. */
  async authorizeUrl(server: HttpServerConfig, tenant: string, redirectUri: string): Promise<string> {
    const o = oauthOf(server);
    const meta = await this.#metadata(o.issuer);
    const verifier = oauth.generateRandomCodeVerifier();
    const state = randomBytes(24).toString('base64url');
    await this.#store.addPending({
      state,
      server: server.name,
      tenant,
      sealedVerifier: seal(this.#keys.current, `pkce\u0000${state}`, verifier),
      createdAt: this.#clock.now(),
    });
    const u = new URL(meta.authorization_endpoint);
    const params = {
      response_type: 'code',
      client_id: o.clientId,
      redirect_uri: redirectUri,
      state,
      resource: o.resource ?? server.url,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      scope: (o.scopes ?? []).join(' '),
    };
    for (const [k, v] of Object.entries(params)) if (v) u.searchParams.set(k, v);
    return u.href;
  }

  /** The redirect back: exchange the code (once, within ten minutes), keep the tokens sealed. */
  async complete(
    servers: (name: string) => HttpServerConfig | undefined,
    state: string,
    code: string,
    redirectUri: string,
    iss?: string,
  ): Promise<{ server: string; tenant: string }> {
    const p = await this.#store.takePending(state);
    if (!p || this.#clock.now() - p.createdAt > PENDING_MS)
      throw new GatehouseError(
        'E_INVALID_PARAMS',
        'this authorization is unknown or expired: start again with `gatehouse upstream authorize`',
      );
    const server = servers(p.server);
    if (!server?.oauth) throw new GatehouseError('E_INVALID_PARAMS', `server ${quote(p.server)} no longer uses oauth`);
    const verifier = await this.#keys
      .open((k) => unseal(k, `pkce\u0000${state}`, p.sealedVerifier))
      .then((o) => o.value)
      .catch(() => {
        throw new GatehouseError(
          'E_INVALID_PARAMS',
          'this authorization was started under another secrets key: start again with `gatehouse upstream authorize`',
        );
      });
    const tokens = await this.#token(server, (as, client, auth, extra) => {
      const params = oauth.validateAuthResponse(
        as,
        client,
        new URLSearchParams({ code, state, ...(iss !== undefined ? { iss } : {}) }),
        state,
      );
      return oauth.authorizationCodeGrantRequest(as, client, auth, params, redirectUri, verifier, extra);
    });
    await this.#save(server.name, p.tenant, tokens);
    return { server: p.server, tenant: p.tenant };
  }

  /**
   * The redirect back without a code (the person refused, or the authorization server failed): the
   * authorization the state names, taken so its state is spent; undefined when unknown or expired.
   */
  async abandon(state: string): Promise<{ server: string; tenant: string } | undefined> {
    const p = await this.#store.takePending(state);
    if (!p || this.#clock.now() - p.createdAt > PENDING_MS) return undefined;
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
    if (cached && (cached.expires_at === undefined || cached.expires_at - SKEW_MS > this.#clock.now()))
      return cached.access_token;
    const t = await this.#token(server, (as, client, auth, { additionalParameters, ...extra }) =>
      oauth.genericTokenEndpointRequest(
        as,
        client,
        auth,
        'urn:ietf:params:oauth:grant-type:token-exchange',
        {
          subject_token: subjectToken,
          subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          ...(additionalParameters as Record<string, string>),
        },
        extra,
      ),
    );
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
      throw new GatehouseError(
        'E_CREDENTIAL_UNAVAILABLE',
        `server ${quote(server.name)} is not authorized for ${who} yet: run \`gatehouse upstream authorize ${server.name} --tenant ${t}${subject ? ` --subject ${subject}` : ''}\``,
      );
    }
    let { t } = await this.#open(server.name, tenant, sealed).catch(() => {
      throw new GatehouseError(
        'E_CREDENTIAL_UNAVAILABLE',
        `the authorization of server ${quote(server.name)} for tenant ${quote(tenant)} does not open with this gateway's secrets key: authorize again`,
      );
    });
    if (t.expires_at !== undefined && t.expires_at - SKEW_MS < this.#clock.now()) {
      if (!t.refresh_token)
        throw new GatehouseError(
          'E_CREDENTIAL_UNAVAILABLE',
          `the authorization of server ${quote(server.name)} for tenant ${quote(tenant)} expired: authorize again`,
        );
      const key = `${server.name}\u0000${tenant}`;
      let pending = this.#refreshing.get(key);
      if (!pending) {
        const refresh = t.refresh_token;
        pending = this.#token(server, (as, client, auth, extra) =>
          oauth.refreshTokenGrantRequest(as, client, auth, refresh, extra),
        )
          .then(async (fresh) => {
            const next = { ...fresh, refresh_token: fresh.refresh_token ?? t.refresh_token };
            await this.#save(server.name, tenant, next);
            return next;
          })
          .finally(() => this.#refreshing.delete(key));
        this.#refreshing.set(key, pending);
      }
      t = await pending.catch(() => {
        throw new GatehouseError(
          'E_CREDENTIAL_UNAVAILABLE',
          `the authorization of server ${quote(server.name)} for tenant ${quote(tenant)} could not be refreshed: authorize again`,
        );
      });
    }
    return t.access_token;
  }

  /**
   * The tokens stored for every server and owner, access and refresh tokens alike, leaving out the
   * rows `seen` holds at the same update time (`seen` is brought up to date: pass the same map again
   * to read only what changed since, whatever the writer's clock): the values an outbound check must
   * know though no connection of this process holds them (credentials/known-secrets.ts). A row this
   * key cannot open (another gateway's key, a damaged row) is left out.
   */
  async storedTokens(seen = new Map<string, number>()): Promise<string[]> {
    const values: string[] = [];
    for (const r of await this.#store.list()) {
      const key = `${r.server}\u0000${r.tenant}`;
      if (seen.get(key) === r.updatedAt) continue;
      seen.set(key, r.updatedAt);
      const sealed = await this.#store.get(r.server, r.tenant);
      if (!sealed) continue;
      try {
        const { t } = await this.#open(r.server, r.tenant, sealed, false);
        values.push(t.access_token, ...(t.refresh_token ? [t.refresh_token] : []));
      } catch {
        // not ours to read
      }
    }
    return values;
  }

  /** One grant at the token endpoint, with the resource indicator; the response checked by oauth4webapi. */
  async #token(
    server: HttpServerConfig,
    grant: (
      as: Metadata,
      client: oauth.Client,
      auth: oauth.ClientAuth,
      extra: oauth.TokenEndpointRequestOptions,
    ) => Promise<Response>,
  ): Promise<TokenSet> {
    const o = oauthOf(server);
    const refused = (why: string) =>
      new GatehouseError(
        'E_CREDENTIAL_UNAVAILABLE',
        `the authorization server of ${quote(server.name)} refused: ${why.slice(0, 120)}`,
      );
    let meta: Metadata;
    try {
      meta = await this.#metadata(o.issuer);
    } catch (err) {
      throw refused((err as Error).message);
    }
    const client: oauth.Client = { client_id: o.clientId };
    const auth = o.clientSecret ? oauth.ClientSecretBasic(o.clientSecret) : oauth.None();
    const extra = { ...options(meta.token_endpoint), additionalParameters: { resource: o.resource ?? server.url } };
    let j: oauth.TokenEndpointResponse;
    try {
      const r = await grant(meta, client, auth, extra);
      j = await oauth.processGenericTokenEndpointResponse(meta, client, r);
    } catch (err) {
      const e = err as { error?: string; message?: string };
      throw refused(String(e.error ?? e.message ?? 'error'));
    }
    return {
      access_token: j.access_token,
      refresh_token: j.refresh_token,
      expires_at: typeof j.expires_in === 'number' ? this.#clock.now() + j.expires_in * 1000 : undefined,
    };
  }

  async #save(server: string, tenant: string, t: TokenSet): Promise<void> {
    await this.#store.put(
      server,
      tenant,
      seal(this.#keys.current, `${server}\u0000${tenant}`, JSON.stringify(t)),
      this.#clock.now(),
    );
  }

  /**
   * Every stored token set sealed under a key this one replaced, sealed again under the current key
   * (its update time kept: the tokens are the same), and every pending authorization's verifier; the
   * number of token sets re-sealed. Rows no held key opens
   * (another key's, damaged) are left as they are. A row replaced while this runs (a refresh on a
   * replica) is not overwritten with the older tokens it read: it is read again just before, which
   * leaves the moment between that read and the write, as for any two writers of the store.
   */
  async resealStale(): Promise<number> {
    return (await this.resealAll()).tokens.resealed;
  }

  /**
   * resealStale, counted for the token sets and the pending verifiers: those re-sealed now, those under
   * the current key already (never sealed again), and those no held key opens; `onRow` is told before
   * the first token set and after each (done, of).
   */
  async resealAll(onRow?: (done: number, of: number) => void): Promise<{ tokens: ResealTally; pending: ResealTally }> {
    const tokens: ResealTally = { resealed: 0, current: 0, unreadable: 0 };
    const rows = await this.#store.list();
    onRow?.(0, rows.length);
    for (const [i, r] of rows.entries()) {
      tokens[await this.#resealRow(r)]++;
      onRow?.(i + 1, rows.length);
    }
    return { tokens, pending: await this.#resealPending() };
  }

  async #resealRow(r: { server: string; tenant: string; updatedAt: number }): Promise<keyof ResealTally> {
    const sealed = await this.#store.get(r.server, r.tenant);
    if (!sealed) return 'current'; // deleted meanwhile: nothing left under any key
    const opened = await this.#open(r.server, r.tenant, sealed, false).catch(() => undefined);
    if (!opened) return 'unreadable';
    if (!opened.stale || (await this.#store.get(r.server, r.tenant)) !== sealed) return 'current';
    const again = seal(this.#keys.current, `${r.server}\u0000${r.tenant}`, JSON.stringify(opened.t));
    await this.#store.put(r.server, r.tenant, again, r.updatedAt);
    return 'resealed';
  }

  /** The PKCE verifiers of authorizations still pending, likewise (a row taken meanwhile is left alone). */
  async #resealPending(): Promise<ResealTally> {
    const tally: ResealTally = { resealed: 0, current: 0, unreadable: 0 };
    for (const p of await this.#store.listPending()) {
      const aad = `pkce\u0000${p.state}`;
      const opened = await this.#keys.open((k) => unseal(k, aad, p.sealedVerifier), false).catch(() => undefined);
      if (!opened) tally.unreadable++;
      else if (!opened.stale) tally.current++;
      else if (await this.#store.resealPending(p.state, p.sealedVerifier, seal(this.#keys.current, aad, opened.value)))
        tally.resealed++;
      else tally.current++; // taken meanwhile
    }
    return tally;
  }
}

/** What a re-sealing pass found: sealed again now, under the current key already, opened by no held key. */
export interface ResealTally {
  resealed: number;
  current: number;
  unreadable: number;
}

/**
 * Authorization server metadata for `issuer`: RFC 8414 first (`/.well-known/oauth-authorization-server`
 * inserted before the issuer's path), then OpenID Connect discovery; the document must name the
 * issuer exactly and its endpoints must be https (or loopback http).
 */
async function discover(issuer: string): Promise<Metadata> {
  const bad = endpointProblem(issuer, 'the issuer');
  if (bad) throw new GatehouseError('E_CREDENTIAL_UNAVAILABLE', bad);
  const url = new URL(issuer);
  const problems: string[] = [];
  for (const algorithm of ['oauth2', 'oidc'] as const) {
    try {
      const r = await oauth.discoveryRequest(url, { algorithm, ...options(issuer) });
      const as = await oauth.processDiscoveryResponse(url, r);
      for (const [key, what] of [
        ['authorization_endpoint', 'the authorization endpoint'],
        ['token_endpoint', 'the token endpoint'],
      ] as const) {
        const p = endpointProblem(as[key], what);
        if (p) throw new GatehouseError('E_CREDENTIAL_UNAVAILABLE', `the metadata of ${issuer}: ${p}`);
      }
      return as as Metadata;
    } catch (err) {
      if (err instanceof GatehouseError) throw err;
      problems.push(`${algorithm}: ${(err as Error).message}`);
    }
  }
  throw new GatehouseError(
    'E_CREDENTIAL_UNAVAILABLE',
    `no usable authorization server metadata for ${issuer} (${problems.join('; ').slice(0, 300)})`,
  );
}

/** The upstream OAuth redirect URI, among the gateway's pages (config/pages-url.ts). */
export function oauthCallbackUrl(config: Config, url = ''): string {
  return `${pagesBaseUrl(config, url)}/oauth/callback`;
}
