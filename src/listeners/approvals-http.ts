/**
 * The approval page: `GET /approvals` (what waits for the viewer), `GET /approvals/<id>` (the action
 * in plain language, the exact tool and target, the receipt or diff), `POST /approvals/<id>` (approve
 * or deny: a plain HTML form, CSRF-protected, no JavaScript). The viewer is authenticated like any
 * caller (bearer token or API key, typically added by an SSO proxy); without identity, loopback only.
 * A request is visible only to people who may decide it: its tenant, an approver role or subject of
 * its rule, a person (not a service key), not the requester; the requester is told it cannot decide its
 * own request (403, nothing of it shown), to anyone else it does not exist (404). Lookups and decisions
 * are rate limited per viewer. Responses carry a strict CSP and no-store.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatehouseError } from '../protocol/errors.ts';
import type { Authenticator } from '../identity/authenticator.ts';
import type { ApprovalService } from '../approvals/service.ts';
import { APPROVAL_CSS } from '../approvals/page-css.ts';
import { APPROVAL_CSS_PATH, APPROVAL_PAGE_HEADERS, approvalPage, listPage, resultPage } from '../approvals/page.ts';
import { receipt } from '../approvals/receipt.ts';
import { isAllowedApprover, isRequester, maySee, OWN_REQUEST } from '../approvals/lifecycle.ts';
import { isApprovalId } from '../approvals/binding.ts';
import type { Principal } from '../identity/principal.ts';
import { approverSubjectLabel, type ApprovalRequest, type CurrentContent } from '../model/approval.ts';
import { DECISIONS, LOOKUPS, ViewerLimits } from '../approvals/viewer-limits.ts';
import { formToken, formTokenOk } from '../approvals/form-token.ts';

export interface ApprovalPageDeps {
  identity: Authenticator;
  approvals: ApprovalService;
  origins: Set<string>;
  /** Current content of a file a write would change, read with the requester's rights through the server's configured READ tool. */
  currentContent(req: ApprovalRequest): Promise<CurrentContent>;
  limits?: { lookups: ViewerLimits; decisions: ViewerLimits };
  /** What signed the viewer in for this page, which its form is bound to: set for a console session (its id); else the Authorization header. */
  binding?: string;
}

// One budget per process for every viewer (the deps are rebuilt per request).
const LIMITS = { lookups: new ViewerLimits(LOOKUPS), decisions: new ViewerLimits(DECISIONS) };

const MAX_FORM = 16 * 1024;

function send(
  res: ServerResponse,
  status: number,
  html: string,
  type = 'text/html; charset=utf-8',
  extra: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...APPROVAL_PAGE_HEADERS,
    'content-type': type,
    'content-length': Buffer.byteLength(html),
    ...extra,
  });
  res.end(html);
}

/** 429 with Retry-After when the viewer's budget is spent; true when it answered. */
function limited(res: ServerResponse, limit: ViewerLimits, viewer: Principal): boolean {
  const wait = limit.take(viewer.key);
  if (!wait) return false;
  const s = Math.max(1, Math.ceil(wait / 1000));
  send(res, 429, resultPage(`Too many requests: try again in ${s} seconds.`), undefined, { 'retry-after': String(s) });
  return true;
}

/**
 * May this viewer see (and so perhaps decide) the request? Without identity (loopback, local
 * development) everyone may look. Otherwise: who could decide it (lifecycle `maySee`: its tenant, a
 * person its rule names, not the requester).
 */
function mayView(ar: ApprovalRequest, viewer: Principal, identity: Authenticator): boolean {
  if (!identity.enabled) return true;
  if (!viewer.authenticated) return false;
  return maySee(ar, {
    key: viewer.key,
    subject: viewer.subject,
    tenant: viewer.tenant,
    roles: viewer.roles,
    issuer: viewer.issuer,
    person: identity.isPerson(viewer),
  });
}

/** What the viewer's form is bound to besides who they are: their console session, else their credential. */
function bindingOf(req: IncomingMessage, deps: ApprovalPageDeps): string {
  return deps.binding ?? `authorization:${req.headers.authorization ?? ''}`;
}

async function form(req: IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > MAX_FORM) throw new GatehouseError('E_BODY_TOO_LARGE');
  }
  return new URLSearchParams(body);
}

