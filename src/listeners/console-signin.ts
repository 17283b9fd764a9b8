/**
 * Signing in to the console and out of it: the login page, the redirect to the identity provider
 * and the callback of each login at its own address, the session cookie set for an admin, and the
 * sign-out that ends the session on every replica. Each sign-in and sign-out is recorded.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '../identity/principal.ts';
import { GatehouseError } from '../protocol/errors.ts';
import { newSid, type ConsoleCookies, type Session } from '../console/session.ts';
import { consoleLogins, finishLogin, startLogin, type ConsoleLogin } from '../console/login.ts';
import { continuePage, loginPage, messagePage } from '../console/pages.ts';
import { redirect, send } from './console-response.ts';
import type { ConsoleDeps, Viewer, Who } from './console-viewer.ts';

/**
 * Where provider `index` sends the browser back. With several logins, each has its own address
 * (`<redirectPath>/<n>`, in the order listed), registered at its own provider only: a callback is
 * then taken only for the login that started it (the mix-up defence of RFC 9700 §4.4: a hostile
 * tenant provider that forwards the gateway's request to the platform's provider gets it refused there,
 * for a redirect address that provider does not know). One login keeps the plain path.
 */
function redirectUri(deps: ConsoleDeps, index: number, count: number): string {
  return `${deps.baseUrl.replace(/\/+$/, '')}${redirectPathOf(deps, index, count)}`;
}

function redirectPathOf(deps: ConsoleDeps, index: number, count: number): string {
  const base = deps.config.console?.redirectPath ?? '/console/callback';
  return count > 1 ? `${base}/${index + 1}` : base;
}

/** Origins of the identity providers: the login page's form leads there (CSP form-action covers redirects). */
function loginFormAction(logins: ConsoleLogin[]): string {
  return ["'self'", ...new Set(logins.map((l) => new URL(l.issuer).origin))].join(' ');
}

export async function handleLogin(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  deps: ConsoleDeps,
  cookies: ConsoleCookies,
  query: URLSearchParams,
): Promise<boolean> {
  const logins = consoleLogins(deps.config);
  const redirectPath = deps.config.console?.redirectPath ?? '/console/callback';
  if (path !== '/console/login' && path !== redirectPath && !path.startsWith(`${redirectPath}/`)) return false;
  if (typeof logins === 'string') {
    send(res, 404, messagePage(`The console cannot sign you in: ${logins}.`));
    return true;
  }
  const identity = deps.config.identity;
  if (!deps.identity.enabled || !identity) {
    redirect(res, '/console/inventory');
    return true;
  }
  const resource = identity.resource;
  if (path === '/console/login') {
    const i = Number(query.get('with') ?? 0);
    const l = Number.isInteger(i) ? logins[i] : undefined;
    if (!l) {
      send(res, 400, loginPage(logins, { problem: 'Choose where to sign in.' }), {}, loginFormAction(logins));
      return true;
    }
    const hint = query.get('login_hint')?.trim().slice(0, 200) || undefined;
    const { url, pending } = await startLogin(l, i, {
      redirectUri: redirectUri(deps, i, logins.length),
      resource,
      scopes: identity.requiredScopes.mcp ?? [],
      loginHint: hint,
    });
    redirect(res, url, [cookies.loginCookie(pending)]);
    return true;
  }
  const pending = cookies.pendingLogin(req.headers.cookie);
  // The browser must come back to the address of the login it set out with, and only there.
  const l = pending && path === redirectPathOf(deps, pending.login, logins.length) ? logins[pending.login] : undefined;
  if (!pending || !l) {
    send(
      res,
      400,
      loginPage(logins, { problem: 'This sign-in is unknown or expired: start again.' }),
      { 'set-cookie': cookies.clearLogin() },
      loginFormAction(logins),
    );
    return true;
  }
  let principal: Principal;
  let exp: number;
  try {
    const t = await finishLogin(l, pending, query, {
      redirectUri: redirectUri(deps, pending.login, logins.length),
      resource,
    });
    principal = await deps.identity.authenticateToken(t.accessToken);
    const tokenExp = tokenExpiry(t.accessToken) ?? t.expiresAt ?? Date.now() + 3600_000;
    exp = Math.min(tokenExp, Date.now() + (deps.config.console?.sessionHours ?? 8) * 3600_000);
    if (!deps.identity.adminScope(principal)) {
      await deps.record({
        kind: 'admin.action',
        actor: actorOf(principal),
        outcome: 'refused',
        detail: { action: 'console.login', via: 'console', reason: 'no admin role' },
      });
      send(
        res,
        403,
        loginPage(logins, {
          problem: `Signed in as ${principal.subject}, but this account has no admin role: the console needs one.`,
        }),
        { 'set-cookie': cookies.clearLogin() },
        loginFormAction(logins),
      );
      return true;
    }
    const session: Session = { token: t.accessToken, sid: newSid(), login: pending.login, exp };
    await deps.record({
      kind: 'admin.action',
      actor: actorOf(principal),
      detail: { action: 'console.login', via: 'console' },
    });
    send(res, 200, continuePage('/console/inventory'), {
      'set-cookie': [cookies.clearLogin(), cookies.sessionCookie(session)],
    });
  } catch (err) {
    const why = err instanceof GatehouseError ? err.message : 'the identity provider did not answer as expected';
    send(
      res,
      401,
      loginPage(logins, { problem: `Sign-in failed: ${why}` }),
      { 'set-cookie': cookies.clearLogin() },
      loginFormAction(logins),
    );
  }
  return true;
}

