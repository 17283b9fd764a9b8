/**
 * One downstream JSON-RPC request -> its result, for either era: a lookup into the method table
 * (src/pipeline/index.ts). Methods that reach an upstream run their row of stages; listings come
 * from the catalogue through the same visibility test; anything else is refused. Transport concerns
 * (headers, sessions, streams) stay in the listener.
 */
import { GatehouseError, quote } from '../protocol/errors.ts';
import { GATEWAY_INFO, LEGACY_VERSIONS, META, SUPPORTED_VERSIONS } from '../protocol/era.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type { Kind } from '../catalog/catalog.ts';
import { LOCAL_METHODS, UPSTREAM_METHODS, runRequest } from './index.ts';
import type { PipelineDeps } from './types.ts';
import type { RequestContext } from '../gateway/context.ts';
import { paginateKeyed } from '../gateway/paginate.ts';
import { listingFor } from './listings.ts';
import { tasksOfAll, tasksOffered } from './task-capability.ts';
import { logLevelOf } from '../protocol/log-levels.ts';
import { toolErrorResult } from './argument-problems.ts';
import { undeclaredFor } from './endpoint-capabilities.ts';

export interface DispatchDeps extends PipelineDeps {
  pageSize: number;
  /** Seals listing cursors (shared by every replica). */
  cursorKey?: Buffer;
  /** Settles once every upstream's first catalogue load finished or failed (bounded). */
  catalogued?: () => Promise<void>;
  instructions?: string;
  /** The enabled servers of the configuration in force, connected or not (default: the connected ones). */
  servers?: () => Iterable<string>;
}

const LISTS: Record<string, { kind: Kind; field: string; key: string }> = {
  'tools/list': { kind: 'tools', field: 'tools', key: 'name' },
  'prompts/list': { kind: 'prompts', field: 'prompts', key: 'name' },
  'resources/list': { kind: 'resources', field: 'resources', key: 'uri' },
  'resources/templates/list': { kind: 'resourceTemplates', field: 'resourceTemplates', key: 'uriTemplate' },
};

/** Every method the gateway accepts: the method table's rows (src/pipeline/index.ts), nothing else. */
export const KNOWN_METHODS = new Set([...Object.keys(LOCAL_METHODS), ...Object.keys(UPSTREAM_METHODS)]);

/** What the gateway offers downstream (aggregate endpoint). */
function gatewayCapabilities(): JsonObject {
  return {
    tools: { listChanged: true },
    prompts: { listChanged: true },
    resources: { subscribe: true, listChanged: true },
    completions: {},
    logging: {},
  };
}

function serverCapabilities(deps: DispatchDeps, scope: string): JsonObject {
  if (!scope) return gatewayCapabilities();
  const caps = { ...(deps.upstreams.get(scope)?.identity?.capabilities ?? {}) };
  delete caps.experimental;
  // Its tasks only as far as the gateway carries them (no tasks/list): task-capability.ts.
  delete caps.tasks;
  const tasks = tasksOffered(deps.upstreams.get(scope)?.identity?.capabilities);
  if (tasks) caps.tasks = tasks;
  return caps;
}

/**
 * What the per-server endpoint `scope` declares, once its server's capabilities are known (it has
 * connected); undefined on the aggregate endpoint, which declares the gateway's own.
 */
export function declaredOn(deps: DispatchDeps, scope: string): JsonObject | undefined {
  if (!scope || !deps.upstreams.get(scope)?.identity?.capabilities) return undefined;
  return serverCapabilities(deps, scope);
}

/**
 * A 2025-11-25 session's capabilities, fixed for the session at its initialize. The aggregate
 * endpoint declares tasks when a server behind it takes task-augmented calls (a client enforcing
 * capabilities sends none otherwise), or may: one configured but not connected yet (down, or its
 * credentials not there yet) may declare them when it connects, after the session began.
 */
function legacyCapabilities(deps: DispatchDeps, scope: string): JsonObject {
  const caps = serverCapabilities(deps, scope);
  if (scope) return caps;
  const names = new Set([...(deps.servers?.() ?? []), ...deps.upstreams.keys()]);
  const tasks = tasksOfAll([...names].map((n) => deps.upstreams.get(n)?.identity?.capabilities));
  return tasks ? { ...caps, tasks } : caps;
}

/** What a legacy `initialize` asks for, read defensively; versions we do not speak negotiate down. */
export function readInitialize(params: JsonObject | undefined): {
  protocolVersion: string;
  clientCapabilities: JsonObject;
  clientInfo: JsonObject;
} {
  const p = params ?? {};
  const requested = typeof p.protocolVersion === 'string' ? p.protocolVersion : '';
  const obj = (v: unknown): JsonObject => (v && typeof v === 'object' && !Array.isArray(v) ? (v as JsonObject) : {});
  return {
    protocolVersion: (LEGACY_VERSIONS as readonly string[]).includes(requested) ? requested : LEGACY_VERSIONS[0],
    clientCapabilities: obj(p.capabilities),
    clientInfo: obj(p.clientInfo),
  };
}

/**
 * Who answers on the endpoint `scope`: the gateway, or on a per-server endpoint the upstream, its
 * serverInfo and instructions scrubbed like everything it says (they can quote what it was given).
 * `initialize` and `server/discover` say the same.
 */
