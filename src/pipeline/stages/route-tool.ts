/**
 * route (tools/call): namespaced name -> upstream server and the tool's own name. An unknown tool and
 * a tool of an unknown server give the same `unknown tool` error (and, at authorize, so does a tool
 * the caller may not use).
 */
import type { Stage } from '../types.ts';
import { unknownTarget } from './unknown.ts';
import { definedParams } from '../defined-params.ts';

export const routeTool: Stage = (s, { catalog, upstreams }) => {
  const hit = catalog.resolve('tools', s.requested, s.ctx.scope || undefined);
  if (!hit || !upstreams.has(hit.server)) throw unknownTarget(s);
  s.route = {
    server: hit.server,
    tool: hit.name,
    def: hit.def,
    qualified: catalog.qualify(hit.server, hit.name),
    item: hit.name,
  };
  s.upstream = definedParams(s.method, { ...s.params, name: hit.name });
};