function why(req: ApprovalRequest, viewer: Principal, allowed: boolean): string | undefined {
  if (req.status !== 'pending') return `This request is ${req.status}.`;
  if (viewer.key === req.requester.key || (viewer.subject === req.requester.subject && viewer.tenant === req.tenant))
    return 'You asked for this call: someone else must decide it.';
  if (!allowed)
    return `Only ${[...(req.approversRule.roles ?? []).map((r) => `role ${r}`), ...(req.approversRule.subjects ?? []).map(approverSubjectLabel)].join(' or ')} may decide.`;
  return undefined;
}

export async function handleApprovalPage(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  deps: ApprovalPageDeps,
): Promise<void> {
  if (path === APPROVAL_CSS_PATH) return send(res, 200, APPROVAL_CSS, 'text/css; charset=utf-8');
  const viewer = await deps.identity.authenticate(req);
  const limits = deps.limits ?? LIMITS;
  if (limited(res, limits.lookups, viewer)) return;
  const approver = {
    key: viewer.key,
    subject: viewer.subject,
    tenant: viewer.tenant,
    roles: viewer.roles,
    issuer: viewer.issuer,
    person: deps.identity.isPerson(viewer),
  };
  if (path === '/approvals' || path === '/approvals/') {
    const pending = await deps.approvals.store.list({
      status: 'pending',
      tenant: viewer.authenticated ? viewer.tenant : undefined,
    });
    return send(res, 200, listPage(pending.filter((r) => mayView(r, viewer, deps.identity))));
  }
  const id = path.slice('/approvals/'.length);
  const ar = isApprovalId(id) ? await deps.approvals.get(id) : undefined;
  // The requester is told it may not decide its own request (nothing more of it: no arguments, no diff).
  if (ar && deps.identity.enabled && viewer.authenticated && isRequester(ar, viewer))
    return send(res, 403, resultPage(OWN_REQUEST, { backUrl: '/approvals' }));
  // Another tenant's request, or one the viewer may not decide, looks exactly like one that does not exist.
  if (!ar || !mayView(ar, viewer, deps.identity))
    return send(res, 404, resultPage('No such approval request.', { backUrl: '/approvals' }));
  const allowed = isAllowedApprover(ar.approversRule, approver);
  if (req.method === 'POST') {
    if (limited(res, limits.decisions, viewer)) return;
    const origin = req.headers.origin;
    if (origin !== undefined && !deps.origins.has(origin)) throw new GatehouseError('E_ORIGIN');
    const f = await form(req);
    const key = deps.approvals.seal('csrf');
    if (!formTokenOk(key, f.get('csrf') ?? '', id, viewer.key, bindingOf(req, deps), Date.now()))
      return send(
        res,
        403,
        resultPage('This form has expired: reload the page and decide again.', { backUrl: `/approvals/${id}` }),
      );
    const decision = f.get('decision');
    if (decision !== 'approve' && decision !== 'deny')
      return send(res, 400, resultPage('Choose approve or deny.', { backUrl: `/approvals/${id}` }));
    const t = await deps.approvals.decide(id, approver, decision, f.get('reason') ?? undefined);
    if (!t.ok) return send(res, 403, resultPage(`Not recorded: ${t.message}`, { backUrl: `/approvals/${id}` }));
    return send(
      res,
      200,
      resultPage(
        `Recorded: ${decision === 'approve' ? 'approved' : 'denied'} by ${viewer.subject} at ${new Date().toISOString()}. The request is now ${t.request.status}.`,
        { backUrl: `/approvals/${id}` },
      ),
    );
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new GatehouseError('E_METHOD_NOT_ALLOWED');
  const current = await deps
    .currentContent(ar)
    .catch((): CurrentContent => ({ withheld: 'No diff: the current content could not be read.' }));
  const note = why(ar, viewer, allowed);
  const rcpt = receipt(ar, { currentContent: current && 'content' in current ? current.content : undefined });
  return send(
    res,
    200,
    approvalPage(ar, rcpt, {
      csrfToken: formToken(deps.approvals.seal('csrf'), id, viewer.key, bindingOf(req, deps), Date.now()),
      actionUrl: `/approvals/${id}`,
      viewer: { subject: viewer.subject },
      canDecide: !note,
      why: note,
      diffNote: current && 'withheld' in current ? current.withheld : undefined,
    }),
  );
}