function actorOf(p: Principal) {
  return { subject: p.subject, tenant: p.tenant, via: p.via, issuer: p.issuer };
}

/** A JWT's `exp` (epoch ms), read after the Authenticator verified it; undefined for opaque tokens. */
function tokenExpiry(token: string): number | undefined {
  try {
    const exp = (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown })
      .exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** No valid session of an admin: the login page, with why (and the stale session cookie cleared). */
export function signInFirst(
  req: IncomingMessage,
  res: ServerResponse,
  w: Extract<Who, { login: string | undefined }>,
  deps: ConsoleDeps,
  cookies: ConsoleCookies,
): void {
  const logins = consoleLogins(deps.config);
  if (typeof logins === 'string') {
    send(res, 404, messagePage(`The console is not available: ${logins}.`));
    return;
  }
  const clear: Record<string, string> = w.clear ? { 'set-cookie': cookies.clearSession() } : {};
  if (req.method === 'POST')
    send(res, 401, loginPage(logins, { problem: 'Sign in first.' }), clear, loginFormAction(logins));
  else send(res, w.login ? 401 : 200, loginPage(logins, { problem: w.login }), clear, loginFormAction(logins));
}

/**
 * Sign out: the session ended in the store (a copy of its cookie is refused from now on, on every
 * replica, until it would have expired), recorded for a signed-in person, the cookie cleared, the
 * login page shown. Sessions whose cookies have expired are forgotten on the way.
 */
export async function signOut(
  res: ServerResponse,
  v: Viewer,
  deps: ConsoleDeps,
  cookies: ConsoleCookies,
): Promise<void> {
  await deps.store.consoleSignouts.end(v.session.sid, v.session.exp);
  await deps.store.consoleSignouts.purge(Date.now()).catch(() => {});
  if (v.principal.authenticated)
    await deps.record({
      kind: 'admin.action',
      actor: actorOf(v.principal),
      detail: { action: 'console.logout', via: 'console' },
    });
  const logins = consoleLogins(deps.config);
  return send(
    res,
    200,
    loginPage(typeof logins === 'string' ? [] : logins, { message: 'Signed out.' }),
    { 'set-cookie': cookies.clearSession() },
    typeof logins === 'string' ? undefined : loginFormAction(logins),
  );
}
