/**
 * record: the write-ahead audit record, durable before anything reaches the upstream. If the audit
 * store cannot take it, the call is refused (fail closed) — except READ calls when the operator chose
 * `audit.readWhenUnavailable: allow`, which is then logged and counted.
 */
import { GatehouseError } from '../../protocol/errors.ts';
import type { Stage } from '../types.ts';

export const recordIntent: Stage = async (s, { audit, metrics, credentials }) => {
  try {
    // Its arguments redacted of every tenant's injected secrets (policy may let one through: secrets.outbound).
    s.intent = await audit.intent(audit.recorder.intent(s, credentials.scrubber.valuesWith(s.injected)));
  } catch {
    if (s.toolClass === 'READ' && audit.config.readWhenUnavailable === 'allow') {
      metrics.auditFailOpen.inc();
      return;
    }
    throw new GatehouseError(
      'E_AUDIT_UNAVAILABLE',
      `the audit trail cannot be written, so ${s.toolClass === 'READ' ? 'calls are' : 'calls that change things are'} refused`,
    );
  }
};
