/**
 * authorize: visibility before everything. A target the caller may not use — denied by policy
 * whatever the arguments, switched off by a mode, or needing scopes the caller's token lacks — gets
 * exactly the answer a nonexistent one gets, before anything reads its arguments: no schema error,
 * no insufficient-scope challenge, no quarantine notice tells it apart. Listings use the same test
 * (`usable`). Then a usable target that is quarantined is refused as such.
 */
import { GatehouseError, quote } from '../../protocol/errors.ts';
import { visible } from '../../policy/evaluate.ts';
import { modeAllows } from '../../policy/modes.ts';
import type { ResourceKind } from '../../policy/model.ts';
import type { Principal } from '../../identity/principal.ts';
import type { PipelineDeps, Stage, TargetKind, ToolClass } from '../types.ts';
import { unknownTarget } from './unknown.ts';
import { routeOf } from './needs.ts';
import { notConnected } from './unconnected.ts';

/** Whether `principal` may use the target at all (its arguments not yet known). */
export function usable(
  deps: Pick<PipelineDeps, 'policy' | 'modes' | 'identity'>,
  principal: Principal,
  t: {
    server: string;
    name: string;
    kind: TargetKind;
    class: ToolClass;
    resources?: Array<{ kind: string; value: string }>;
    /** A resource template's: the kind its URIs are. */
    resourceKinds?: readonly ResourceKind[];
  },
): boolean {
  const needed = [...deps.identity.classScopes(t.class)];
  if (needed.some((x) => !principal.scopes.includes(x))) return false;
  const { subject, issuer, tenant, client, roles } = principal;
  const p = { subject, issuer, tenant, client, roles };
  if (!deps.policy) return modeAllows(deps.modes, { tenant: p.tenant, server: t.server, tool: t.name }, t.class);
  return visible(p, t.name, t.class, deps.policy, {
    server: t.server,
    now: Date.now(),
    kind: t.kind,
    resources: t.resources as never,
    resourceKinds: t.resourceKinds,
  });
}

export const authorizeTarget: Stage = (s, deps) => {
  const route = routeOf(s);
  if (
    !usable(deps, s.ctx.principal, {
      server: route.server,
      name: route.qualified,
      kind: s.kind,
      class: s.toolClass ?? 'DESTRUCTIVE',
    })
  )
    throw unknownTarget(s);
  // Only now, to a caller who may see the name: the server it names has not connected.
  if (route.unconnected) throw notConnected(route.server);
  if (s.quarantine) {
    const what = s.kind === 'tool' ? 'tool' : s.kind;
    throw new GatehouseError(
      'E_TOOL_QUARANTINED',
      `${what} ${quote(s.requested)} is quarantined until an operator reviews it`,
    );
  }
};
