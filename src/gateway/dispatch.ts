/**
 * One downstream JSON-RPC request -> its result, for either era. Listings come from the catalogue;
 * tools/call runs the pipeline; everything else that targets one upstream is routed and forwarded.
 * Transport concerns (headers, sessions, streams) stay in the listener.
 */
import { GatehouseError, quote } from '../protocol/errors.ts';
import { GATEWAY_INFO, LEGACY_VERSIONS, META, SUPPORTED_VERSIONS } from '../protocol/era.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type { Catalog, Kind } from '../catalog/catalog.ts';
import type { Upstream } from '../upstream/upstream.ts';
import { runToolCall } from '../pipeline/index.ts';
import { visible } from '../policy/evaluate.ts';
import { resolveMode } from '../policy/modes.ts';
import type { PipelineDeps } from '../pipeline/types.ts';
import type { RequestContext } from './context.ts';
import { forward } from './forward.ts';
import { paginate } from './paginate.ts';
import { namespaceTask } from './tasks.ts';

export interface DispatchDeps extends PipelineDeps {
  pageSize: number;
  instructions?: string;
}

const LISTS: Record<string, { kind: Kind; field: string }> = {
  'tools/list': { kind: 'tools', field: 'tools' },
  'prompts/list': { kind: 'prompts', field: 'prompts' },
  'resources/list': { kind: 'resources', field: 'resources' },
  'resources/templates/list': { kind: 'resourceTemplates', field: 'resourceTemplates' },
};

export const KNOWN_METHODS = new Set([
  'initialize', 'ping', 'server/discover', 'tools/call', 'prompts/get', 'resources/read', 'resources/subscribe',
  'resources/unsubscribe', 'completion/complete', 'logging/setLevel', 'subscriptions/listen', 'tasks/get',
  'tasks/result', 'tasks/cancel', 'tasks/list', ...Object.keys(LISTS),
]);

/** What the gateway offers downstream (aggregate endpoint). */
export function gatewayCapabilities(): JsonObject {
  return {
    tools: { listChanged: true },
    prompts: { listChanged: true },
    resources: { subscribe: true, listChanged: true },
    completions: {},
    logging: {},
  };
}

export function serverCapabilities(deps: DispatchDeps, scope: string): JsonObject {
  if (!scope) return gatewayCapabilities();
  const caps = { ...(deps.upstreams.get(scope)?.identity?.capabilities ?? {}) };
  delete caps.experimental;
  return caps;
}

/** What a legacy `initialize` asks for, read defensively; versions we do not speak negotiate down. */
export function readInitialize(params: JsonObject | undefined): { protocolVersion: string; clientCapabilities: JsonObject; clientInfo: JsonObject } {
  const p = params ?? {};
  const requested = typeof p.protocolVersion === 'string' ? p.protocolVersion : '';
  const obj = (v: unknown): JsonObject => (v && typeof v === 'object' && !Array.isArray(v) ? (v as JsonObject) : {});
  return {
    protocolVersion: (LEGACY_VERSIONS as readonly string[]).includes(requested) ? requested : LEGACY_VERSIONS[0],
    clientCapabilities: obj(p.capabilities),
    clientInfo: obj(p.clientInfo),
  };
}

/** The `initialize` result: the gateway's identity, or the upstream's on a per-server endpoint. */
export function initializeResult(deps: DispatchDeps, scope: string, protocolVersion: string): JsonObject {
  const up = scope ? deps.upstreams.get(scope) : undefined;
  const result: JsonObject = {
    protocolVersion,
    capabilities: serverCapabilities(deps, scope),
    serverInfo: up?.identity?.serverInfo && Object.keys(up.identity.serverInfo).length ? up.identity.serverInfo : GATEWAY_INFO,
  };
  const instructions = scope ? deps.inventory.instructions(scope) : deps.instructions;
  if (instructions) result.instructions = instructions;
  return result;
}

function upstreamFor(deps: DispatchDeps, server: string): Upstream {
  const up = deps.upstreams.get(server);
  if (!up) throw new GatehouseError('E_UNKNOWN_SERVER', `unknown server ${quote(server)}`);
  return up;
}

function str(params: JsonObject | undefined, key: string): string {
  const v = params?.[key];
  if (typeof v !== 'string' || v.length === 0) throw new GatehouseError('E_INVALID_PARAMS', `invalid params: \`${key}\` must be a non-empty string`);
  return v;
}

function toolVisible(deps: DispatchDeps, ctx: RequestContext, scope: string | undefined, name: string): boolean {
  const target = scope ? { server: scope, name } : deps.catalog.split(name);
  if (!target) return false;
  const p = ctx.principal;
  const qualified = deps.catalog.qualify(target.server, target.name);
  const cls = deps.inventory.tool(target.server, target.name).class;
  if (!deps.policy) {
    const m = resolveMode(deps.modes, { tenant: p.tenant, server: target.server, tool: qualified }).mode;
    return m !== 'disabled' && !(m === 'read_only' && cls !== 'READ');
  }
  return visible({ subject: p.subject, tenant: p.tenant, client: p.client, roles: p.roles }, deps.catalog.qualify(target.server, target.name), cls, deps.policy!, { server: target.server, now: Date.now() });
}

/** Methods 2026-07-28 removed: a modern caller gets `method not found` for them. */
const REMOVED_IN_MODERN = new Set(['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe']);

