/**
 * Listings (tools/list, prompts/list, resources/list, resources/templates/list) as one caller may
 * see them: the catalogue's items through the same visibility test as authorize (policy, modes,
 * scopes), scrubbed of every injected secret, cached per endpoint, kind and visibility key. Of a
 * server whose connections differ by tenant, a caller is shown its own connection's resources
 * (own-resources.ts) and the tools and prompts its connection defines as the catalogue does
 * (own-definitions.ts).
 */
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type { Catalog, Kind } from '../catalog/catalog.ts';
import { StampedCache } from '../catalog/listing-cache.ts';
import { usable } from './stages/authorize-target.ts';
import { canonicalResourceUri } from '../policy/canonical.ts';
import { modeAllows } from '../policy/modes.ts';
import type { ResourceKind } from '../policy/model.ts';
import { namespaceUri, splitUri } from '../catalog/uris.ts';
import type { PipelineDeps, TargetKind, ToolClass } from './types.ts';
import type { RequestContext } from '../gateway/context.ts';
import { keyDigests, type KeyedItems } from '../gateway/paginate.ts';
import { ownResources, ownedServers } from './own-resources.ts';
import { alikeNames, foreignDefinitions, type DefinitionKind } from './own-definitions.ts';

const KIND_OF: Record<Kind, TargetKind> = {
  tools: 'tool',
  prompts: 'prompt',
  resources: 'resource',
  resourceTemplates: 'resource',
};

/** A catalogue item as every caller's listing starts from it, with what the visibility test needs. */
interface SharedItem {
  /** Namespaced (aggregate endpoint) and sanitised by the inventory. */
  raw: JsonObject;
  /** `raw` scrubbed on its own. */
  item: JsonObject;
  target: ItemTarget;
  class: ToolClass;
  /** Has a `text` string: the scrubber joins such items' texts to find a secret split across them. */
  text: boolean;
}

/** The listing caches of one catalogue (src/catalog/listing-cache.ts says what invalidates them). */
const caches = new WeakMap<
  Catalog,
  {
    shared: StampedCache<SharedItem[]>;
    visible: StampedCache<KeyedItems<JsonObject>>;
    views: StampedCache<KeyedItems<JsonObject>>;
    servers: StampedCache<boolean>;
  }
>();

function cachesOf(catalog: Catalog) {
  let c = caches.get(catalog);
  if (!c) {
    // Endpoints x kinds; visibility keys are about one per principal in use.
    c = {
      shared: new StampedCache<SharedItem[]>(1024),
      visible: new StampedCache<KeyedItems<JsonObject>>(256),
      views: new StampedCache<KeyedItems<JsonObject>>(256),
      // Servers x visibility keys that hear out-of-call notices (heardOf).
      servers: new StampedCache<boolean>(4096),
    };
    caches.set(catalog, c);
  }
  return c;
}

/**
 * A listing as this caller may see it: the catalogue's items (sanitised by the inventory) that pass
 * the same visibility test as authorize — policy, modes and scopes — scrubbed of every injected secret,
 * with the digests of their keys. Built once per endpoint, kind and visibility key (tenant, issuer,
 * subject, client, roles, scopes: all the test reads of the caller), kept while the catalogue, the inventory,
 * the scrubber's values, the policy, the modes and the identity settings stay the same objects and no
 * rule's `validUntil` has passed.
 */
type Caller = Pick<RequestContext, 'principal' | 'scope'>;

function listing(ctx: Caller, list: { kind: Kind; key: string }, deps: PipelineDeps): KeyedItems<JsonObject> {
  const { kind, key } = list;
  const p = ctx.principal;
  const now = Date.now();
  const { visible, views } = cachesOf(deps.catalog);
  const all = sharedList(deps, ctx.scope, kind, now);
  const who = `${kind}\u0000${ctx.scope}\u0000${viewKey(p)}`;
  // `all` is rebuilt whenever the catalogue, inventory or scrubber changes: it stands for them.
  const stamp = [all, deps.policy, deps.modes, deps.identity];
  return visible.get(who, stamp, now, () => {
    const kept: number[] = [];
    for (let i = 0; i < all.length; i++) if (visibleTo(deps, p, kind, all[i])) kept.push(i);
    // Callers who see the same items share one list (and its pages).
    const value = views.get(`${kind}:${ctx.scope}:${kept.join(',')}`, [all], now, () => ({
      value: visibleItems(
        kept.map((i) => all[i]),
        key,
        deps,
      ),
    }));
    return { value, expiresAt: policyExpiry(deps, now) };
  });
}

/**
 * resources/list: the catalogue's listing, and for each server whose connections differ by tenant the
 * caller's own resources (src/pipeline/own-resources.ts) through the same visibility test and scrubbing.
 */
