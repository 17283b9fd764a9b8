/**
 * approve: policy said a person must approve this exact call. A call that presents an approval (the
 * sealed `requestState` of a modern retry, or `_meta["io.gatehouse/approval"]` of a legacy one) uses
 * it — once, only if the tenant, principal, client, tool, arguments, tool pin and policy revision are
 * all the ones approved. Otherwise a request is made and the caller learns where a person decides it:
 * modern callers get `input_required` with a URL elicitation; legacy callers wait (when configured,
 * with progress) or get a result naming the pending approval and how to retry; a task-augmented call
 * is not held, and gets that as a JSON-RPC error (../task-answers.ts). Nothing the agent
 * answers is ever an approval: only a decision recorded by an allowed approver is.
 */
import { GatehouseError } from '../../protocol/errors.ts';
import type { JsonObject } from '../../protocol/jsonrpc.ts';
import type { ApprovalRequest, BoundCall } from '../../model/approval.ts';
import { runIdOf } from '../../audit/calls.ts';
import type { ApprovalService } from '../../approvals/service.ts';
import type { CallState, Decision, PipelineDeps, Stage } from '../types.ts';
import { routeOf } from './needs.ts';
import { asksForTask, pendingApprovalError } from '../task-answers.ts';

const META_KEY = 'io.gatehouse/approval';

/** Bound to the arguments as they go upstream (canonical URLs, real paths), which is what the approver is shown. */
function boundCall(s: CallState): BoundCall {
  const p = s.ctx.principal;
  const route = routeOf(s);
  return {
    tenant: p.tenant,
    principalKey: p.key,
    client: p.client,
    server: route.server,
    tool: route.qualified,
    args: s.upstream?.arguments ?? s.params.arguments ?? {},
    pin: s.toolPin ?? '',
    policyRevision: s.decision?.policyRevision ?? '',
    runId: runIdOf(s.ctx, s.params),
  };
}

export const requireApproval: Stage = async (s, deps) => {
  if (s.decision?.effect !== 'approval') return;
  const { approvals } = deps;
  const call = boundCall(s);
  const params = s.params as JsonObject;
  const meta = (params._meta ?? {}) as JsonObject;
  const presented =
    approvals.open(params.requestState) ??
    (typeof meta[META_KEY] === 'string' ? (meta[META_KEY] as string) : undefined);
  if (approvals.isOurs(params.requestState) && !approvals.open(params.requestState))
    throw new GatehouseError('E_INPUT_STATE');
  if (presented) return usePresented(s, approvals, presented, call);
  const req = await requestApproval(s, approvals, call, s.decision);
  const url = approvals.pageUrl(req.id);
  s.approval = { id: req.id, status: 'pending' };
  if (s.ctx.era === 'modern') return askModern(s, approvals, req, url);
  if (asksForTask(s)) return refuseTask(s, req, url);
  return waitLegacy(s, deps, req, url, call);
};

/** The call presents an approval: used once, for exactly this call, or refused. */
async function usePresented(
  s: CallState,
  approvals: ApprovalService,
  presented: string,
  call: BoundCall,
): Promise<void> {
  const t = await approvals.consume(presented, call);
  if (!t.ok)
    throw new GatehouseError('E_APPROVAL_REFUSED', `approval ${presented} cannot be used for this call: ${t.message}`, {
      approval: presented,
      code: t.code,
    });
  sendAsApproved(s, t.request);
}

/**
 * The call goes on under an approval, however it was used (presented on a retry, or decided while a
 * legacy call waited): what goes upstream is the call that was approved, without our round-trip
 * fields, and without anything of the caller's `_meta` the approver was not shown (a server may act
 * on keys there): only the progress token, which the gateway replaces with its own.
 */
function sendAsApproved(s: CallState, request: ApprovalRequest): void {
  s.approval = { id: request.id, status: 'approved', approvers: request.decisions.map((d) => d.by.subject) };
  const params = s.params as JsonObject;
  delete params.requestState;
  delete params.inputResponses;
  if (s.upstream) {
    delete s.upstream.requestState;
    delete s.upstream.inputResponses;
    const meta = s.upstream._meta as JsonObject | undefined;
    if (meta) s.upstream._meta = meta.progressToken === undefined ? {} : { progressToken: meta.progressToken };
  }
}

/**
 * A new approval request. The approver sees the arguments exactly as they will run (never redacted to
 * look harmless), and the diff is read with the requester's roles.
 */
async function requestApproval(
  s: CallState,
  approvals: ApprovalService,
  call: BoundCall,
  decision: Decision,
): Promise<ApprovalRequest> {
  const p = s.ctx.principal;
  const req = await approvals.create({
    call,
    subject: p.subject,
    roles: p.roles,
    issuer: p.issuer,
    toolClass: s.toolClass ?? 'DESTRUCTIVE',
    // The exact target, as policy decided on it (`path:/srv/a.txt`): the page, the webhook and the CLI show it.
    resource: s.resources?.length ? s.resources.map((r) => `${r.kind}:${r.value}`).join(' ') : undefined,
    shownArgs: call.args,
    rule: decision.rule,
    approvers: decision.approvers as never,
  });
  if (req === 'cap')
    throw new GatehouseError(
      'E_APPROVAL_REQUIRED',
      'too many of your calls are waiting for approval: wait for decisions before asking for more',
    );
  return req;
}