export async function dispatch(ctx: RequestContext, method: string, params: JsonObject | undefined, deps: DispatchDeps): Promise<JsonObject> {
  const scope = ctx.scope || undefined;
  if (ctx.era === 'modern' && REMOVED_IN_MODERN.has(method)) throw new GatehouseError('E_METHOD_NOT_FOUND', `method not found: ${quote(method)}`);
  const list = LISTS[method];
  if (list) {
    let items = deps.catalog.list(list.kind, scope);
    // Listings follow policy: a principal sees only the tools it could be allowed to call.
    if (list.kind === 'tools') items = items.filter((t) => toolVisible(deps, ctx, scope, String(t.name)));
    const { page, nextCursor } = paginate(items, params?.cursor, deps.pageSize);
    const r: JsonObject = { [list.field]: page };
    if (nextCursor) r.nextCursor = nextCursor;
    if (ctx.era === 'modern') Object.assign(r, { ttlMs: 0, cacheScope: 'private' });
    return r;
  }
  switch (method) {
    case 'ping':
      return {};
    case 'server/discover':
      return {
        supportedVersions: [...SUPPORTED_VERSIONS],
        capabilities: serverCapabilities(deps, ctx.scope),
        serverInfo: GATEWAY_INFO,
        ...(deps.instructions ? { instructions: deps.instructions } : {}),
        ttlMs: 0,
        cacheScope: 'private',
        _meta: { [META.serverInfo]: GATEWAY_INFO },
      };
    case 'tools/call':
      return runToolCall(ctx, params ?? {}, deps);
    case 'prompts/get': {
      const name = str(params, 'name');
      const hit = deps.catalog.resolve('prompts', name, scope);
      if (!hit) throw new GatehouseError('E_UNKNOWN_PROMPT', `unknown prompt ${quote(name)}`);
      return forward(upstreamFor(deps, hit.server), ctx, method, { ...params, name: hit.name }, deps.holds);
    }
    case 'resources/read':
    case 'resources/subscribe':
    case 'resources/unsubscribe': {
      const uri = str(params, 'uri');
      const server = deps.catalog.resolveResource(uri, scope);
      if (!server) throw new GatehouseError('E_UNKNOWN_RESOURCE', `unknown resource ${quote(uri)}`);
      if (method !== 'resources/read') {
        if (!ctx.session) throw new GatehouseError('E_METHOD_NOT_FOUND', `method ${quote(method)} needs a 2025-11-25 session`);
        if (method === 'resources/subscribe') ctx.session.subscriptions.add(uri);
        else ctx.session.subscriptions.delete(uri);
        // A 2026-07-28 upstream has no resources/subscribe: the gateway keeps the subscription itself.
        if (deps.upstreams.get(server)?.identity?.era === 'modern') return {};
      }
      const r = await forward(upstreamFor(deps, server), ctx, method, params, deps.holds);
      // 2026-07-28: resources/read is cacheable; say how, when the upstream did not.
      return ctx.era === 'modern' && method === 'resources/read' ? { ttlMs: 0, cacheScope: 'private', ...r } : r;
    }
    case 'completion/complete':
      return complete(ctx, params, deps);
    case 'logging/setLevel':
      if (ctx.session) ctx.session.logLevel = str(params, 'level');
      return {};
    case 'tasks/get':
    case 'tasks/result':
    case 'tasks/cancel': {
      const taskId = str(params, 'taskId');
      const target = scope ? { server: scope, name: taskId } : deps.catalog.split(taskId);
      if (!target || !deps.upstreams.has(target.server)) throw new GatehouseError('E_UNKNOWN_TASK', `unknown task ${quote(taskId)}`);
      const r = await forward(upstreamFor(deps, target.server), ctx, method, { ...params, taskId: target.name }, deps.holds);
      return scope ? r : namespaceTask(r, deps.catalog.qualify(target.server, ''));
    }
    case 'tasks/list':
      return { tasks: [] };
    default:
      throw new GatehouseError('E_METHOD_NOT_FOUND', `method not found: ${quote(method)}`);
  }
}

async function complete(ctx: RequestContext, params: JsonObject | undefined, deps: DispatchDeps): Promise<JsonObject> {
  const ref = params?.ref as JsonObject | undefined;
  const scope = ctx.scope || undefined;
  if (ref?.type === 'ref/prompt' && typeof ref.name === 'string') {
    const hit = deps.catalog.resolve('prompts', ref.name, scope);
    if (!hit) throw new GatehouseError('E_UNKNOWN_PROMPT', `unknown prompt ${quote(ref.name)}`);
    return forward(upstreamFor(deps, hit.server), ctx, 'completion/complete', { ...params, ref: { ...ref, name: hit.name } }, deps.holds);
  }
  if (ref?.type === 'ref/resource' && typeof ref.uri === 'string') {
    const server = deps.catalog.resolveResource(ref.uri, scope);
    if (!server) throw new GatehouseError('E_UNKNOWN_RESOURCE', `unknown resource ${quote(ref.uri)}`);
    return forward(upstreamFor(deps, server), ctx, 'completion/complete', params, deps.holds);
  }
  throw new GatehouseError('E_INVALID_PARAMS', 'invalid params: `ref` must be a prompt or resource reference');
}

