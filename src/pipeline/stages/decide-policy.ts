/**
 * decide: the pure policy evaluation (src/policy/evaluate.ts) on the verified principal, the tool,
 * its class and the validated arguments. A tool the principal may not see at all is refused exactly
 * like a tool that does not exist; a visible tool refused for these arguments says so and why.
 * Without a policy configured, calls are allowed (and `gatehouse check` fails the policy items).
 */
import { GatehouseError, quote } from '../../protocol/errors.ts';
import { evaluate, visible } from '../../policy/evaluate.ts';
import type { Stage } from '../types.ts';

export const decidePolicy: Stage = (s, { policy }) => {
  if (!policy) {
    s.decision = { effect: 'allow', rule: 'builtin:no-policy', reasons: ['no policy is configured'] };
    return;
  }
  const route = s.route!;
  const p = s.ctx.principal;
  const principal = { subject: p.subject, tenant: p.tenant, client: p.client, roles: p.roles };
  const toolClass = s.toolClass ?? 'DESTRUCTIVE';
  const d = evaluate({ principal, server: route.server, tool: route.qualified, toolClass, arguments: s.params.arguments ?? {} }, policy, Date.now());
  s.decision = { effect: d.effect === 'approve' ? 'approval' : d.effect, rule: d.rule, reasons: d.reasons, policyRevision: d.revision, approvers: d.approvers };
  if (d.effect !== 'deny') return;
  if (!visible(principal, route.qualified, toolClass, policy, { server: route.server, now: Date.now() })) {
    throw new GatehouseError('E_UNKNOWN_TOOL', `unknown tool ${quote(s.requested)}`);
  }
  throw new GatehouseError('E_POLICY_DENIED', `denied by policy (${quote(d.rule)}): ${d.reasons.join('; ')}`.slice(0, 1000), { rule: d.rule });
};
