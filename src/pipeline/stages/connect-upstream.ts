/**
 * connect: the caller's own connection to the server — its tenant's (its own, for per-user upstream
 * OAuth) — holding that tenant's secrets, resolved now from the secrets manager or its cache. Nothing
 * is ever answered from another tenant's connection. Unavailable credentials refuse the request here,
 * before any record says it went upstream. Where connections differ by tenant, a tool or prompt is
 * used only if the caller's connection defines it as the catalogue does (src/pipeline/own-definitions.ts):
 * the definition the inventory reviewed is the one that runs; a resource its own listing holds that the
 * inventory's scan flags is refused as quarantined (src/pipeline/own-resources.ts).
 */
import { callerToken } from '../../identity/authenticator.ts';
import { checkOwnDefinition, foreignDefinitions } from '../own-definitions.ts';
import { checkOwnResource } from '../own-resources.ts';
import type { Stage } from '../types.ts';
import { routeOf, serverConfigOf } from './needs.ts';

export const connectUpstream: Stage = async (s, deps) => {
  const route = routeOf(s);
  const cfg = serverConfigOf(deps.credentials, route.server);
  const p = s.ctx.principal;
  const held = await deps.credentials.pool.get(cfg, p.tenant, p.subject, callerToken(p));
  s.up = held.up;
  s.injected = held.values;
  // tasks/*: the task's tools/call passed this test; the sealed handle binds it to that call.
  if (
    (s.kind === 'tool' || s.kind === 'prompt') &&
    !s.method.startsWith('tasks/') &&
    foreignDefinitions(deps, route.server, p)
  )
    await checkOwnDefinition(
      deps,
      { kind: s.kind === 'tool' ? 'tools' : 'prompts', server: route.server, name: route.tool, requested: s.requested },
      held,
    );
  // A resource: what the caller's own connection lists and the scan flags is quarantined for it too.
  if (s.kind === 'resource' && foreignDefinitions(deps, route.server, p))
    await checkOwnResource(deps, { server: route.server, uri: route.tool, requested: s.requested }, held.up);
};
