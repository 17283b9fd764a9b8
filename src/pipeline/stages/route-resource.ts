/**
 * route (resources/read, subscribe, unsubscribe): a resource URI -> its server. On the aggregate
 * endpoint URIs are namespaced (`gatehouse:<server>/<uri>`), so a second server listing the same URI
 * can never capture reads meant for the first; on a per-server endpoint the URI is the server's own.
 */
import { namespaceUri } from '../../catalog/uris.ts';
import type { JsonObject } from '../../protocol/jsonrpc.ts';
import type { Stage } from '../types.ts';
import { unknownTarget } from './unknown.ts';

export const routeResource: Stage = (s, { catalog }) => {
  const hit = catalog.resolveResource(s.requested, s.ctx.scope || undefined);
  if (!hit) throw unknownTarget(s);
  s.route = {
    server: hit.server,
    tool: hit.uri,
    def: hit.def ?? {},
    qualified: namespaceUri(hit.server, hit.uri),
    item: itemOf(hit),
  };
  s.upstream = { ...s.params, uri: hit.uri } as JsonObject;
};

/** The inventory item behind the URI: its template, the listed resource, or none (a URI nothing lists). */
function itemOf(hit: { uri: string; def?: JsonObject; template?: boolean }): string {
  if (!hit.def) return '';
  return hit.template ? `template:${String(hit.def.uriTemplate)}` : `resource:${hit.uri}`;
}
