/**
 * decide: the pure policy evaluation (src/policy/evaluate.ts) on the verified principal, the target
 * (tool, prompt or resource URI), its class and the canonical resources validate extracted. A visible
 * tool refused for these arguments says so and why; a resource refused for its URI is unknown (the
 * URI is its identity). Only a tools/call can wait for a person: policy asking approval for anything
 * else is a refusal. Without a policy configured, requests are allowed (and `gatehouse check` fails
 * the policy items), but modes still apply.
 */
import { GatehouseError, quote } from '../../protocol/errors.ts';
import { evaluate } from '../../policy/evaluate.ts';
import { resolveMode } from '../../policy/modes.ts';
import type { Stage } from '../types.ts';
import { unknownTarget } from './unknown.ts';
import { routeOf } from './needs.ts';

export const decidePolicy: Stage = (s, { policy, modes }) => {
  const route = routeOf(s);
  const p = s.ctx.principal;
  const principal = { subject: p.subject, issuer: p.issuer, tenant: p.tenant, client: p.client, roles: p.roles };
  const toolClass = s.toolClass ?? 'DESTRUCTIVE';
  if (!policy) {
    // No rules, but modes (set at run time) still apply: a kill switch works without a policy.
    const m = resolveMode(modes, { tenant: p.tenant, server: route.server, tool: route.qualified });
    if (m.mode === 'disabled') throw unknownTarget(s);
    if (m.mode === 'read_only' && toolClass !== 'READ')
      throw new GatehouseError('E_POLICY_DENIED', `denied: read-only mode (${m.from}) allows READ tools only`, {
        rule: 'mode:read_only',
      });
    const shadow = m.mode === 'shadow' && toolClass !== 'READ';
    s.decision = shadow
      ? { effect: 'shadow', rule: 'mode:shadow', reasons: [`shadow mode (${m.from})`] }
      : { effect: 'allow', rule: 'builtin:no-policy', reasons: ['no policy is configured'] };
    return;
  }
  // A prompt's arguments are text for a model, not targets: only tools and resource reads have resources.
  const resources = s.resources ?? (s.kind === 'prompt' ? [] : undefined);
  const input = {
    principal,
    server: route.server,
    tool: route.qualified,
    kind: s.kind,
    toolClass,
    arguments: s.params.arguments ?? {},
    resources,
  };
  const d = evaluate(input, policy, Date.now());
  s.decision = {
    effect: d.effect === 'approve' ? 'approval' : d.effect,
    rule: d.rule,
    reasons: d.reasons,
    policyRevision: d.revision,
    approvers: d.approvers,
  };
  if (d.effect === 'approve' && s.method !== 'tools/call') {
    throw new GatehouseError(
      'E_POLICY_DENIED',
      `denied by policy (${quote(d.rule)}): only tool calls can be approved by a person`,
      { rule: d.rule },
    );
  }
  if (d.effect !== 'deny') return;
  if (s.kind === 'resource' || d.rule === 'mode:disabled') throw unknownTarget(s);
  throw new GatehouseError(
    'E_POLICY_DENIED',
    `denied by policy (${quote(d.rule)}): ${d.reasons.join('; ')}`.slice(0, 1000),
    { rule: d.rule },
  );
};