async function resourceListing(
  ctx: Caller,
  list: { kind: Kind; key: string },
  deps: PipelineDeps,
): Promise<KeyedItems<JsonObject>> {
  const shared = listing(ctx, list, deps);
  const owned = ownedServers(deps, ctx.scope);
  if (!owned.length) return shared;
  const parts = await Promise.all(owned.map((server) => ownResources(ctx, server, deps)));
  const own: SharedItem[] = [];
  owned.forEach((server, i) => {
    for (const def of parts[i]) {
      const raw = ctx.scope ? def : { ...def, uri: namespaceUri(server, String(def.uri)) };
      const item = sharedItem(deps, ctx.scope || undefined, 'resources', raw);
      if (item && visibleTo(deps, ctx.principal, 'resources', item)) own.push(item);
    }
  });
  if (!own.length) return shared;
  const mine = visibleItems(own, list.key, deps);
  const items = [...shared.items, ...mine.items];
  return { items, keys: [...shared.keys, ...mine.keys], pages: new Map() };
}

/** The field each kind's items are keyed by (as dispatch's listings name it). */
const KEY_OF: Record<Kind, string> = {
  tools: 'name',
  prompts: 'name',
  resourceTemplates: 'uriTemplate',
  resources: 'uri',
};

/**
 * Whether the caller is shown anything of the server `scope` (a tool, prompt, resource or template,
 * under policy, modes, scopes and quarantine): a server it may use nothing of does not exist for it
 * (`/servers/<name>/mcp` answers as for an unknown name). The cached listings answer, so most calls
 * cost a lookup; a server whose connections differ by tenant is asked for the caller's own resources
 * only when nothing else of it is visible.
 */
export async function seesServer(caller: Caller, deps: PipelineDeps): Promise<boolean> {
  const kinds: Kind[] = ['tools', 'prompts', 'resourceTemplates', 'resources'];
  if (kinds.some((kind) => listing(caller, { kind, key: KEY_OF[kind] }, deps).items.length)) return true;
  if (!ownedServers(deps, caller.scope).length) return false;
  return (await resourceListing(caller, { kind: 'resources', key: KEY_OF.resources }, deps)).items.length > 0;
}

/**
 * Whether `p` may see anything of `server` now, by the test its listings apply (policy, modes, scopes,
 * quarantine): whether it may hear what the server says outside any call (a log message, a resource
 * update, a task's status: listeners/notice-audience.ts). At once, without a connection: of a server
 * whose connections differ by tenant, its resources are judged as the catalogue lists them (the
 * discovery connection's, reviewed): a caller who may see none of them, nor a tool, prompt or template,
 * hears nothing of it, even if its own connection lists a resource it may see. Kept per server and
 * visibility key, while the listings' own stamp holds.
 */
export function heardOf(deps: PipelineDeps, p: RequestContext['principal'], server: string): boolean {
  const now = Date.now();
  const lists = NOTICE_KINDS.map((kind) => sharedList(deps, server, kind, now));
  const stamp = [...lists, deps.policy, deps.modes, deps.identity];
  return cachesOf(deps.catalog).servers.get(`${server}\u0000${viewKey(p)}`, stamp, now, () => ({
    value:
      lists.some((all, i) => all.some((s) => visibleTo(deps, p, NOTICE_KINDS[i], s))) ||
      (ownedServers(deps, server).length > 0 &&
        seesAny(deps, p, server, 'resources', deps.catalog.list('resources', server))),
    expiresAt: policyExpiry(deps, now),
  }));
}
const NOTICE_KINDS: Kind[] = ['tools', 'prompts', 'resourceTemplates', 'resources'];

/**
 * Whether `p` may use the tool `qualified` (as the aggregate endpoint names it) of `server`: the test
 * authorize applies to a call of it, its class the inventory's. Whether it hears of a task it started.
 */
export function seesTool(
  deps: PipelineDeps,
  p: RequestContext['principal'],
  server: string,
  qualified: string,
): boolean {
  const prefix = deps.catalog.qualify(server, '');
  if (!qualified.startsWith(prefix)) return false;
  return seesAny(deps, p, server, 'tools', [{ name: qualified.slice(prefix.length) }]);
}

/** The listing of `list.kind` a caller is shown, before its page is cut. */
export function listingFor(
  ctx: RequestContext,
  list: { kind: Kind; key: string },
  deps: PipelineDeps,
): KeyedItems<JsonObject> | Promise<KeyedItems<JsonObject>> {
  if (list.kind === 'resources') return resourceListing(ctx, list, deps);
  if (list.kind === 'resourceTemplates') return listing(ctx, list, deps);
  return definitionListing(ctx, { kind: list.kind, key: list.key }, deps);
}

