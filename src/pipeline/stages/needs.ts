/**
 * What a stage reads that an earlier stage set: the route (set by route), what goes upstream (route,
 * then validate), the caller's connection (connect). The method table puts those stages first, so a
 * missing one is the gateway's own fault: an internal error, never a guess.
 */
import { GatehouseError, quote } from '../../protocol/errors.ts';
import type { ServerConfig } from '../../config/schema.ts';
import type { JsonObject } from '../../protocol/jsonrpc.ts';
import type { Upstream } from '../../upstream/upstream.ts';
import type { CallState, PipelineDeps, Route } from '../types.ts';

function unset(field: string, by: string): GatehouseError {
  return new GatehouseError('E_INTERNAL', `the call state has no ${field}: the ${by} stage did not run`);
}

export function routeOf(s: CallState): Route {
  if (!s.route) throw unset('route', 'route');
  return s.route;
}

/** Exactly what goes upstream (set by route, made canonical by validate). */
export function upstreamOf(s: CallState): JsonObject {
  if (!s.upstream) throw unset('upstream request', 'route');
  return s.upstream;
}

/** The caller's tenant's connection to the server. */
export function connectionOf(s: CallState): Upstream {
  if (!s.up) throw unset('connection', 'connect');
  return s.up;
}

/** The routed server's config; a reload may have removed the server since: then it is unavailable. */
export function serverConfigOf(credentials: PipelineDeps['credentials'], server: string): ServerConfig {
  const cfg = credentials.configOf(server);
  if (!cfg) throw new GatehouseError('E_UPSTREAM_UNAVAILABLE', `upstream ${quote(server)} is no longer configured`);
  return cfg;
}
