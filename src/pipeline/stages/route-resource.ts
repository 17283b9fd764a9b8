/**
 * route (resources/read, subscribe, unsubscribe): a resource URI -> its server. On the aggregate
 * endpoint URIs are namespaced (`gatehouse:<server>/<uri>`), so a second server listing the same URI
 * can never capture reads meant for the first; on a per-server endpoint the URI is the server's own.
 * The URI is made the one form that goes upstream first (src/pipeline/resource-uri.ts), and the item
 * is looked up by that form: `tenant://a/evil` spelt `TENANT://a/evil` or `tenant://a/%65vil` is the
 * listed (and maybe quarantined) `tenant://a/evil` to every later stage. A resource the discovery
 * tenant's connection listed is only that owner's when connections differ by tenant
 * (src/pipeline/own-resources.ts).
 */
import { namespaceUri } from '../../catalog/uris.ts';
import type { JsonObject } from '../../protocol/jsonrpc.ts';
import type { Route, Stage } from '../types.ts';
import { unknownTarget } from './unknown.ts';
import { catalogueOwner } from '../own-resources.ts';
import { definedParams } from '../defined-params.ts';
import { forwardedUri } from '../resource-uri.ts';

export const routeResource: Stage = async (s, deps) => {
  const target = deps.catalog.resourceServer(s.requested, s.ctx.scope || undefined);
  if (!target) throw unknownTarget(s);
  const { server } = target;
  const route = (uri: string, def: JsonObject | undefined, item: string, rest: Partial<Route> = {}) => {
    s.route = { server, tool: uri, def: def ?? {}, qualified: namespaceUri(server, uri), item, ...rest };
    s.upstream = definedParams(s.method, { ...s.params, uri });
  };
  // A completion may name a template itself: a pattern, not a resource, passed on as the server wrote it.
  const named = s.method === 'completion/complete' ? deps.catalog.templateNamed(server, target.uri) : undefined;
  if (named) return route(target.uri, named, `template:${String(named.uriTemplate)}`);
  const c = await forwardedUri(deps, server, target.uri);
  // Refused at validate, after visibility: a caller who may not read here learns nothing of the URI.
  if (!c.ok) return route(target.uri, undefined, '', { resource: { refused: c.reason } });
  // A listed resource of a server whose connections differ by tenant is the discovery owner's data:
  // to anyone else its URI is one nothing lists (their own listing is their connection's).
  const found = [...new Set(c.forms.flatMap((f) => deps.catalog.listedAt(server, f)))];
  const listed = found.length && catalogueOwner(deps, server, s.ctx.principal) ? found : [];
  if (listed.length) {
    const [first, ...others] = listed;
    const also = others.length ? { also: others.map((d) => `resource:${String(d.uri)}`) } : {};
    return route(c.uri, first, `resource:${String(first.uri)}`, { resource: c.resource, ...also });
  }
  const template = deps.catalog.templateFor(server, c.uri);
  if (template) return route(c.uri, template, `template:${String(template.uriTemplate)}`, { resource: c.resource });
  // A URI nothing lists (nor any template matches): only its server's standing applies.
  route(c.uri, undefined, '', { resource: c.resource });
};
