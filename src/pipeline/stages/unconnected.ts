/**
 * A tool or prompt of a configured server the gateway has no catalogue of: it never connected (its
 * discovery tenant's credentials are unavailable, its first start is under way or failed). Nothing
 * says whether the name exists there, so the route is kept as the caller wrote it and passes classify
 * and authorize like any other: a caller who may not see the name gets `unknown tool`, exactly as for
 * a name of no server; one who may is told the server is not connected (authorize). No other
 * tenant's connection is used instead: its tools are the reviewed ones only (ADR 0010), and without
 * the catalogue there is nothing reviewed to hold them to.
 */
import { GatehouseError, quote } from '../../protocol/errors.ts';
import type { CallState, PipelineDeps, Route } from '../types.ts';

export function unconnectedRoute(
  s: CallState,
  { catalog, credentials }: Pick<PipelineDeps, 'catalog' | 'credentials'>,
  kind: 'tools' | 'prompts',
): Route | undefined {
  const target = s.ctx.scope ? { server: s.ctx.scope, name: s.requested } : catalog.split(s.requested);
  if (!target?.name || catalog.has(target.server) || !credentials.configOf(target.server)) return undefined;
  return {
    server: target.server,
    tool: target.name,
    def: {},
    qualified: catalog.qualify(target.server, target.name),
    item: kind === 'prompts' ? `prompt:${target.name}` : target.name,
    unconnected: true,
  };
}

/** What a caller who may see the server is told: its name and that it is not connected; nothing of why (whose secret). */
export function notConnected(server: string): GatehouseError {
  return new GatehouseError(
    'E_UPSTREAM_UNAVAILABLE',
    `upstream ${quote(server)} is not connected: its tools and prompts cannot be used until the gateway connects to it (retried in the background; an operator sees why in /readyz and the log)`,
  );
}
