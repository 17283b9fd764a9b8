/**
 * authenticate: the listener verified the credential before parsing the body (401/403 belong to the
 * HTTP exchange); here the pipeline only insists that a principal is present.
 */
import { GatehouseError } from '../../protocol/errors.ts';
import type { Stage } from '../types.ts';

export const requirePrincipal: Stage = (s) => {
  if (!s.ctx.principal) throw new GatehouseError('E_UNAUTHENTICATED');
};
