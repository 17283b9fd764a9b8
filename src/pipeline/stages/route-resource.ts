/**
 * route (resources/read, subscribe, unsubscribe): a resource URI -> its server. On the aggregate
 * endpoint URIs are namespaced (`gatehouse:<server>/<uri>`), so a second server listing the same URI
 * can never capture reads meant for the first; on a per-server endpoint the URI is the server's own.
 * A resource the discovery tenant's connection listed is only that owner's when connections differ by
 * tenant (src/pipeline/own-resources.ts).
 */
import { namespaceUri } from '../../catalog/uris.ts';
import type { JsonObject } from '../../protocol/jsonrpc.ts';
import type { Stage } from '../types.ts';
import { unknownTarget } from './unknown.ts';
import { catalogueOwner } from '../own-resources.ts';
import { definedParams } from '../defined-params.ts';

export const routeResource: Stage = (s, deps) => {
  const found = deps.catalog.resolveResource(s.requested, s.ctx.scope || undefined);
  if (!found) throw unknownTarget(s);
  // A listed resource of a server whose connections differ by tenant is the discovery owner's data:
  // to anyone else its URI is one nothing lists (their own listing is their connection's).
  const foreign = found.def && !found.template && !catalogueOwner(deps, found.server, s.ctx.principal);
  const hit = foreign ? { server: found.server, uri: found.uri } : found;
  s.route = {
    server: hit.server,
    tool: hit.uri,
    def: hit.def ?? {},
    qualified: namespaceUri(hit.server, hit.uri),
    item: itemOf(hit),
  };
  s.upstream = definedParams(s.method, { ...s.params, uri: hit.uri });
};

/** The inventory item behind the URI: its template, the listed resource, or none (a URI nothing lists). */
function itemOf(hit: { uri: string; def?: JsonObject; template?: boolean }): string {
  if (!hit.def) return '';
  return hit.template ? `template:${String(hit.def.uriTemplate)}` : `resource:${hit.uri}`;
}
