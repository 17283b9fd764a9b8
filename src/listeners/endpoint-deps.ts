/**
 * What the HTTP and stdio listeners need of the gateway (`EndpointDeps`), as of its settings in force:
 * built at start and after every reload, mode change and revocation (a new object each time: the
 * recheck stage compares them to know that a waiting request's settings changed).
 */
import type { Config } from '../config/schema.ts';
import type { Catalog } from '../catalog/catalog.ts';
import type { Inventory } from '../inventory/inventory.ts';
import type { Audit } from '../audit/audit.ts';
import type { SchemaValidators } from '../policy/arguments.ts';
import { type RuntimeModes, mergeModes } from '../policy/runtime-modes.ts';
import type { ApprovalService } from '../approvals/service.ts';
import type { CredentialedUpstreams } from '../credentials/upstreams.ts';
import type { SecretScrubber } from '../credentials/scrub.ts';
import type { GatewayLimits } from '../limits/index.ts';
import type { Sessions } from '../sessions/sessions.ts';
import type { Subscriptions } from './subscriptions.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Tracer } from '../observability/tracing.ts';
import type { Logger } from '../observability/logger.ts';
import type { Store } from '../storage/types.ts';
import type { Upstream } from '../upstream/upstream.ts';
import type { RequestBudget } from '../util/request-budget.ts';
import { Authenticator } from '../identity/authenticator.ts';
import type { PrincipalRevocations } from '../identity/revocations.ts';
import type { AuthFailures } from '../identity/auth-failures.ts';
import { allowedHostSet, allowedOriginSet } from './guards.ts';
import type { EndpointDeps } from './mcp-endpoint.ts';
import type { Holds } from '../gateway/holds.ts';
import type { TaskHandles } from '../gateway/tasks.ts';
import type { UpstreamFleet } from '../gateway/upstream-fleet.ts';

/** The gateway's parts the listeners' dependencies are made of. */
export interface EndpointSources {
  config: Config;
  catalog: Catalog;
  inventory: Inventory;
  audit: Audit;
  runtimeModes: RuntimeModes;
  validators: SchemaValidators;
  approvals: ApprovalService;
  credentials: { pool: CredentialedUpstreams; scrubber: SecretScrubber };
  /** Whether every tenant's secrets to look for are learned (true), or a promise of it. */
  secretsLearned(): true | Promise<boolean>;
  fleet: UpstreamFleet;
  upstreams: Map<string, Upstream>;
  holds: Holds;
  tasks: TaskHandles;
  metrics: Metrics;
  tracer: Tracer | undefined;
  sessions: Sessions;
  subscriptions: Subscriptions;
  log: Logger;
  requestBytes: RequestBudget;
  store: Store;
  principalRevocations: PrincipalRevocations;
  authFailures: AuthFailures;
}

/** What only the gateway itself holds: its limits, the key that seals cursors, the dependencies in force. */
export interface EndpointOwn {
  limits: GatewayLimits;
  cursorKey: Buffer | undefined;
  current: () => EndpointDeps;
}

export function endpointDeps(gw: EndpointSources, own: EndpointOwn): EndpointDeps {
  const g = gw.config.gateway;
  const guard = {
    port: g.listen.port,
    publicUrl: g.publicUrl,
    allowedOrigins: g.allowedOrigins,
    allowedHosts: g.allowedHosts,
  };
  return {
    catalog: gw.catalog,
    inventory: gw.inventory,
    audit: gw.audit,
    policy: gw.config.policy
      ? {
          ...gw.config.policy.compiled,
          modes: mergeModes(gw.config.policy.compiled.modes, gw.runtimeModes.records),
        }
      : undefined,
    modes: mergeModes(gw.config.policy?.compiled.modes, gw.runtimeModes.records),
    validators: gw.validators,
    limiter: own.limits.limiter,
    refusals: own.limits.refusals,
    outboundSecrets: gw.config.secrets.outbound,
    resultSecrets: gw.config.secrets.results,
    approvals: gw.approvals,
    approvalWaitMs: gw.config.approvals.waitSeconds * 1000,
    credentials: {
      pool: gw.credentials.pool,
      scrubber: gw.credentials.scrubber,
      configOf: (name: string) => gw.fleet.configOf(name),
      learned: () => gw.secretsLearned(),
    },
    upstreams: gw.upstreams,
    servers: () => gw.config.servers.filter((s) => !s.disabled).map((s) => s.name),
    holds: gw.holds,
    tasks: gw.tasks,
    metrics: gw.metrics,
    tracer: gw.tracer,
    current: own.current,
    sessions: gw.sessions,
    subscriptions: gw.subscriptions,
    listenSubscribers: () => gw.subscriptions.subscribers(),
    log: gw.log,
    pageSize: g.pageSize,
    cursorKey: own.cursorKey,
    catalogued: () => gw.fleet.untilCatalogued(),
    hosts: allowedHostSet(guard),
    origins: allowedOriginSet(guard),
    maxBodyBytes: g.maxBodyBytes,
    requestBytes: gw.requestBytes,
    maxJsonDepth: g.maxJsonDepth,
    bodyTimeoutMs: g.bodyTimeoutMs,
    identity: new Authenticator(gw.config.identity, g.allowUnauthenticated, gw.store.apiKeys, {
      revocations: gw.principalRevocations,
      failures: gw.authFailures,
      trustedProxies: g.trustedProxies,
      log: gw.log,
    }),
  };
}