/** Modern: `input_required` with a URL elicitation and the sealed request state to retry with. */
function askModern(s: CallState, approvals: ApprovalService, req: ApprovalRequest, url: string): void {
  s.result = {
    resultType: 'input_required',
    inputRequests: {
      [`approval-${req.id}`]: {
        method: 'elicitation/create',
        params: {
          mode: 'url',
          url,
          elicitationId: req.id,
          message: `A person must approve this call: ${req.summary}. Retry the call with this request state once it is approved.`,
        },
      },
    },
    requestState: approvals.seal(req.id),
  };
  s.halt = true;
}

/**
 * A task-augmented call: no task can be created before the approval, and the caller asked not to wait
 * for its result, so it is not held: it gets the page at once, as a JSON-RPC error (task-answers.ts),
 * -32042 with a URL elicitation when it declared URL elicitation. The retry presents the approval.
 */
function refuseTask(s: CallState, req: ApprovalRequest, url: string): void {
  pendingResult(s, req, url);
  const elicitsUrl = Boolean((s.ctx.clientCapabilities.elicitation as JsonObject | undefined)?.url);
  s.answerAsError = pendingApprovalError(
    { id: req.id, url, summary: req.summary, expiresAt: req.expiresAt, retry: retryHow(req.id) },
    elicitsUrl,
  );
}

const retryHow = (id: string) => `Once it is approved, send the same call again with _meta {"${META_KEY}": "${id}"}.`;

/** The legacy answer to a call still waiting for its approval (as it is audited). */
function pendingResult(s: CallState, req: ApprovalRequest, url: string): void {
  s.result = {
    content: [
      {
        type: 'text',
        text: `This call needs a person's approval. Approval ${req.id} is pending at ${url}. ${retryHow(req.id)} Nothing ran.`,
      },
    ],
    isError: true,
    _meta: { [META_KEY]: { id: req.id, url, status: 'pending', expiresAt: new Date(req.expiresAt).toISOString() } },
  };
  s.halt = true;
}

/**
 * The page a legacy client was shown (a URL elicitation) was decided on: 2025-11-25's
 * `notifications/elicitation/complete`, so the client may close what it opened. Not sent while the
 * request is still pending when the call stops waiting (the page is still to be used).
 */
function completed(s: CallState, id: string): void {
  s.ctx.outlet.notify({ jsonrpc: '2.0', method: 'notifications/elicitation/complete', params: { elicitationId: id } });
}

/**
 * Legacy: a client that declared URL elicitation is shown the page (its answer approves nothing);
 * then the call waits for the decision — configured time, at least two minutes after an elicitation.
 * Still pending then, the call is answered with how to retry once it is approved.
 */
async function waitLegacy(
  s: CallState,
  deps: PipelineDeps,
  req: ApprovalRequest,
  url: string,
  call: BoundCall,
): Promise<void> {
  const elicitsUrl = Boolean((s.ctx.clientCapabilities.elicitation as JsonObject | undefined)?.url);
  const shown = elicitsUrl && s.ctx.outlet.ask !== undefined;
  if (shown) {
    void s.ctx.outlet
      .ask?.(
        'elicitation/create',
        { mode: 'url', url, elicitationId: req.id, message: `A person must approve this call: ${req.summary}` },
        s.ctx.signal,
      )
      .catch(() => undefined);
  }
  const deadline = Date.now() + Math.max(deps.approvalWaitMs, shown ? 120_000 : 0);
  let decided: boolean;
  try {
    decided = await decidedBefore(s, deps.approvals, req, url, call, deadline);
  } catch (err) {
    if (shown && err instanceof GatehouseError && err.code === 'E_APPROVAL_REFUSED') completed(s, req.id);
    throw err;
  }
  if (decided) {
    if (shown) completed(s, req.id);
    return;
  }
  pendingResult(s, req, url);
}

/**
 * Polls the request until `deadline` (or the caller gives up), with progress when the caller asked for it:
 * true once it is approved (and used for this call), a refusal once it is decided otherwise.
 */
async function decidedBefore(
  s: CallState,
  approvals: ApprovalService,
  req: ApprovalRequest,
  url: string,
  call: BoundCall,
  deadline: number,
): Promise<boolean> {
  let tick = 0;
  while (Date.now() < deadline && !s.ctx.signal.aborted) {
    const now = await approvals.get(req.id);
    if (now && now.status !== 'pending') {
      if (now.status !== 'approved')
        throw new GatehouseError('E_APPROVAL_REFUSED', `approval ${req.id} was ${now.status}`, {
          approval: req.id,
          status: now.status,
        });
      const t = await approvals.consume(req.id, call);
      if (!t.ok)
        throw new GatehouseError('E_APPROVAL_REFUSED', `approval ${req.id} cannot be used: ${t.message}`, {
          approval: req.id,
        });
      sendAsApproved(s, t.request);
      return true;
    }
    if (s.ctx.progressToken !== undefined)
      s.ctx.outlet.notify({
        jsonrpc: '2.0',
        method: 'notifications/progress',
        params: {
          progressToken: s.ctx.progressToken,
          progress: ++tick,
          message: `waiting for approval ${req.id}: ${url}`,
        },
      });
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}
