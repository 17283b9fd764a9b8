/**
 * The operator console at `/console/`: server-rendered pages with no JavaScript, a strict CSP, the
 * same identity as the admin API. People sign in at a configured identity provider (authorization
 * code + PKCE, `src/console/login.ts`); the session is a sealed cookie holding their access token,
 * re-verified on every request (`src/console/session.ts`). What they see and may change follows their
 * admin scope: a tenant admin its own tenant, a platform admin everything; anyone else is refused.
 * Every form carries a CSRF token, and a present Origin must be one the gateway serves. Without
 * identity (local development) the console serves loopback callers, as the admin API does.
 *
 * Routes: GET inventory | approvals | modes | audit | audit/runs/<id> | keys | readiness;
 * POST inventory/accept | inventory/classify | modes/set | modes/clear | keys/create | keys/revoke |
 * logout; GET login and the redirect path (default /console/callback).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FanoutMessage } from '../sessions/fanout.ts';
import type { Config } from '../config/schema.ts';
import type { Store } from '../storage/types.ts';
import type { AdminScope, Authenticator } from '../identity/authenticator.ts';
import type { ApprovalService } from '../approvals/service.ts';
import type { AuditInput } from '../audit/log.ts';
import type { Principal } from '../identity/principal.ts';
import type { ApprovalPageDeps } from './approvals-http.ts';
import { GatehouseError } from '../protocol/errors.ts';
import { positionParam, readBody, timeParam } from './guards.ts';
import { isLoopback } from '../util/address.ts';
import { isAllowedApprover } from '../approvals/lifecycle.ts';
import { ViewerLimits } from '../approvals/viewer-limits.ts';
import { inventoryRows, reviewChanges } from '../inventory/report.ts';
import { inventoryFor } from '../inventory/tenant-view.ts';
import { readiness, summary } from '../readiness/check.ts';
import { gatherState } from '../readiness/state.ts';
import { timeline } from '../audit/timeline.ts';
import { runRecords } from '../audit/runs.ts';
import { getIncident, IncidentError } from '../incident/incident.ts';
import { CONSOLE_CSS, CONSOLE_CSS_PATH } from '../console/css.ts';
import { ConsoleCookies, newSid, type Session } from '../console/session.ts';
import { consoleLogins, finishLogin, startLogin, type ConsoleLogin } from '../console/login.ts';
import * as actions from '../console/actions.ts';
import {
  approvalsPage,
  auditPage,
  chainPage,
  continuePage,
  incidentPage,
  incidentsPage,
  inventoryPage,
  keysPage,
  loginPage,
  messagePage,
  modesPage,
  readinessPage,
  runPage,
  type AuditFilters,
  type ChainProof,
  type View,
} from '../console/pages.ts';
import { chainHash, type AuditEvent } from '../model/audit-event.ts';
import { decodeSegment } from '../util/path-segment.ts';

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

const MAX_FORM = 16 * 1024;
const PAGE_SIZE = 50;
// Per person, in this process: pages (a search walked in a loop) and actions (a form posted in a loop).
const LIMITS = {
  pages: new ViewerLimits({ burst: 120, perSecond: 2 }),
  actions: new ViewerLimits({ burst: 30, perSecond: 0.5 }),
};

function headers(formAction = "'self'"): Record<string, string> {
  return {
    'content-security-policy': `default-src 'none'; style-src 'self'; form-action ${formAction}; base-uri 'none'; frame-ancestors 'none'`,
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'same-origin',
    'cache-control': 'no-store',
  };
}

function send(
  res: ServerResponse,
  status: number,
  html: string,
  extra: Record<string, string | string[]> = {},
  formAction?: string,
): void {
  res.writeHead(status, {
    ...headers(formAction),
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    ...extra,
  });
  res.end(html);
}

function redirect(res: ServerResponse, to: string, cookies: string[] = []): void {
  res.writeHead(303, {
    ...headers(),
    location: to,
    'content-length': 0,
    ...(cookies.length ? { 'set-cookie': cookies } : {}),
  });
  res.end();
}

const COOKIES = new WeakMap<Store, Map<boolean, Promise<ConsoleCookies>>>();

/** The cookie sealer: one key for every replica (kept in the store), Secure unless plain http on loopback. */
function cookiesFor(deps: ConsoleDeps): Promise<ConsoleCookies> {
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

interface Viewer {
  principal: Principal;
  scope: AdminScope;
  session: Session;
  /** Cookies to set with the answer (a fresh local session). */
  setCookies: string[];
}

type Who = { viewer: Viewer } | { login: string | undefined; clear: boolean };

/** Who is asking: a valid session of an admin, or why they must sign in. */
async function who(req: IncomingMessage, deps: ConsoleDeps, cookies: ConsoleCookies): Promise<Who> {
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

function view(v: Viewer, cookies: ConsoleCookies, flash?: View['flash']): View {
  const p = v.principal;
  return {
    who: p.authenticated ? p.subject : 'local (loopback, no identity configured)',
    role: v.scope.platform ? 'platform admin' : `tenant admin of ${v.scope.tenant}`,
    platform: v.scope.platform,
    tenant: v.scope.platform ? p.tenant : v.scope.tenant,
    csrf: cookies.csrf(v.session.sid),
    flash,
  };
}

async function form(req: IncomingMessage): Promise<URLSearchParams> {
  return new URLSearchParams(await readBody(req, MAX_FORM, 30_000));
}

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

/** The requests this person may decide, as the approval page lists them: its tenant, an approver of the rule, a person. */
async function pendingFor(v: Viewer, deps: ConsoleDeps) {
  const p = v.principal;
  const all = await deps.approvals.store.list({
    status: 'pending',
    tenant: deps.identity.enabled ? p.tenant : undefined,
  });
  if (!deps.identity.enabled) return all;
  if (!deps.identity.isPerson(p)) return [];
  return all.filter((r) => r.tenant === p.tenant && isAllowedApprover(r.approversRule, p));
}

async function render(
  page: string,
  v: Viewer,
  deps: ConsoleDeps,
  cookies: ConsoleCookies,
  query: URLSearchParams,
  flash?: View['flash'],
  created?: { key: string; name: string },
): Promise<string | undefined> {
  const vw = view(v, cookies, flash);
  const a: actions.Actor = { principal: v.principal, scope: v.scope };
  const { config, store } = deps;
  switch (page) {
    case 'inventory': {
      const inv = await inventoryFor(store, config, v.scope.platform);
      return inventoryPage(
        vw,
        inventoryRows(config, inv),
        reviewChanges(inv, config.gateway.namespaceSeparator),
        v.scope.platform,
      );
    }
    case 'approvals':
      return approvalsPage(vw, await pendingFor(v, deps));
    case 'modes':
      return modesPage(vw, actions.visibleModes(a, await store.modes.list()), (m) => actions.mayClear(a, m));
    case 'incidents':
      return incidentsPage(
        vw,
        await store.incidents.list({ tenant: v.scope.platform ? undefined : v.scope.tenant, limit: 200 }),
      );
    case 'keys':
      return keysPage(vw, actions.visibleKeys(a, await store.apiKeys.list()), created);
    case 'readiness': {
      // The deployment's report: it counts every tenant's records, decisions and revocations.
      if (!v.scope.platform) return readinessPage(vw, undefined, {});
      const inv = await inventoryFor(store, config, v.scope.platform);
      const items = readiness(config, inv, undefined, await gatherState(store, config, inv));
      return readinessPage(vw, items, summary(items));
    }
    case 'audit': {
      const str = (k: string) => query.get(k)?.trim().slice(0, 300) || undefined;
      const f: AuditFilters = {
        run: str('run'),
        tenant: v.scope.platform ? str('tenant') : undefined,
        tool: str('tool'),
        outcome: str('outcome'),
        kind: str('kind'),
        since: str('since'),
        until: str('until'),
        after: positionParam(query, 'after'),
      };
      const tenant = v.scope.platform ? f.tenant : v.scope.tenant;
      const { rows, next } = await store.audit.search({
        runId: f.run,
        tenant,
        tool: f.tool,
        outcome: f.outcome,
        kind: f.kind,
        since: timeParam('since', f.since),
        until: timeParam('until', f.until),
        afterPosition: f.after,
        limit: PAGE_SIZE,
      });
      return auditPage(vw, f, rows, next);
    }
    default: {
      const inc = /^incidents\/([^/]{1,64})$/.exec(page);
      const incId = inc ? decodeSegment(inc[1]) : undefined;
      if (inc && incId === undefined) return undefined;
      if (inc && incId !== undefined) {
        const r = await getIncident(store, incId, v.scope.platform ? undefined : v.scope.tenant).catch(
          (err: unknown) => {
            if (err instanceof IncidentError) return undefined;
            throw err;
          },
        );
        return r ? incidentPage(vw, r, actions.mayCloseIncident(a, r)) : undefined;
      }
      const chain = /^audit\/chain\/([^/]{1,300})\/(\d{1,15})$/.exec(page);
      if (chain) {
        const stream = decodeSegment(chain[1]);
        if (stream === undefined) return undefined;
        const proof = await chainProof(store, stream, Number(chain[2]));
        // Another tenant's record does not exist for a tenant admin.
        return proof && (v.scope.platform || proof.record.actor?.tenant === (v.scope as { tenant: string }).tenant)
          ? chainPage(vw, proof)
          : undefined;
      }
      const run = /^audit\/runs\/([^/]{1,300})$/.exec(page);
      if (!run) return undefined;
      const id = decodeSegment(run[1]);
      if (id === undefined) return undefined;
      const after = positionParam(query, 'after');
      // Another tenant's run does not exist for a tenant admin.
      const { rows, next } = await runRecords(store.audit, id, {
        tenant: v.scope.platform ? undefined : v.scope.tenant,
        after,
      });
      if (!rows.length && after === undefined) return undefined;
      return runPage(vw, id, timeline(rows.map((r) => r.event)), next);
    }
  }
}

/** One record's place in its hash chain: its own hash, and its links to the records on either side (or the pruning checkpoint). */
async function chainProof(store: Store, stream: string, seq: number): Promise<ChainProof | undefined> {
  const rows = await store.audit.streamRecords(stream, Math.max(0, seq - 1), 3);
  const parse = (seqOf: number): AuditEvent | undefined => {
    const r = rows.find((x) => x.seq === seqOf);
    try {
      return r ? (JSON.parse(r.body) as AuditEvent) : undefined;
    } catch {
      return undefined;
    }
  };
  const record = parse(seq);
  if (!record) return undefined;
  const before = parse(seq - 1);
  const after = parse(seq + 1);
  const cp = before ? undefined : await store.audit.checkpoint(stream);
  return {
    record,
    hashOk: chainHash(record) === record.hash,
    ...(before ? { before: { seq: before.seq, hash: before.hash, linked: before.hash === record.prev } } : {}),
    ...(cp && cp.seq === seq - 1
      ? { checkpoint: { seq: cp.seq, hash: cp.hash, linked: cp.hash === record.prev } }
      : {}),
    ...(after ? { after: { seq: after.seq, prev: after.prev, linked: after.prev === record.hash } } : {}),
  };
}

/** POST /console/<action>: the page to show after it (with the outcome), and the status. */
async function act(
  path: string,
  f: URLSearchParams,
  v: Viewer,
  deps: ConsoleDeps,
): Promise<{ page: string; outcome: actions.Outcome } | undefined> {
  const a: actions.Actor = { principal: v.principal, scope: v.scope };
  const d: actions.ActionDeps = {
    config: deps.config,
    store: deps.store,
    record: deps.record,
    announce: deps.announce,
  };
  const g = (k: string) => f.get(k) ?? '';
  switch (path) {
    case 'inventory/accept':
      return { page: 'inventory', outcome: await actions.acceptItem(d, a, g('tool')) };
    case 'inventory/classify':
      return { page: 'inventory', outcome: await actions.classifyTool(d, a, g('tool'), g('class')) };
    case 'modes/set':
      return { page: 'modes', outcome: await actions.setMode(d, a, g('mode'), g('kind'), g('name'), g('reason')) };
    case 'modes/clear':
      return { page: 'modes', outcome: await actions.clearMode(d, a, g('scope')) };
    case 'keys/create':
      return { page: 'keys', outcome: await actions.createKey(d, a, f) };
    case 'keys/revoke':
      return { page: 'keys', outcome: await actions.revokeKey(d, a, g('id')) };
    case 'incidents/open': {
      const o = await actions.openIncidentAction(d, a, f);
      return { page: o.id ? `incidents/${o.id}` : 'incidents', outcome: o };
    }
    default: {
      const close = /^incidents\/([^/]{1,64})\/close$/.exec(path);
      const id = close ? decodeSegment(close[1]) : undefined;
      if (close && id !== undefined) {
        const o = await actions.closeIncidentAction(d, a, id, f);
        return { page: o.ok ? `incidents/${id}` : 'incidents', outcome: o };
      }
      return undefined;
    }
  }
}

/** Origins of the identity providers: the login page's form leads there (CSP form-action covers redirects). */
function loginFormAction(logins: ConsoleLogin[]): string {
  return ["'self'", ...new Set(logins.map((l) => new URL(l.issuer).origin))].join(' ');
}

async function handleLogin(
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

export async function handleConsole(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  deps: ConsoleDeps,
): Promise<void> {
  if (path === CONSOLE_CSS_PATH) {
    sendCss(res);
    return;
  }
  const cookies = await cookiesFor(deps);
  const query = new URL(req.url ?? '/', 'http://gatehouse.invalid').searchParams;
  try {
    if (req.method === 'GET' && (await handleLogin(req, res, path, deps, cookies, query))) return;
    const w = await who(req, deps, cookies);
    if ('login' in w) return signInFirst(req, res, w, deps, cookies);
    const v = w.viewer;
    const wait = (req.method === 'POST' ? LIMITS.actions : LIMITS.pages).take(v.principal.key);
    if (wait) {
      const sec = Math.max(1, Math.ceil(wait / 1000));
      return send(res, 429, messagePage(`Too many requests: try again in ${sec} seconds.`), {
        'retry-after': String(sec),
      });
    }
    const page = path === '/console' || path === '/console/' ? '' : path.slice('/console/'.length);
    if (req.method === 'POST') return await handleAction(req, res, page, v, deps, cookies);
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(res, 405, messagePage('Method not allowed.'), { allow: 'GET, POST' });
    if (page === '') return redirect(res, '/console/inventory', v.setCookies);
    const html = await render(page, v, deps, cookies, query);
    if (html === undefined) return send(res, 404, messagePage('No such page.', '/console/inventory'));
    send(res, 200, html, v.setCookies.length ? { 'set-cookie': v.setCookies } : {});
  } catch (err) {
    if (!(err instanceof GatehouseError) || res.headersSent) throw err;
    send(
      res,
      ERROR_STATUS.get(err.code) ?? 403,
      messagePage(err.code === 'E_INTERNAL' ? 'Something went wrong.' : err.message),
    );
  }
}

/** The HTTP status of a refusal by its code; any other refusal is 403. */
const ERROR_STATUS = new Map<string, number>([
  ['E_UNAUTHENTICATED', 401],
  ['E_INVALID_PARAMS', 400],
  ['E_BODY_TOO_LARGE', 413],
  ['E_INTERNAL', 500],
]);

function sendCss(res: ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/css; charset=utf-8',
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    'content-length': Buffer.byteLength(CONSOLE_CSS),
  });
  res.end(CONSOLE_CSS);
}

/** No valid session of an admin: the login page, with why (and the stale session cookie cleared). */
function signInFirst(
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

/** A form sent to the console: from our own site, with this session's CSRF token; sign-out or an action. */
async function handleAction(
  req: IncomingMessage,
  res: ServerResponse,
  page: string,
  v: Viewer,
  deps: ConsoleDeps,
  cookies: ConsoleCookies,
): Promise<void> {
  // A present Origin must be ours; the CSRF token (bound to this session) is required either way.
  const origin = req.headers.origin;
  if (origin !== undefined && !deps.origins.has(origin))
    return send(res, 403, messagePage('Refused: this form was sent from another site.'));
  if (req.headers['sec-fetch-site'] === 'cross-site')
    return send(res, 403, messagePage('Refused: this form was sent from another site.'));
  const f = await form(req);
  if (!cookies.csrfOk(v.session.sid, f.get('csrf')))
    return send(
      res,
      403,
      messagePage('This form has expired: reload the page and try again.', `/console/${page.split('/')[0]}`),
    );
  if (page === 'logout') return await signOut(res, v, deps, cookies);
  const done = await act(page, f, v, deps);
  if (!done) return send(res, 404, messagePage('No such action.'));
  const html = await render(
    done.page,
    v,
    deps,
    cookies,
    new URLSearchParams(),
    { kind: done.outcome.ok ? 'ok' : 'err', message: done.outcome.message },
    done.outcome.ok ? done.outcome.created : undefined,
  );
  return send(
    res,
    done.outcome.ok ? 200 : 403,
    html ?? messagePage(done.outcome.message),
    v.setCookies.length ? { 'set-cookie': v.setCookies } : {},
  );
}

/**
 * Sign out: the session ended in the store (a copy of its cookie is refused from now on, on every
 * replica, until it would have expired), recorded for a signed-in person, the cookie cleared, the
 * login page shown. Sessions whose cookies have expired are forgotten on the way.
 */
async function signOut(res: ServerResponse, v: Viewer, deps: ConsoleDeps, cookies: ConsoleCookies): Promise<void> {
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
  return { ...approval, identity };
}
