/**
 * recheck: a request is sent under the settings in force, not under those it was decided on. The
 * listener takes its snapshot of the settings (policy, modes, identity) when a request's headers
 * arrive, and the stages before this one decide against it; a request can wait long after that: a
 * body that trickles in, a person's approval, a connection being made, its turn in the ask lane.
 * So, just before its intent is recorded (and again before it goes out, when the settings changed
 * meanwhile or it waited for its turn):
 * - a credential verified more than FRESH_MS ago is verified again (an API key or a person revoked
 *   since, a token expired): refused as a new request with it would be;
 * - when the settings were replaced since it was decided (a reload, a mode change, an incident's
 *   containment), the stages that decided it run again on the new ones: refused as a new request
 *   would be, and refused with E_SETTINGS_CHANGED when it would now be decided otherwise (another
 *   definition or arguments, shadow mode, an approval it does not have, other approvers).
 * Without a change and with a fresh credential (every request that did not wait) this costs two
 * comparisons, synchronously.
 */
import { verifiedWithin } from '../../identity/authenticator.ts';
import { GatehouseError } from '../../protocol/errors.ts';
import type { CallState, Decision, PipelineDeps, Stage } from '../types.ts';

/** A credential verified this recently is not verified again (a request that did not wait). */
const FRESH_MS = 50;

export const recheck: Stage = (s, deps) => {
  // Every request that did not wait: nothing to check, and no turn of the microtask queue for it.
  if (
    !settingsChanged(deps) &&
    verifiedWithin(s.ctx.principal, FRESH_MS) &&
    !deps.identity.revokedWithoutCredential(s.ctx.principal)
  )
    return;
  return checkAgain(s, deps);
};

/** What recheck does, for the stage and for execute (after the intent, before the request goes out). */
async function checkAgain(s: CallState, deps: PipelineDeps): Promise<void> {
  const now = deps.current?.() ?? deps;
  await now.identity.recheck(s.ctx.principal, FRESH_MS);
  if (now === deps) return;
  const again: CallState = {
    ctx: s.ctx,
    method: s.method,
    kind: s.kind,
    requested: s.requested,
    params: s.params,
    startedAt: s.startedAt,
  };
  for (const [, stage] of s.decidedBy ?? []) {
    const done = stage(again, now);
    if (done) await done;
  }
  const why = differs(s, again);
  if (why)
    throw new GatehouseError(
      'E_SETTINGS_CHANGED',
      `the gateway's settings changed while the call waited: ${why}; nothing ran`,
    );
}

/**
 * For execute: the check again before the request goes out (after its intent was written, and when
 * its turn in the ask lane comes). A refusal there is recorded as refused at recheck: nothing was sent.
 */
export function beforeSending(s: CallState, deps: PipelineDeps): () => Promise<void> {
  return () =>
    checkAgain(s, deps).catch((err: unknown) => {
      s.stage = 'recheck';
      throw err;
    });
}

/** Whether the settings were replaced since the request was decided on `deps`. */
export const settingsChanged = (deps: PipelineDeps): boolean => (deps.current?.() ?? deps) !== deps;

/** How the call decided again differs from the call about to go out, or undefined when it does not. */
function differs(s: CallState, again: CallState): string | undefined {
  if (again.route?.server !== s.route?.server || again.route?.tool !== s.route?.tool)
    return 'it names another target now';
  if (again.toolPin !== s.toolPin) return "the tool's definition changed";
  if (JSON.stringify(again.upstream?.arguments) !== JSON.stringify(s.upstream?.arguments))
    return 'its arguments check differently now';
  return decisionChange(s.decision, again.decision, Boolean(s.approval && s.approval.status !== 'pending'));
}

function decisionChange(was: Decision | undefined, is: Decision | undefined, approved: boolean): string | undefined {
  if (!was || !is || is.effect === 'allow') return undefined; // allowed now: whatever it needed before
  if (is.effect === 'shadow') return was.effect === 'shadow' ? undefined : 'it is in shadow mode now';
  if (is.effect === 'approval') {
    if (!approved || was.effect !== 'approval') return "it needs a person's approval now";
    const same = JSON.stringify(was.approvers) === JSON.stringify(is.approvers) && was.rule === is.rule;
    return same ? undefined : 'its approval was given under another rule';
  }
  return 'it is decided otherwise now';
}
