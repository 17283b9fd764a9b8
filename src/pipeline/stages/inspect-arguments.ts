/**
 * inspect: what goes upstream must not carry a credential — another tenant's injected secret (an agent
 * that saw one elsewhere, in any encoding), or a well-known secret format (a private key, a JWT, a
 * cloud or API token) on its way out through arguments or `_meta`. Config `secrets.outbound` says
 * what follows: `deny` (default), `approve` (a tool call waits for a person who sees the arguments;
 * anything else is denied), or `allow`. After decide: a target the caller may not use is refused as
 * such first, and approval turns policy's allow into a wait, never the other way round.
 */
import { GatehouseError } from '../../protocol/errors.ts';
import type { Stage } from '../types.ts';

export const inspectArguments: Stage = (s, { credentials, outboundSecrets }) => {
  const effect = outboundSecrets ?? 'deny';
  if (effect === 'allow' || s.decision?.effect === 'shadow') return;
  const found = credentials.scrubber.find(s.upstream);
  if (!found.length) return;
  const why = `the request carries a credential (${found.join(', ')})`;
  if (effect === 'approve' && s.method === 'tools/call') {
    s.decision = {
      ...s.decision,
      effect: 'approval',
      rule: 'secret:outbound',
      reasons: [...(s.decision?.reasons ?? []), why],
    };
    return;
  }
  // The refusal record says what decided it, not the policy's allow that came before.
  s.decision = {
    ...s.decision,
    effect: 'deny',
    rule: 'secret:outbound',
    reasons: [...(s.decision?.reasons ?? []), why],
  };
  throw new GatehouseError('E_POLICY_DENIED', `denied by policy (\`secret:outbound\`): ${why}`, {
    rule: 'secret:outbound',
  });
};
