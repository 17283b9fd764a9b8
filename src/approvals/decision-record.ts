/**
 * The audit record of a decision, written where the decision is made (the gateway for the page, the
 * CLI for `gatehouse approvals approve|deny`): one shape for both. Its actor is the approver; its
 * run is the requesting call's (kept on the request), so the run's timeline shows the decision.
 */
import type { AuditInput } from '../audit/log.ts';
import type { ApprovalRequest } from '../model/approval.ts';
import type { AuditActor } from '../model/audit-event.ts';

export function decisionRecord(
  decided: ApprovalRequest,
  decision: 'approve' | 'deny',
  reason: string | undefined,
  actor: AuditActor,
): AuditInput {
  return {
    kind: 'approval.event',
    tool: decided.tool,
    approval: { status: decided.status, id: decided.id, approvers: decided.decisions.map((d) => d.by.subject) },
    actor,
    runId: decided.runId,
    detail: { event: decision === 'approve' ? 'approved' : 'denied', reason },
  };
}
