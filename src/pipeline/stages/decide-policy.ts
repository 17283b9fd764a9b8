/**
 * decide: the pure policy evaluation (src/policy/evaluate.ts) on the verified principal, the tool,
 * its class and the validated arguments. A tool the principal may not see at all is refused exactly
 * like a tool that does not exist; a visible tool refused for these arguments says so and why.
 * Without a policy configured, calls are allowed (and `gatehouse check` fails the policy items).
 */
import { GatehouseError, quote } from '../../protocol/errors.ts';
import { evaluate, visible } from '../../policy/evaluate.ts';
import { resolveMode } from '../../policy/modes.ts';
import type { Stage } from '../types.ts';

export const decidePolicy: Stage = (s, { policy, modes }) => {
  const route = s.route!;
  const p = s.ctx.principal;
  const principal = { subject: p.subject, tenant: p.tenant, client: p.client, roles: p.roles };
  const toolClass = s.toolClass ?? 'DESTRUCTIVE';
  if (!policy) {
    // No rules, but modes (set at run time) still apply: a kill switch works without a policy.
    const m = resolveMode(modes, { tenant: p.tenant, server: route.server, tool: route.qualified });
    if (m.mode === 'disabled') throw new GatehouseError('E_UNKNOWN_TOOL', `unknown tool ${quote(s.requested)}`);
    if (m.mode === 'read_only' && toolClass !== 'READ') throw new GatehouseError('E_POLICY_DENIED', `denied: read-only mode (${m.from}) allows READ tools only`, { rule: 'mode:read_only' });
    const shadow = m.mode === 'shadow' && toolClass !== 'READ';
    s.decision = shadow ? { effect: 'shadow', rule: 'mode:shadow', reasons: [`shadow mode (${m.from})`] } : { effect: 'allow', rule: 'builtin:no-policy', reasons: ['no policy is configured'] };
    return;
  }
  const d = evaluate({ principal, server: route.server, tool: route.qualified, toolClass, arguments: s.params.arguments ?? {} }, policy, Date.now());
  s.decision = { effect: d.effect === 'approve' ? 'approval' : d.effect, rule: d.rule, reasons: d.reasons, policyRevision: d.revision, approvers: d.approvers };
  if (d.effect !== 'deny') return;
  if (!visible(principal, route.qualified, toolClass, policy, { server: route.server, now: Date.now() })) {
    throw new GatehouseError('E_UNKNOWN_TOOL', `unknown tool ${quote(s.requested)}`);
  }
  throw new GatehouseError('E_POLICY_DENIED', `denied by policy (${quote(d.rule)}): ${d.reasons.join('; ')}`.slice(0, 1000), { rule: d.rule });
};