/**
 * tools/list and prompts/list: the catalogue's listing; but of a server whose connections differ by
 * tenant, when the caller's connection is not the catalogue's, only the items its own connection lists
 * alike (src/pipeline/own-definitions.ts). Its connection is made only if it may see an item there.
 */
async function definitionListing(
  ctx: RequestContext,
  list: { kind: DefinitionKind; key: string },
  deps: PipelineDeps,
): Promise<KeyedItems<JsonObject>> {
  const foreign = ownedServers(deps, ctx.scope).filter((s) => foreignDefinitions(deps, s, ctx.principal));
  if (!foreign.length) return listing(ctx, list, deps);
  const p = ctx.principal;
  const visible = sharedList(deps, ctx.scope, list.kind, Date.now()).filter((s) => visibleTo(deps, p, list.kind, s));
  const asked = foreign.filter((server) => visible.some((s) => s.target.server === server));
  const alike = new Map(
    await Promise.all(asked.map(async (server) => [server, await alikeNames(ctx, server, list.kind, deps)] as const)),
  );
  const kept = visible.filter(
    (s) => !foreign.includes(s.target.server) || alike.get(s.target.server)?.has(s.target.name),
  );
  return visibleItems(kept, list.key, deps);
}

/** The items a caller may see, scrubbed, with the digests of their keys. */
function visibleItems(kept: SharedItem[], key: string, deps: PipelineDeps): KeyedItems<JsonObject> {
  // Items scrubbed one by one are what scrubbing the list gives, unless two of them carry texts the
  // scrubber reads as consecutive blocks (a secret split across them): then the list, as it always was.
  const items =
    kept.filter((s) => s.text).length > 1
      ? deps.credentials.scrubber.value(kept.map((s) => s.raw))
      : kept.map((s) => s.item);
  return { items, keys: keyDigests(items, (item) => String(item[key])), pages: new Map() };
}

/**
 * Everything the visibility test reads of a caller: callers with the same key see the same items. The
 * issuer too: a rule may name `{ issuer, subject }`, so two issuers' `alice` may see different items.
 */
export function viewKey(p: RequestContext['principal']): string {
  return JSON.stringify([p.tenant, p.issuer, p.subject, p.client, [...p.roles].sort(), [...p.scopes].sort()]);
}

/** The shared items of `kind` on the endpoint `scope` (`''`: the aggregate), kept while the catalogue, inventory and scrubber stay the same. */
function sharedList(deps: PipelineDeps, scope: string, kind: Kind, now: number): SharedItem[] {
  const base = [deps.catalog.version, deps.inventory.generation, deps.credentials.scrubber.revision];
  return cachesOf(deps.catalog).shared.get(JSON.stringify([kind, scope]), base, now, () => ({
    value: sharedItems(deps, scope || undefined, kind),
  }));
}

/**
 * Whether what `p` may list of `kind` on the endpoint `scope` (`''`: the aggregate) differs between
 * two settings of the same catalogue (modes, policy, identity): whether a caller hears of a change
 * of them. A caller whose own view stayed the same hears nothing of another tenant's modes.
 */
export function viewDiffers(
  before: PipelineDeps,
  after: PipelineDeps,
  p: RequestContext['principal'],
  scope: string,
  kind: Kind,
): boolean {
  // When only the modes differ (a run-time mode, the usual case), an item's visibility can change
  // only where the mode's verdict on it did: the rest of the test is the same on both sides, so most
  // items cost two mode lookups instead of two policy evaluations (10 ms per caller for 1,000 tools).
  const modesOnly = sameButModes(before, after);
  for (const s of sharedList(after, scope, kind, Date.now())) {
    if (modesOnly && modeVerdict(before, p, s) === modeVerdict(after, p, s)) continue;
    if (visibleTo(before, p, kind, s) !== visibleTo(after, p, kind, s)) return true;
  }
  return false;
}

/**
 * Whether the visibility test reads the same of `a` and `b` but their modes: the policy's rules and
 * resource rules (its revision, a digest of what decides: a reload of an unchanged policy compiles
 * new objects with the same revision), and the scopes each class needs.
 */
function sameButModes(a: PipelineDeps, b: PipelineDeps): boolean {
  if (a.policy?.revision !== b.policy?.revision) return false;
  const classes: ToolClass[] = ['READ', 'WRITE', 'DESTRUCTIVE'];
  return classes.every((c) => a.identity.classScopes(c).join(' ') === b.identity.classScopes(c).join(' '));
}

/** The modes' verdict on an item, as the visibility test takes it (the policy's modes when there is a policy). */
function modeVerdict(deps: PipelineDeps, p: RequestContext['principal'], s: SharedItem): boolean {
  const modes = deps.policy ? deps.policy.modes : deps.modes;
  return modeAllows(modes, { tenant: p.tenant, server: s.target.server, tool: s.target.qualified }, s.class);
}

