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
import { GatehouseError } from '../protocol/errors.ts';
import { ViewerLimits } from '../approvals/viewer-limits.ts';
import { CONSOLE_CSS_PATH } from '../console/css.ts';
import { messagePage } from '../console/pages.ts';
import { handleAction } from './console-forms.ts';
import { render } from './console-render.ts';
import { redirect, send, sendCss } from './console-response.ts';
import { handleLogin, signInFirst } from './console-signin.ts';
import { cookiesFor, who, type ConsoleDeps } from './console-viewer.ts';

// Per person, in this process: pages (a search walked in a loop) and actions (a form posted in a loop).
const LIMITS = {
  pages: new ViewerLimits({ burst: 120, perSecond: 2 }),
  actions: new ViewerLimits({ burst: 30, perSecond: 0.5 }),
};

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
  ['E_STORE_UNAVAILABLE', 503],
]);
