/**
 * Who is asking the console: what the console is given (`ConsoleDeps`), the session cookie sealer
 * (one key for every replica, kept in the store), and the viewer of a request: a valid session of an
 * admin, or why they must sign in. Also lends a console session to the approval page.
 */
import type { IncomingMessage } from 'node:http';
import type { FanoutMessage } from '../sessions/fanout.ts';
import type { Config } from '../config/schema.ts';
import type { Store } from '../storage/types.ts';
import type { AdminScope, Authenticator } from '../identity/authenticator.ts';
import type { ApprovalService } from '../approvals/service.ts';
import type { AuditInput } from '../audit/log.ts';
import type { Principal } from '../identity/principal.ts';
import type { ApprovalPageDeps } from './approvals-http.ts';
import { GatehouseError } from '../protocol/errors.ts';
import { isLoopback } from '../util/address.ts';
import { ConsoleCookies, newSid, type Session } from '../console/session.ts';

export interface ConsoleDeps {
  config: Config;
  store: Store;
  identity: Authenticator;
  approvals: ApprovalService;
  /** Origins the gateway serves (a present Origin on a POST must be one). */
  origins: Set<string>;
  record: (input: AuditInput) => Promise<unknown>;
  /** How people reach the gateway: publicUrl, else the listen address. */
  baseUrl: string;
  /** An incident's containment or lift: in force here first, then fanned out (AdminDeps.announce). */
  announce: (msg: FanoutMessage) => Promise<boolean>;
}

const COOKIES = new WeakMap<Store, Map<boolean, Promise<ConsoleCookies>>>();

/** The cookie sealer: one key for every replica (kept in the store), Secure unless plain http on loopback. */
export function cookiesFor(deps: ConsoleDeps): Promise<ConsoleCookies> {
  const base = new URL(deps.baseUrl);
  const secure = !(
    base.protocol === 'http:' &&
    (base.hostname === 'localhost' || isLoopback(base.hostname.replace(/^\[|\]$/g, '')))
  );
  const m = COOKIES.get(deps.store) ?? new Map<boolean, Promise<ConsoleCookies>>();
  COOKIES.set(deps.store, m);
  let c = m.get(secure);
  if (!c) {
    c = deps.store.approvals.sharedKey('console-session').then((k) => new ConsoleCookies(k, secure));
    c.catch(() => m.delete(secure));
    m.set(secure, c);
  }
  return c;
}

export interface Viewer {
  principal: Principal;
  scope: AdminScope;
  session: Session;
  /** Cookies to set with the answer (a fresh local session). */
  setCookies: string[];
}

export type Who = { viewer: Viewer } | { login: string | undefined; clear: boolean };

/** Who is asking: a valid session of an admin, or why they must sign in. */
export async function who(req: IncomingMessage, deps: ConsoleDeps, cookies: ConsoleCookies): Promise<Who> {
  const session = cookies.session(req.headers.cookie);
  if (!deps.identity.enabled) {
    // Local development: loopback callers only (the Authenticator says so), a cookie just for CSRF.
    const principal = await deps.identity.authenticate(req);
    const s = session ?? { token: '', sid: newSid(), login: -1, exp: Date.now() + 8 * 3600_000 };
    return {
      viewer: {
        principal,
        scope: { platform: true },
        session: s,
        setCookies: session ? [] : [cookies.sessionCookie(s)],
      },
    };
  }
  if (!session) return { login: undefined, clear: req.headers.cookie?.includes(cookies.sessionName) ?? false };
  if (await deps.store.consoleSignouts.ended(session.sid))
    return { login: 'This session was signed out: sign in again.', clear: true };
  let principal: Principal;
  try {
    principal = await deps.identity.authenticateToken(session.token);
  } catch (err) {
    return {
      login: `Your session has ended (${err instanceof GatehouseError ? err.message : 'the token was refused'}): sign in again.`,
      clear: true,
    };
  }
  const scope = deps.identity.adminScope(principal);
  if (!scope) return { login: 'Your account has no admin role: the console needs one.', clear: true };
  return { viewer: { principal, scope, session, setCookies: [] } };
}

/**
 * The approval page for a person signed in to the console: with no Authorization header and a valid
 * console session, the approval page sees the session's person (verified exactly as a bearer token
 * would be). Its own CSRF, Origin and approver checks stay as they are.
 */
export async function withConsoleViewer(
  req: IncomingMessage,
  approval: ApprovalPageDeps,
  deps: ConsoleDeps | undefined,
): Promise<ApprovalPageDeps> {
  // Any Authorization header, even an empty one, goes the bearer way (several were refused at the listener's entry).
  if (!deps?.identity.enabled || req.headers.authorization !== undefined || !req.headers.cookie) return approval;
  const session = (await cookiesFor(deps)).session(req.headers.cookie);
  if (!session || (await deps.store.consoleSignouts.ended(session.sid))) return approval;
  const principal = await deps.identity.authenticateToken(session.token).catch(() => undefined);
  if (!principal) return approval;
  const identity = new Proxy(approval.identity, {
    get(target, prop) {
      if (prop === 'authenticate') return async () => principal;
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  // The form is bound to this console session: a token from an earlier sign-in is spent (walk AA).
  return { ...approval, identity, binding: `console:${session.sid}` };
}
