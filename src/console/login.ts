/**
 * Signing people in to the console: OpenID Connect authorization code + PKCE (S256) with a nonce and
 * the gateway's resource indicator (RFC 8707) on both requests, against one of `identity.issuers`
 * (oauth4webapi). What comes back is an access token for the gateway's own resource, which the
 * console then verifies like any bearer token: same keys, same audience, same tenant binding.
 */
import * as oauth from 'oauth4webapi';
import type { Config } from '../config/schema.ts';
import { GatehouseError } from '../protocol/errors.ts';
import { LOGIN_TTL_MS, type PendingLogin } from './session.ts';

export interface ConsoleLogin {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  label: string;
}

/** The console's logins from the config: the `clientId` shorthand first, then `logins`; each issuer must be an identity issuer. */
export function consoleLogins(config: Config): ConsoleLogin[] | string {
  const c = config.console;
  if (!c) return 'the console is not configured (add a `console` section)';
  const issuers = config.identity?.issuers.map((i) => i.issuer) ?? [];
  if (!config.identity) return [];
  const out: ConsoleLogin[] = [];
  if (c.clientId)
    out.push({ issuer: c.issuer ?? issuers[0], clientId: c.clientId, clientSecret: c.clientSecret, label: '' });
  for (const l of c.logins ?? [])
    out.push({ issuer: l.issuer, clientId: l.clientId, clientSecret: l.clientSecret, label: l.label ?? '' });
  for (const l of out) {
    if (!l.issuer || !issuers.includes(l.issuer))
      return `console login issuer \`${l.issuer ?? ''}\` is not one of identity.issuers`;
    l.label ||= new URL(l.issuer).host;
  }
  return out.length ? out : 'the console has no login: set `console.clientId` (or `console.logins`)';
}

const insecure = (url: string): boolean => new URL(url).protocol === 'http:';
const opts = (url: string) => ({ [oauth.allowInsecureRequests]: insecure(url) });

const META = new Map<string, Promise<oauth.AuthorizationServer>>();

async function metadata(issuer: string): Promise<oauth.AuthorizationServer> {
  let m = META.get(issuer);
  if (!m) {
    const url = new URL(issuer);
    m = oauth
      .discoveryRequest(url, { algorithm: 'oidc', ...opts(issuer) })
      .then((r) => oauth.processDiscoveryResponse(url, r));
    m.catch(() => META.delete(issuer));
    META.set(issuer, m);
  }
  return m;
}

function client(l: ConsoleLogin): { client: oauth.Client; auth: oauth.ClientAuth } {
  return {
    client: { client_id: l.clientId },
    auth: l.clientSecret ? oauth.ClientSecretBasic(l.clientSecret) : oauth.None(),
  };
}

/** Where to send the browser, and what to remember (sealed in a cookie) until it comes back. */
export async function startLogin(
  l: ConsoleLogin,
  index: number,
  o: { redirectUri: string; resource: string; scopes: string[]; loginHint?: string },
): Promise<{ url: string; pending: PendingLogin }> {
  const as = await metadata(l.issuer);
  if (!as.authorization_endpoint)
    throw new GatehouseError('E_INTERNAL', 'the identity provider names no authorization endpoint');
  const verifier = oauth.generateRandomCodeVerifier();
  const pending: PendingLogin = {
    state: oauth.generateRandomState(),
    verifier,
    nonce: oauth.generateRandomNonce(),
    login: index,
    exp: Date.now() + LOGIN_TTL_MS,
  };
  const u = new URL(as.authorization_endpoint);
  const params: Record<string, string> = {
    response_type: 'code',
    client_id: l.clientId,
    redirect_uri: o.redirectUri,
    scope: ['openid', ...o.scopes].join(' '),
    resource: o.resource,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  };
  if (o.loginHint) params.login_hint = o.loginHint;
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return { url: u.href, pending };
}

/** The provider sent the browser back: check state (and `iss`), redeem the code once, return the access token. */
export async function finishLogin(
  l: ConsoleLogin,
  pending: PendingLogin,
  query: URLSearchParams,
  o: { redirectUri: string; resource: string },
): Promise<{ accessToken: string; expiresAt?: number }> {
  const as = await metadata(l.issuer);
  const { client: c, auth } = client(l);
  let params: URLSearchParams;
  try {
    params = oauth.validateAuthResponse(as, c, query, pending.state);
  } catch (err) {
    throw new GatehouseError('E_UNAUTHENTICATED', `sign-in failed: ${(err as Error).message.slice(0, 200)}`);
  }
  const r = await oauth.authorizationCodeGrantRequest(as, c, auth, params, o.redirectUri, pending.verifier, {
    additionalParameters: { resource: o.resource },
    ...opts(l.issuer),
  });
  try {
    const t = await oauth.processAuthorizationCodeResponse(as, c, r, {
      expectedNonce: pending.nonce,
      requireIdToken: true,
    });
    return { accessToken: t.access_token, expiresAt: t.expires_in ? Date.now() + t.expires_in * 1000 : undefined };
  } catch (err) {
    throw new GatehouseError('E_UNAUTHENTICATED', `sign-in failed: ${(err as Error).message.slice(0, 200)}`);
  }
}
