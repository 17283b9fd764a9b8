/**
 * The approval state machine, PURE: every function takes a request and returns the next one (or a
 * refusal); nothing is stored here. The store must apply a transition with a conditional update on
 * the status it read (`... WHERE id = ? AND status = 'approved'` for use), so two replicas racing
 * to use one approval cannot both win.
 *
 *   pending --decide(deny)--------------> denied
 *   pending --decide(approve) x count---> approved --use(matching call)--> used
 *   pending|approved --expire(now)------> expired
 */
import type { ToolClass } from '../model/tool-class.ts';
import { bindingOf, mismatch } from './binding.ts';
import {
  namesSubject,
  type ApprovalRequest,
  type Approver,
  type ApproversRule,
  type BoundCall,
} from '../model/approval.ts';

type RefusalCode =
  | 'not_pending'
  | 'expired'
  | 'cross_tenant'
  | 'self_approval'
  | 'not_an_approver'
  | 'already_decided'
  | 'not_approved'
  | 'already_used'
  | 'binding_mismatch'
  | 'anonymous'
  | 'not_a_person'
  | 'approver_revoked';

interface Refusal {
  ok: false;
  code: RefusalCode;
  message: string;
  /** Set when refusing also changed the request (it was found expired): store it. */
  request?: ApprovalRequest;
}

export type Transition = { ok: true; request: ApprovalRequest } | Refusal;

function refuse(code: RefusalCode, message: string, request?: ApprovalRequest): Refusal {
  return request ? { ok: false, code, message, request } : { ok: false, code, message };
}

export function isExpired(req: ApprovalRequest, now: number): boolean {
  return now >= req.expiresAt;
}

/** A new pending request for a call policy sent to approval. */
export function newRequest(input: {
  id: string;
  now: number;
  ttlMs: number;
  call: BoundCall;
  subject: string;
  /** The requester's roles and issuer (an approver's diff is read with these rights). */
  roles?: readonly string[];
  issuer?: string;
  toolClass: ToolClass;
  /** The arguments exactly as they will run, for display only. */
  shownArgs: unknown;
  rule: string;
  approversRule: ApproversRule;
  resource?: string;
  summary: string;
}): ApprovalRequest {
  const { call } = input;
  const req: ApprovalRequest = {
    id: input.id,
    createdAt: input.now,
    expiresAt: input.now + input.ttlMs,
    status: 'pending',
    tenant: call.tenant,
    requester: {
      key: call.principalKey,
      subject: input.subject,
      tenant: call.tenant,
      client: call.client,
      ...(input.roles ? { roles: [...input.roles] } : {}),
      ...(input.issuer !== undefined ? { issuer: input.issuer } : {}),
    },
    server: call.server,
    tool: call.tool,
    toolClass: input.toolClass,
    argsHash: bindingOf(call).argsHash,
    args: input.shownArgs,
    pin: call.pin,
    policyRevision: call.policyRevision,
    rule: input.rule,
    approversRule: { ...input.approversRule },
    summary: input.summary,
    decisions: [],
  };
  if (input.resource !== undefined) req.resource = input.resource;
  if (call.runId !== undefined) req.runId = call.runId;
  return req;
}

/**
 * Is this person named by the rule? Roles OR subjects. A rule naming neither lets NOBODY decide:
 * the lead must fill in `policy.defaultApprovers` before creating the request; an unconfigured rule
 * fails closed (the request just expires) rather than letting anyone in the tenant approve.
 *
 * Subjects are namespaces of their issuers: `{ issuer, subject }` matches that issuer's subject only
 * (`gatehouse`: an API key acting for that person), so issuer B's `alice` is not issuer A's. A bare
 * subject matches the subject from any issuer; the config refuses bare subjects once more than one
 * issuer is configured, so there it means the one issuer's subject, or an API key made for that person.
 */
export function isAllowedApprover(rule: ApproversRule, approver: Approver): boolean {
  if (rule.roles?.some((r) => approver.roles.includes(r))) return true;
  return rule.subjects?.some((s) => namesSubject(s, approver)) ?? false;
}

/**
 * Two identities are treated as the same person when their keys match OR they have the same subject
 * in the same tenant (e.g. one human with an API key and an SSO token). This is deliberately
 * conservative: it can refuse two different people who share a subject under two issuers, never
 * count one person twice.
 */
function samePerson(
  a: { key: string; subject: string; tenant: string },
  b: { key: string; subject: string; tenant: string },
): boolean {
  return a.key === b.key || (a.subject === b.subject && a.tenant === b.tenant);
}

