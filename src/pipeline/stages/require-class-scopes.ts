/**
 * authorize: the scopes a tools/call of this class needs (`identity.requiredScopes.READ|WRITE|
 * DESTRUCTIVE`), from the verified token. Falling short is 403 `insufficient_scope` with the scopes
 * named in the challenge, so an OAuth client can step up.
 */
import type { Stage } from '../types.ts';

export const requireClassScopes: Stage = (s, { identity }) => {
  identity.requireScopes(s.ctx.principal, identity.classScopes(s.toolClass ?? 'DESTRUCTIVE'));
};
