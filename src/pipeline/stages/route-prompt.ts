/** route (prompts/get): namespaced prompt name -> its server and the prompt's own name. */
import type { Stage } from '../types.ts';
import { unknownTarget } from './unknown.ts';
import { unconnectedRoute } from './unconnected.ts';
import { definedParams } from '../defined-params.ts';

export const routePrompt: Stage = (s, deps) => {
  const { catalog, upstreams } = deps;
  const hit = catalog.resolve('prompts', s.requested, s.ctx.scope || undefined);
  if (!hit || !upstreams.has(hit.server)) {
    // A server that never connected: judged at authorize (visible callers are told it is not connected).
    const route = unconnectedRoute(s, deps, 'prompts');
    if (!route) throw unknownTarget(s);
    s.route = route;
    s.upstream = definedParams(s.method, { ...s.params, name: route.tool });
    return;
  }
  s.route = {
    server: hit.server,
    tool: hit.name,
    def: hit.def,
    qualified: catalog.qualify(hit.server, hit.name),
    item: `prompt:${hit.name}`,
  };
  s.upstream = definedParams(s.method, { ...s.params, name: hit.name });
};