/**
 * May this person see the request at all (its page, the page's and the console's lists, the CLI with
 * `--as`)? Only someone who could decide it: a person of its tenant whom its rule names, and not the
 * requester. For anyone else, the requester included, it does not exist. `person` must be given
 * (false for a service key): an approver of unknown kind sees nothing.
 */
export function maySee(req: ApprovalRequest, approver: Approver): boolean {
  return (
    approver.person === true &&
    approver.tenant === req.tenant &&
    !samePerson(approver, req.requester) &&
    isAllowedApprover(req.approversRule, approver)
  );
}

/** What the requester is told when it tries to decide its own request (the page, the CLI with `--as`). */
export const OWN_REQUEST =
  'You asked for this call: you cannot approve or deny your own request; someone else must decide it.';

/**
 * Is `who` the very principal that asked (its key, in its tenant)? Only it is told that the request
 * is its own (OWN_REQUEST): it knows the id already, from its call's answer. To anyone else a request
 * it may not see does not exist, whether it exists or not; even someone `samePerson` counts as the
 * requester (the same subject under another issuer) gets no answer that tells a request is there.
 */
export function isRequester(req: ApprovalRequest, who: { key: string; tenant: string }): boolean {
  return who.key === req.requester.key && who.tenant === req.tenant;
}

export function decide(
  req: ApprovalRequest,
  approver: Approver,
  decision: 'approve' | 'deny',
  reason: string | undefined,
  now: number,
): Transition {
  if (req.status === 'expired') return refuse('expired', 'This request has expired.');
  if (req.status !== 'pending') return refuse('not_pending', `This request is already ${req.status}.`);
  if (isExpired(req, now)) return refuse('expired', 'This request has expired.', { ...req, status: 'expired' });
  if (!approver.key || !approver.subject) return refuse('anonymous', 'Approvers must be signed in.');
  if (approver.person === false)
    return refuse('not_a_person', 'Approvers are people: this credential is a service key that stands for no one.');
  if (approver.tenant !== req.tenant) return refuse('cross_tenant', 'This request belongs to another tenant.');
  if (samePerson(approver, req.requester)) return refuse('self_approval', OWN_REQUEST);
  if (!isAllowedApprover(req.approversRule, approver))
    return refuse('not_an_approver', 'You are not an approver for this request.');
  if (req.decisions.some((d) => samePerson(d.by, approver)))
    return refuse('already_decided', 'You have already decided on this request.');

  const entry = {
    by: { key: approver.key, subject: approver.subject, tenant: approver.tenant, roles: [...approver.roles] },
    decision,
    ...(reason ? { reason } : {}),
    at: now,
  };
  const decisions = [...req.decisions, entry];
  // One deny is enough: any allowed approver can stop an action, only `count` of them can let it run.
  if (decision === 'deny') return { ok: true, request: { ...req, decisions, status: 'denied' } };
  const approvers = decisions.filter((d) => d.decision === 'approve');
  const status = approvers.length >= req.approversRule.count ? 'approved' : 'pending';
  return { ok: true, request: { ...req, decisions, status } };
}

/** Consume an approval for the retried call: at most once, only for the exact same call. */
export function use(req: ApprovalRequest, call: BoundCall, now: number): Transition {
  if (req.status === 'used') return refuse('already_used', 'This approval has already been used.');
  if (req.status === 'expired') return refuse('expired', 'This approval has expired.');
  if (req.status !== 'approved') return refuse('not_approved', `This request is ${req.status}, not approved.`);
  if (isExpired(req, now)) return refuse('expired', 'This approval has expired.', { ...req, status: 'expired' });
  const field = mismatch(req, call);
  if (field)
    return refuse('binding_mismatch', `The call differs from the approved one (${field}); a new approval is needed.`);
  return { ok: true, request: { ...req, status: 'used', usedAt: now, usedBy: call.principalKey } };
}

/** Mark a pending or approved (unused) request expired once its time has passed; otherwise unchanged. */
export function expire(req: ApprovalRequest, now: number): ApprovalRequest {
  if ((req.status === 'pending' || req.status === 'approved') && isExpired(req, now))
    return { ...req, status: 'expired' };
  return req;
}

/**
 * Has this principal too many requests waiting? Takes a count, or the principal's requests (only
 * unexpired pending ones count when `now` is given). A cap below 1 means no new requests at all.
 */
export function pendingCapReached(
  existingPendingForPrincipal: number | readonly ApprovalRequest[],
  cap: number,
  now?: number,
): boolean {
  const n =
    typeof existingPendingForPrincipal === 'number'
      ? existingPendingForPrincipal
      : existingPendingForPrincipal.filter((r) => r.status === 'pending' && (now === undefined || !isExpired(r, now)))
          .length;
  return n >= cap;
}
