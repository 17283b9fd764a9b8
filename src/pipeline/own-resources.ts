/**
 * Listed resources of a server whose connections differ by tenant (a credential reference naming
 * `{tenant}`, or upstream OAuth per tenant or user): they are data of the connection's owner, so a
 * caller is shown its own connection's, never the discovery tenant's. The discovery owner's come from
 * the catalogue (pinned and reviewed by the inventory); anyone else's from the caller's own connection
 * — the one its calls use — listed once and kept until that connection says its list changed,
 * reconnects or is replaced. What a connection lists passes the scan the inventory gives a new listed
 * resource (flagged: not shown) and is sanitised the same way; then the same visibility test and
 * scrubbing as every listing. A caller whom no rule lets see any resource of the server makes no
 * connection and sends nothing upstream. What the scan flags in a connection's listing is refused to a
 * request naming it as well (`checkOwnResource`), as the catalogue's quarantine refuses the discovery
 * owner's.
 */
import { listAll } from '../catalog/catalog.ts';
import { canonicalResourceUri } from '../policy/canonical.ts';
import { GatehouseError, quote } from '../protocol/errors.ts';
import { namespaceUri } from '../catalog/uris.ts';
import { connectionOwner, discoveryTenant, variesByOwner } from '../credentials/broker.ts';
import { callerToken } from '../identity/authenticator.ts';
import { sanitize, scanItem } from '../inventory/scan.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type { Upstream } from '../upstream/upstream.ts';
import type { RequestContext } from '../gateway/context.ts';
import { usable } from './stages/authorize-target.ts';
import type { PipelineDeps } from './types.ts';

/** A connection's own listing: the kinds whose items belong to its owner where connections differ. */
export type OwnKind = 'tools' | 'prompts' | 'resources';

/** What each connection listed (raw, as the upstream wrote it), per kind, while it is current. */
const listed = new WeakMap<Upstream, Map<OwnKind, Promise<JsonObject[]>>>();
/** Connections whose events already drop their entries. */
const watched = new WeakSet<Upstream>();

const CHANGED: Record<string, OwnKind> = {
  'notifications/tools/list_changed': 'tools',
  'notifications/prompts/list_changed': 'prompts',
  'notifications/resources/list_changed': 'resources',
};

function watch(up: Upstream): void {
  if (watched.has(up)) return;
  watched.add(up);
  const drop = () => listed.delete(up);
  up.on('ready', drop);
  up.on('down', drop);
  up.on('event', (n) => {
    // Own properties only: an upstream's method `constructor` is no kind.
    const kind = Object.hasOwn(CHANGED, n.method) ? CHANGED[n.method] : undefined;
    if (kind) listed.get(up)?.delete(kind);
  });
}

/**
 * The `kind` items `up` lists, fetched on first need and kept until the connection says that list
 * changed, reconnects or goes down; a failed listing is not kept.
 */
export function connectionListing(up: Upstream, kind: OwnKind): Promise<JsonObject[]> {
  let kinds = listed.get(up);
  const kept = kinds?.get(kind);
  if (kept) return kept;
  watch(up);
  if (!kinds) {
    kinds = new Map();
    listed.set(up, kinds);
  }
  const p = (async () => {
    if (!up.identity) await up.start();
    return up.identity?.capabilities[kind] ? listAll(up, kind) : [];
  })();
  kinds.set(kind, p);
  p.catch(() => {
    if (listed.get(up)?.get(kind) === p) listed.get(up)?.delete(kind);
  });
  return p;
}

/** The servers of an endpoint whose listed resources belong to each connection's owner. */
export function ownedServers(deps: Pick<PipelineDeps, 'credentials' | 'upstreams'>, scope: string): string[] {
  const names = scope ? [scope] : [...deps.upstreams.keys()];
  return names.filter((s) => {
    const cfg = deps.credentials.configOf(s);
    return cfg !== undefined && variesByOwner(cfg);
  });
}

/** Whether `principal` is shown the catalogue's resources of `server`: its connections are alike, or its connection is the catalogue's. */
export function catalogueOwner(
  deps: Pick<PipelineDeps, 'credentials'>,
  server: string,
  principal: { tenant: string; subject: string },
): boolean {
  const cfg = deps.credentials.configOf(server);
  return (
    !cfg || !variesByOwner(cfg) || connectionOwner(cfg, principal.tenant, principal.subject) === discoveryTenant(cfg)
  );
}

/**
 * Per connection listing (while its connection keeps it) and catalogue version (the scan reads the
 * other servers' tool names): the canonical URIs of what it lists that the inventory's scan flags.
 */
const flaggedOf = new WeakMap<JsonObject[], { version: number; uris: Set<string> }>();

/**
 * For a request naming a resource on the caller's own connection where that is not the catalogue's
 * (`connect`): a resource that connection lists and the scan flags — hidden from the caller's own
 * listing — is refused as quarantined, by whatever spelling (`uri` is canonical: resource-uri.ts).
 * What the discovery tenant lists is not consulted: the caller's own listing is its own data.
 */
export async function checkOwnResource(
  deps: PipelineDeps,
  read: { server: string; uri: string; requested: string },
  up: Upstream,
): Promise<void> {
  const items = await connectionListing(up, 'resources');
  const version = deps.catalog.version;
  let kept = flaggedOf.get(items);
  if (kept?.version !== version) {
    const uris = new Set<string>();
    for (const def of items) {
      const c = typeof def.uri === 'string' ? canonicalResourceUri(def.uri) : undefined;
      if (c?.ok && !presented(deps, read.server, def)) uris.add(c.uri);
    }
    kept = { version, uris };
    flaggedOf.set(items, kept);
  }
  if (kept.uris.has(read.uri))
    throw new GatehouseError(
      'E_TOOL_QUARANTINED',
      `resource ${quote(read.requested)} is quarantined until an operator reviews it`,
    );
}

/** A resource a connection listed, as a client may see it: undefined when the inventory's scan flags it. */
function presented(deps: PipelineDeps, server: string, def: JsonObject): JsonObject | undefined {
  if (typeof def.uri !== 'string' || !def.uri) return undefined;
  if (scanItem(def, { otherTools: deps.catalog.otherTools(server) }).length) return undefined;
  return sanitize(def);
}

/**
 * The caller's own resources of `server`, as the upstream names them (sanitised; not yet namespaced,
 * filtered or scrubbed). Empty when no rule lets the caller see a resource of it, when the server is
 * quarantined, or when the caller's connection cannot be made or listed (the rest of the listing stands).
 */
export async function ownResources(
  ctx: Pick<RequestContext, 'principal'>,
  server: string,
  deps: PipelineDeps,
): Promise<JsonObject[]> {
  const p = ctx.principal;
  const cfg = deps.credentials.configOf(server);
  if (!cfg) return [];
  const anything = usable(deps, p, { server, name: namespaceUri(server, ''), kind: 'resource', class: 'READ' });
  if (!anything || deps.inventory.item(server, '').serverQuarantine) return [];
  if (catalogueOwner(deps, server, p)) return deps.catalog.list('resources', server);
  try {
    const { up } = await deps.credentials.pool.get(cfg, p.tenant, p.subject, callerToken(p));
    const out: JsonObject[] = [];
    for (const def of await connectionListing(up, 'resources')) {
      const shown = presented(deps, server, def);
      if (shown) out.push(shown);
    }
    return out;
  } catch {
    return [];
  }
}
