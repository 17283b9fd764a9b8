/**
 * A form posted to the console: from the gateway's own site, with this session's CSRF token; then
 * sign-out, or the action it names (accept, classify, modes, keys, incidents) and the page shown
 * after it with the outcome.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConsoleCookies } from '../console/session.ts';
import * as actions from '../console/actions.ts';
import { messagePage } from '../console/pages.ts';
import { decodeSegment } from '../util/path-segment.ts';
import { readBody } from './guards.ts';
import { render } from './console-render.ts';
import { send } from './console-response.ts';
import { signOut } from './console-signin.ts';
import type { ConsoleDeps, Viewer } from './console-viewer.ts';

const MAX_FORM = 16 * 1024;

async function form(req: IncomingMessage): Promise<URLSearchParams> {
  return new URLSearchParams(await readBody(req, MAX_FORM, 30_000));
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
      return {
        page: 'inventory',
        outcome: await actions.acceptItem(d, a, g('tool'), g('confirmFindings') === 'on'),
      };
    case 'inventory/classify':
      return { page: 'inventory', outcome: await actions.classifyTool(d, a, g('tool'), g('class')) };
    case 'modes/set':
      return {
        page: 'modes',
        outcome: await actions.setMode(d, a, g('mode'), g('kind'), g('name'), g('reason'), g('unseen') === 'on'),
      };
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

/** A form sent to the console: from our own site, with this session's CSRF token; sign-out or an action. */
export async function handleAction(
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
