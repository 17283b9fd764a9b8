/**
 * route: namespaced name -> upstream server and the tool's own name. An unknown tool, a tool of an
 * unknown server, and (later) a tool policy forbids all give the same `unknown tool` error.
 */
import { GatehouseError, quote } from '../../protocol/errors.ts';
import type { Stage } from '../types.ts';

export const routeTool: Stage = (s, { catalog, upstreams }) => {
  const hit = catalog.resolve('tools', s.requested, s.ctx.scope || undefined);
  if (!hit || !upstreams.has(hit.server)) throw new GatehouseError('E_UNKNOWN_TOOL', `unknown tool ${quote(s.requested)}`);
  s.route = { server: hit.server, tool: hit.name, def: hit.def, qualified: catalog.qualify(hit.server, hit.name) };
};
