/**
 * Stages whose behaviour later issues fill in. Each exists now, in its place in the order, so that
 * the order is fixed and visible; today each passes through and says what it will do.
 */
import { GatehouseError } from '../../protocol/errors.ts';
import type { Stage } from '../types.ts';

/**
 * authenticate: the listener verified the credential before parsing the body (401/403 belong to the
 * HTTP exchange); here the pipeline only insists that a principal is present.
 */
export const requirePrincipal: Stage = (s) => {
  if (!s.ctx.principal) throw new GatehouseError('E_UNAUTHENTICATED');
};


/**
 * redact: injected credential values (in every encoding) are removed from the result before it leaves
 * the gateway: an upstream that echoes its environment or headers gives nothing away. (What the audit
 * keeps of the result is redacted further, in the outcome record.)
 */
export const redactResult: Stage = (s, { credentials }) => {
  if (s.result) s.result = credentials.scrubber.value(s.result, s.injected ?? []);
};
