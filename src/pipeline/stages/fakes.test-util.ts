/**
 * Shared test fixture (not a test file itself): small hand-written fakes of what stages use. A real
 * Catalog is filled from fake upstreams (so routing is the catalogue's own), everything else is a
 * plain object typed as the real interface; a test overrides only what its stage reads.
 */
import { Catalog } from '../../catalog/catalog.ts';
import { compile } from '../../policy/compile.ts';
import type { Policy } from '../../policy/model.ts';
import type { JsonObject } from '../../protocol/jsonrpc.ts';
import type { RequestContext } from '../../gateway/context.ts';
import type { Principal } from '../../identity/principal.ts';
import type { Upstream } from '../../upstream/upstream.ts';
import type { CallState, PipelineDeps } from '../types.ts';

export function principal(over: Partial<Principal> = {}): Principal {
  const p = {
    subject: 'alice',
    tenant: 'acme',
    client: 'claude',
    roles: ['dev'],
    scopes: ['mcp:read'],
    authenticated: true,
    via: 'api-key' as const,
    issuer: 'gatehouse',
    ...over,
  };
  return { ...p, key: over.key ?? JSON.stringify([p.via, p.issuer, p.subject, p.tenant]) };
}

export function ctx(over: Partial<RequestContext> = {}): RequestContext {
  return {
    era: 'legacy',
    protocolVersion: '2025-11-25',
    scope: '',
    requestId: 1,
    traceId: 'trace-1',
    principal: principal(),
    clientCapabilities: {},
    clientInfo: {},
    outlet: { notify: () => {} },
    signal: new AbortController().signal,
    ...over,
  };
}

type StateInit = Partial<Omit<CallState, 'ctx'>> & { ctx?: Partial<RequestContext> };

/** A call state as runRequest makes it (method, kind, requested, params), plus whatever earlier stages set. */
export function state(init: StateInit = {}): CallState {
  const { ctx: c, ...rest } = init;
  return {
    method: 'tools/call',
    kind: 'tool',
    requested: 'mt__whoami',
    params: {},
    startedAt: 0,
    ...rest,
    ctx: ctx(c),
  };
}

/**
 * Pipeline deps with only what a test gives (no policy and no modes unless given). A member the test
 * did not give is undefined: a stage that needs it fails with a TypeError, and optional members
 * (`refusals`, `resultSecrets`, ...) read as not configured.
 */
export function deps(over: Partial<PipelineDeps> = {}): PipelineDeps {
  return {
    policy: undefined,
    modes: { tenants: {}, servers: {}, tools: {} },
    identity: { revokedWithoutCredential: () => undefined },
    ...over,
  } as PipelineDeps;
}

const silentLog = {
  warn: () => {},
  error: () => {},
  info: () => {},
  debug: () => {},
  trace: () => {},
  fatal: () => {},
  child: () => silentLog,
} as never;

export interface FakeServer {
  tools?: JsonObject[];
  prompts?: JsonObject[];
  resources?: JsonObject[];
  resourceTemplates?: JsonObject[];
}

/** A fake upstream that answers the catalogue's list requests (and records everything else it is sent). */
export function fakeUpstream(
  listing: FakeServer = {},
  era: 'legacy' | 'modern' = 'legacy',
): Upstream & { sent: Array<{ method: string; params: JsonObject | undefined }> } {
  const sent: Array<{ method: string; params: JsonObject | undefined }> = [];
  const lists: Record<string, [string, JsonObject[] | undefined]> = {
    'tools/list': ['tools', listing.tools],
    'prompts/list': ['prompts', listing.prompts],
    'resources/list': ['resources', listing.resources],
    'resources/templates/list': ['resourceTemplates', listing.resourceTemplates],
  };
  return {
    sent,
    identity: {
      era,
      protocolVersion: '2025-11-25',
      serverInfo: { name: 'fake', version: '1' },
      capabilities: { tools: {}, prompts: {}, resources: {} },
    },
    async request(method: string, params?: JsonObject) {
      const l = lists[method];
      if (l) return { [l[0]]: l[1] ?? [] };
      sent.push({ method, params });
      return { content: [{ type: 'text', text: `ran ${method}` }] };
    },
  } as never;
}

/** A real Catalog (separator `__`) loaded from fake upstreams. */
export async function catalogOf(
  servers: Record<string, FakeServer>,
): Promise<{ catalog: Catalog; upstreams: Map<string, Upstream> }> {
  const upstreams = new Map<string, Upstream>(Object.entries(servers).map(([name, l]) => [name, fakeUpstream(l)]));
  const catalog = new Catalog(upstreams, '__', silentLog);
  for (const name of upstreams.keys()) await catalog.refresh(name);
  return { catalog, upstreams };
}

export function policyOf(yaml: string): Policy {
  return compile(yaml, 'test-policy.yaml');
}

/** Runs `fn` and returns what it threw (failing the test when it did not throw). */
export async function thrown(fn: () => unknown): Promise<Error & { code?: string; data?: unknown; rpc?: number }> {
  try {
    await fn();
  } catch (err) {
    return err as Error & { code?: string; data?: unknown; rpc?: number };
  }
  throw new Error('expected a refusal, but the stage went on');
}
