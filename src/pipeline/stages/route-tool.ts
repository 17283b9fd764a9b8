/**
 * route (tools/call): namespaced name -> upstream server and the tool's own name. An unknown tool and
 * a tool of an unknown server give the same `unknown tool` error (and, at authorize, so does a tool
 * the caller may not use). A name of a configured server that never connected is routed as written,
 * for authorize to judge (./unconnected.ts).
 */
import type { Stage } from '../types.ts';
import { unknownTarget } from './unknown.ts';
import { unconnectedRoute } from './unconnected.ts';
import { definedParams } from '../defined-params.ts';

export const routeTool: Stage = (s, deps) => {
  const { catalog, upstreams } = deps;
  const hit = catalog.resolve('tools', s.requested, s.ctx.scope || undefined);
  if (!hit || !upstreams.has(hit.server)) {
    // A server that never connected: judged at authorize (visible callers are told it is not connected).
    const route = unconnectedRoute(s, deps, 'tools');
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
    item: hit.name,
  };
  s.upstream = definedParams(s.method, { ...s.params, name: hit.name });
};
