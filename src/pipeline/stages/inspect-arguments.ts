/**
 * inspect: what goes upstream must not carry a credential — another tenant's injected secret (an agent
 * that saw one elsewhere, raw or in an encoding the finder recognises: docs/policy.md), or a well-known secret format (a private key, a JWT, a
 * cloud or API token) on its way out through arguments or `_meta`. Config `secrets.outbound` says
 * what follows: `deny` (default), `approve` (a tool call waits for a person who sees the arguments;
 * anything else is denied), or `allow`. After decide: a target the caller may not use is refused as
 * such first, and approval turns policy's allow into a wait, never the other way round.
 */
import { GatehouseError } from '../../protocol/errors.ts';
import { withheldCancelReason } from '../../protocol/cancel-reason.ts';
import type { CheckAnswer } from '../../gateway/forward.ts';
import { loneSurrogateAt, pathText } from '../../util/well-formed.ts';
import { isNotInspectable } from '../../credentials/scrub.ts';
import type { CallState, PipelineDeps, Stage } from '../types.ts';

export const inspectArguments: Stage = (s, deps) => {
  const effect = deps.outboundSecrets ?? 'deny';
  if (effect === 'allow' || s.decision?.effect === 'shadow') return;
  // Just started: every tenant's secrets are looked for once learned, never sent unchecked before.
  const learned = deps.credentials.learned?.() ?? true;
  if (learned !== true)
    return learned.then((ok) => {
      if (!ok) throw new GatehouseError('E_SECRETS_NOT_LEARNED');
      inspectLearned(s, deps, effect);
    });
  inspectLearned(s, deps, effect);
};

function inspectLearned(s: CallState, { credentials }: PipelineDeps, effect: 'deny' | 'approve'): void {
  const found = credentials.scrubber.find(s.upstream);
  if (!found.length) return;
  const why = carries('the request', found);
  // A text the finder cannot read is refused, not put before a person: what it hides is not shown either.
  if (effect === 'approve' && s.method === 'tools/call' && !found.some(isNotInspectable)) {
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
  throw refusedOutbound(why);
}

/**
 * Why `subject` is refused: the credential kinds found, and each text that could not be read decoded
 * within its bound (../../audit/decoded-view.ts), by where.
 */
function carries(subject: string, found: string[]): string {
  const kinds = found.filter((k) => !isNotInspectable(k));
  const unread = found.filter(isNotInspectable);
  const parts = kinds.length ? [`${subject} carries a credential (${kinds.join(', ')})`] : [];
  if (unread.length) parts.push(`${subject} cannot be checked for credentials (${unread.join('; ')})`);
  return parts.join('; ');
}

/** The refusal of what carries a credential on its way out, said `why` (the kinds found, never a value). */
function refusedOutbound(why: string): GatehouseError {
  return new GatehouseError('E_POLICY_DENIED', `denied by policy (\`secret:outbound\`): ${why}`, {
    rule: 'secret:outbound',
  });
}

/**
 * The same rule for what a legacy caller answers the upstream's questions during the call (sampling,
 * elicitation, roots: result or error), which goes upstream too: before, it went as it was, while
 * the same answer from a modern caller (in its retry's params) was refused. `approve` cannot hold an
 * answer for a person (the upstream waits on it): it is refused, as anything but a tool call is. The
 * refusal is among the call's decision reasons (its outcome record says so) and never names what the
 * answer held.
 */
export function inspectAnswers(s: CallState, { credentials, outboundSecrets }: PipelineDeps): CheckAnswer {
  return (method, answer) => {
    refuseLoneSurrogates(method, answer);
    if ((outboundSecrets ?? 'deny') === 'allow') return;
    const found = credentials.scrubber.find(answer);
    if (!found.length) return;
    const why = carries(`the client's answer to \`${method}\``, found);
    if (s.decision)
      s.decision = { ...s.decision, reasons: [...s.decision.reasons, `${why}: refused (secret:outbound)`] };
    throw refusedOutbound(why);
  };
}

/**
 * An answer holding text that is not Unicode (a lone UTF-16 surrogate, in a value or a key) is refused
 * as a request's params holding one are (validate: validate-arguments.ts), naming where: the answer
 * goes upstream where a request's params would, and before, validate never saw it.
 */
function refuseLoneSurrogates(method: string, answer: unknown): void {
  const at = loneSurrogateAt(answer);
  if (!at) return;
  const path = pathText(at);
  throw new GatehouseError(
    'E_INVALID_PARAMS',
    `invalid params: the client's answer to \`${method}\`: \`${path}\` holds a lone UTF-16 surrogate (half of a pair): not Unicode text`,
    { path },
  );
}

/**
 * A call its caller cancelled with a reason that carried a credential: the upstream was told the
 * generic text instead (cancel-reason.ts), and the call's outcome record says so among its decision
 * reasons, naming the kinds, never the value.
 */
export function noteCancelReason(s: CallState): void {
  const why = withheldCancelReason(s.ctx.signal?.reason);
  if (why && s.decision) s.decision = { ...s.decision, reasons: [...s.decision.reasons, why] };
}