function identityOn(deps: DispatchDeps, scope: string): { serverInfo: JsonObject; instructions?: string } {
  const serverInfo = serverInfoOn(deps, scope);
  const instructions = scope ? deps.inventory.instructions(scope) : deps.instructions;
  if (!instructions) return { serverInfo };
  return { serverInfo, instructions: scope ? deps.credentials.scrubber.value(instructions) : instructions };
}

/**
 * Who answers on the endpoint `scope`, as `initialize` names it there: what a 2026-07-28 result carries
 * in `_meta["io.modelcontextprotocol/serverInfo"]` (modernResult), the discover result included.
 */
export function serverInfoOn(deps: DispatchDeps, scope: string): JsonObject {
  const own = scope ? deps.upstreams.get(scope)?.identity?.serverInfo : undefined;
  return own && Object.keys(own).length ? deps.credentials.scrubber.value(own) : { ...GATEWAY_INFO };
}

/**
 * The `initialize` result: the gateway's identity, or the upstream's on a per-server endpoint. Its
 * capabilities depend on the servers' (tasks): the listeners wait for the first catalogue before.
 */
export function initializeResult(deps: DispatchDeps, scope: string, protocolVersion: string): JsonObject {
  return { protocolVersion, capabilities: legacyCapabilities(deps, scope), ...identityOn(deps, scope) };
}

/** Methods 2026-07-28 removed: a modern caller gets `method not found` for them. */
const REMOVED_IN_MODERN = new Set([
  'initialize',
  'ping',
  'logging/setLevel',
  'resources/subscribe',
  'resources/unsubscribe',
]);

/**
 * A request that reaches an upstream, through its row; a `tools/call` refused for its arguments
 * (recorded as refused at validate, nothing sent) is answered as a tool execution error.
 */
async function runUpstream(ctx: RequestContext, method: string, params: JsonObject, deps: DispatchDeps) {
  try {
    return await runRequest(ctx, method, params, deps);
  } catch (err) {
    const result = toolErrorResult(err, method, params, ctx.era);
    if (result) return result;
    throw err;
  }
}

export async function dispatch(
  ctx: RequestContext,
  method: string,
  params: JsonObject | undefined,
  deps: DispatchDeps,
): Promise<JsonObject> {
  // A listen stream's `resourceSubscriptions` are subscribed through the row of resources/subscribe.
  if (ctx.era === 'modern' && REMOVED_IN_MODERN.has(method) && !(ctx.subscriber && method.startsWith('resources/')))
    throw new GatehouseError('E_METHOD_NOT_FOUND', `method not found: ${quote(method)}`);
  // A 2026-07-28 request's log level is its own (`_meta`): one that is no level is refused (logging, Error Handling).
  if (ctx.era === 'modern' && ctx.logLevel !== undefined) logLevelOf(ctx.logLevel, `_meta.${META.logLevel}`);
  const list = Object.hasOwn(LISTS, method) ? LISTS[method] : undefined;
  // Just after start, an empty listing or "unknown tool" would be wrong: wait (bounded) for the first catalogue.
  if (deps.catalogued && (list || Object.hasOwn(UPSTREAM_METHODS, method))) await deps.catalogued();
  // A server's own endpoint answers only what the server declared (endpoint-capabilities.ts).
  const declared = declaredOn(deps, ctx.scope);
  const missing = declared && undeclaredFor(method, declared);
  if (missing)
    throw new GatehouseError(
      'E_METHOD_NOT_FOUND',
      `method not found: ${quote(method)} (the server behind this endpoint does not declare \`${missing}\`)`,
    );
  // Everything that reaches an upstream passes its row of the method table.
  if (Object.hasOwn(UPSTREAM_METHODS, method)) return runUpstream(ctx, method, params ?? {}, deps);
  if (list) {
    const binding = { key: deps.cursorKey, bind: JSON.stringify([method, ctx.scope, ctx.principal.key]) };
    const items = await listingFor(ctx, list, deps);
    const { page, nextCursor } = paginateKeyed(items, params?.cursor, deps.pageSize, binding);
    const r: JsonObject = { [list.field]: page };
    if (nextCursor) r.nextCursor = nextCursor;
    if (ctx.era === 'modern') Object.assign(r, { ttlMs: 0, cacheScope: 'private' });
    return r;
  }
  switch (method) {
    case 'ping':
      return {};
    case 'server/discover': {
      // As `initialize` on the same endpoint: on a per-server one, the server's identity and instructions.
      // 2026-07-28's DiscoverResult has no `serverInfo` of its own: who answers is in `_meta`, as on
      // every modern result (modernResult puts it there; schema/2026-07-28/schema.ts, DiscoverResult).
      const { instructions } = identityOn(deps, ctx.scope);
      return {
        supportedVersions: [...SUPPORTED_VERSIONS],
        capabilities: serverCapabilities(deps, ctx.scope),
        ...(instructions ? { instructions } : {}),
        ttlMs: 0,
        cacheScope: 'private',
      };
    }
    case 'logging/setLevel': {
      // Checked before it is kept: an unknown minimum would let every level through (admitsLevel).
      const level = logLevelOf(params?.level, 'level');
      if (ctx.session) ctx.session.logLevel = level;
      return {};
    }
    default:
      // Not in the method table (initialize and subscriptions/listen are the listener's): refused.
      throw new GatehouseError('E_METHOD_NOT_FOUND', `method not found: ${quote(method)}`);
  }
}