/** Every item of a kind on an endpoint, before the caller's visibility: the same for every caller. */
function sharedItems(deps: PipelineDeps, scope: string | undefined, kind: Kind): SharedItem[] {
  const out: SharedItem[] = [];
  // Resources of a server whose connections differ by tenant are each caller's own (resourceListing).
  const owned = kind === 'resources' ? new Set(ownedServers(deps, scope ?? '')) : undefined;
  for (const raw of deps.catalog.list(kind, scope)) {
    const item = sharedItem(deps, scope, kind, raw);
    if (item && !owned?.has(item.target.server)) out.push(item);
  }
  return out;
}

/** One listed item (namespaced on the aggregate endpoint) with what the visibility test needs, scrubbed; undefined when it names no target. */
function sharedItem(
  deps: PipelineDeps,
  scope: string | undefined,
  kind: Kind,
  raw: JsonObject,
): SharedItem | undefined {
  const target = itemTarget(deps, scope, kind, raw);
  if (!target) return undefined;
  const cls = classOf(deps, kind, target);
  // As one item of a list, so the scrubber's depth bound counts as it does for the whole list.
  const [item] = deps.credentials.scrubber.value([raw]);
  return { raw, item, target, class: cls, text: typeof raw.text === 'string' };
}

/** Whether `p` may see the item: the test authorize applies to a call of it. */
function visibleTo(deps: PipelineDeps, p: RequestContext['principal'], kind: Kind, s: SharedItem): boolean {
  return targetUsable(deps, p, kind, s.target, s.class);
}

type ItemTarget = NonNullable<ReturnType<typeof itemTarget>>;

/** A listed item's class: a tool's from the inventory; anything else is read. */
function classOf(deps: PipelineDeps, kind: Kind, target: ItemTarget): ToolClass {
  return kind === 'tools' ? deps.inventory.tool(target.server, target.name).class : 'READ';
}

function targetUsable(
  deps: PipelineDeps,
  p: RequestContext['principal'],
  kind: Kind,
  target: ItemTarget,
  cls: ToolClass,
): boolean {
  const t = { server: target.server, name: target.qualified, kind: KIND_OF[kind], class: cls };
  return usable(deps, p, { ...t, resources: target.resources, resourceKinds: target.resourceKinds });
}

/**
 * Whether `p` may see any of `items` (of one kind, as `server` names them): whether a caller hears of
 * a change to that server's list (`listeners/subscriptions.ts`), by the test a listing applies.
 */
export function seesAny(
  deps: PipelineDeps,
  p: RequestContext['principal'],
  server: string,
  kind: Kind,
  items: readonly JsonObject[],
): boolean {
  for (const raw of items) {
    const target = itemTarget(deps, server, kind, raw);
    if (target && targetUsable(deps, p, kind, target, classOf(deps, kind, target))) return true;
  }
  return false;
}

/** When the first rule still in force expires (visibility changes then), or Infinity. */
function policyExpiry(deps: PipelineDeps, now: number): number {
  let at = Number.POSITIVE_INFINITY;
  for (const r of deps.policy?.rules ?? [])
    if (r.validUntil !== undefined && r.validUntil > now) at = Math.min(at, r.validUntil);
  return at;
}

function itemTarget(
  deps: PipelineDeps,
  scope: string | undefined,
  kind: Kind,
  item: JsonObject,
):
  | {
      server: string;
      name: string;
      qualified: string;
      resources?: Array<{ kind: string; value: string }>;
      resourceKinds?: ResourceKind[];
    }
  | undefined {
  if (kind === 'tools' || kind === 'prompts') {
    const t = scope ? { server: scope, name: String(item.name) } : deps.catalog.split(String(item.name));
    return t && { ...t, qualified: deps.catalog.qualify(t.server, t.name) };
  }
  const field = kind === 'resources' ? 'uri' : 'uriTemplate';
  const t = scope ? { server: scope, uri: String(item[field]) } : splitUri(String(item[field]));
  if (!t) return undefined;
  if (kind === 'resourceTemplates')
    return { server: t.server, name: t.uri, qualified: namespaceUri(t.server, t.uri), resourceKinds: [uriKind(t.uri)] };
  // A listed resource is visible when its URI could be read: judged by its canonical form.
  const c = canonicalResourceUri(t.uri);
  if (!c.ok) return undefined;
  return { server: t.server, name: t.uri, qualified: namespaceUri(t.server, t.uri), resources: [c.resource] };
}

/** The kind of resource a template's URIs are, as a read of one is judged (policy/canonical.ts). */
function uriKind(template: string): ResourceKind {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(template)?.[1]?.toLowerCase();
  if (scheme === 'file') return 'path';
  if (scheme === 'http' || scheme === 'https') return 'url';
  return 'id';
}
