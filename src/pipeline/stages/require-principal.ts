/**
 * authenticate: the listener verified the credential before parsing the body (401/403 belong to the
 * HTTP exchange); here the pipeline insists that a principal is present, and that one which presented
 * no credential (the local user of `gatehouse stdio`, which no listener authenticates) is not revoked.
 */
import { GatehouseError } from '../../protocol/errors.ts';
import type { Stage } from '../types.ts';

export const requirePrincipal: Stage = (s, deps) => {
  if (!s.ctx.principal) throw new GatehouseError('E_UNAUTHENTICATED');
  const revoked = deps.identity.revokedWithoutCredential(s.ctx.principal);
  if (revoked) throw new GatehouseError('E_UNAUTHENTICATED', revoked);
};
