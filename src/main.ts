/**
 * The composition root: config -> store -> upstreams -> catalogue -> listeners. The only place that
 * knows how the parts fit; every part takes what it needs as arguments.
 */
import type { Clock } from './util/clock.ts';
import { join } from 'node:path';
import { hostname } from 'node:os';
import type { Config } from './config/schema.ts';
import type { JsonRpcNotification } from './protocol/jsonrpc.ts';
import { openStore } from './storage/index.ts';
import type { Store } from './storage/types.ts';
import type { Upstream } from './upstream/upstream.ts';
import { SandboxHost } from './sandbox/sandbox.ts';
import { prepareHost } from './gateway/host.ts';
import { checkServerNames } from './config/server-names.ts';
import { planReload } from './gateway/reload-plan.ts';
import { pagesBaseUrl } from './config/pages-url.ts';
import { gatewayFiles } from './sandbox/gateway-files.ts';
import { writableFolders } from './sandbox/data-paths.ts';
import { backingServices } from './util/own-listener.ts';
import { ALL_KINDS, Catalog } from './catalog/catalog.ts';
import { Inventory } from './inventory/inventory.ts';
import { PrincipalRevocations } from './identity/revocations.ts';
import { deciderCheck } from './approvals/deciders.ts';
import { SecretLearner } from './credentials/known-secrets.ts';
import { ApplyAcks } from './incident/acks.ts';
import { AuthFailures } from './identity/auth-failures.ts';
import { effectiveRetentionDays } from './identity/dual-control.ts';
import { Audit } from './audit/audit.ts';
import { STOPPED_AFTER_MS } from './audit/liveness.ts';
import { connectionActor } from './model/audit-event.ts';
import { SchemaValidators } from './policy/arguments.ts';
import { policyNameWarnings } from './inventory/policy-names.ts';
import { RuntimeModes } from './policy/runtime-modes.ts';
import { CredentialBroker, resolverFor } from './credentials/broker.ts';
import { oauthCallbackUrl, UpstreamOAuth } from './credentials/upstream-oauth.ts';
import { loadKeys } from './credentials/held-keys.ts';
import { reportFileSecrets } from './credentials/file-secrets.ts';
import { LOCAL_KEY_FILE, LOCAL_SECRETS_FILE } from './credentials/broker.ts';
import type { SecretsKeys } from './credentials/key-watch.ts';
import { finishInterruptedRotation, OwnKey } from './credentials/own-key.ts';
import { CredentialedUpstreams } from './credentials/upstreams.ts';
import { SecretScrubber } from './credentials/scrub.ts';
import type { SecretResolver } from './credentials/resolver.ts';
import { ApprovalService } from './approvals/service.ts';
import { readForApprover } from './approvals/current-content.ts';
import { GatewayLimits } from './limits/index.ts';
import { taskKey } from './limits/task-lease.ts';
import { relayTaskStatus } from './gateway/task-status.ts';
import { Sessions } from './sessions/sessions.ts';
import { announce, startFanout, type Fanout, type FanoutMessage } from './sessions/fanout.ts';
import { Holds } from './gateway/holds.ts';
import { startReplicaRelay } from './gateway/replicas.ts';
import { newReplicaId } from './sessions/replica-relay.ts';
import { TaskHandles } from './gateway/tasks.ts';
import { UpstreamFleet } from './gateway/upstream-fleet.ts';
import type { EarlyStarts } from './upstream/early-start.ts';
import { Metrics } from './observability/metrics.ts';
import { ByteBudget } from './util/byte-budget.ts';
import { requestBudgetBytes, type RequestBudget } from './util/request-budget.ts';
import { requestBudget } from './listeners/request-bytes.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { tracerFromEnv, type Tracer } from './observability/tracing.ts';
import { HttpListener } from './listeners/http.ts';
import { Subscriptions } from './listeners/subscriptions.ts';
import { noticeAudience } from './listeners/notice-audience.ts';
import { seesAny, viewDiffers, viewKey } from './pipeline/listings.ts';
import type { EndpointDeps } from './listeners/mcp-endpoint.ts';
import { endpointDeps } from './listeners/endpoint-deps.ts';
import { GatehouseError } from './protocol/errors.ts';

export interface GatewayOptions {
  log?: Logger;
  /** Do not listen on HTTP (the stdio command). */
  noHttp?: boolean;
  /** Do not run audit exports (a short-lived gateway, such as `inventory --refresh`). */
  noExports?: boolean;
  /** Time for upstream OAuth tokens and circuit breakers (tests advance it instead of sleeping); default the system clock. */
  clock?: Clock;
  /** Stdio servers the command started while the gateway started: adopted by their connections, the rest stopped. */
  early?: EarlyStarts;
}

export class Gateway {
  config: Config;
  readonly log: Logger;
  readonly store: Store;
  readonly upstreams = new Map<string, Upstream>();
  readonly catalog: Catalog;
  readonly inventory: Inventory;
  readonly audit: Audit;
  readonly sessions: Sessions;
  readonly subscriptions: Subscriptions;
  /** This replica's name: in the ids of its questions and held calls, and its Redis channel's. */
  readonly replica = newReplicaId();
  readonly holds = new Holds(
    undefined,
    () => ({
      total: 1000,
      perPrincipal: this.config.gateway.maxHeldCallsPerPrincipal,
      perTenant: this.config.gateway.maxHeldCallsPerTenant,
    }),
    this.replica,
  );
  readonly metrics = new Metrics();
  /** Bytes held from upstreams and not yet parsed, all connections together (src/util/byte-budget.ts). */
  readonly upstreamBytes: ByteBudget;
  /** Bytes of client requests held, every tenant's together (src/util/request-budget.ts); kept across reloads. */
  readonly requestBytes: RequestBudget;
  readonly validators = new SchemaValidators();
  /** The limiter and the refusal budget, kept across reloads with their counters. */
  readonly #limits: GatewayLimits;
  /** Redis of the limits lost or back: the stricter local limits are in force meanwhile. */
  readonly #limitsDegraded = (degraded: boolean, reason: string): void => {
    this.metrics.limitsDegraded.set(degraded ? 1 : 0);
    if (degraded) this.log.error({ reason }, 'limits: redis unreachable; enforcing the stricter local limits');
    else this.log.info('limits: redis reachable again');
  };
  readonly runtimeModes: RuntimeModes;
  /** Starts stdio servers (in bubblewrap when configured) and reaps what a killed gateway left running. */
  sandbox!: SandboxHost;
  /** The broker, the connections holding credentials, and the scrubber of their values. */
  readonly credentials: { broker: CredentialBroker; pool: CredentialedUpstreams; scrubber: SecretScrubber };
  /** What a caller could carry of any tenant's secrets, learned ahead of any connection (ADR 0007). */
  readonly #secrets: SecretLearner;
  /** The secrets key (and those it replaced): scrubbed, its id recorded, rotations followed (own-key.ts). */
  #ownKey!: OwnKey;
  /** The configured servers' connections: started, wired to the catalogue, retried, replaced on reload. */
  readonly fleet: UpstreamFleet;
  readonly approvals: ApprovalService;
  readonly principalRevocations: PrincipalRevocations;
  readonly authFailures: AuthFailures;
  /** Task handles sealed for their caller (the key is shared by every replica). */
  tasks = new TaskHandles(Buffer.alloc(0), this.replica);
  /** Seals listing cursors; shared by every replica. */
  #cursorKey: Buffer | undefined;
  #early: EarlyStarts | undefined;
  #http: HttpListener | undefined;
  /** Spans over OTLP/HTTP when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set (src/observability/tracing.ts). */
  readonly tracer: Tracer | undefined;
  /** Who may hear what an upstream says outside any call, under the settings in force (src/listeners/notice-audience.ts). */
  readonly #audience = noticeAudience(
    () => this.#endpoint,
    (who) => this.principalRevocations.revoked(who),
  );
  /** Session ends and revocations told to the other replicas at once (Redis pub/sub, when limits use Redis). */
  #fanout: Fanout | undefined;
  /** Answers to questions another replica asked, sent there (Redis pub/sub, when limits use Redis). */
  #relay: { close(): Promise<void> } | undefined;
  #endpoint!: EndpointDeps;
  url = '';
  /** The address and port the HTTP listener is bound to, once it is. */
  #bound: { address: string; port: number } | undefined;
  /** The listen address as configured at start (port 0 until bound): what a reload's config is compared with. */
  #listenAsConfigured: Config['gateway']['listen'] | undefined;
  private constructor(
    config: Config,
    store: Store,
    log: Logger,
    resolver: SecretResolver,
    secretsKeys: SecretsKeys,
    clock?: Clock,
  ) {
    this.config = config;
    this.store = store;
    this.log = log;
    this.tracer = tracerFromEnv(process.env, () => this.config.gateway.trustedProxies ?? [], log, {
      'service.instance.id': `${hostname()}:${process.pid}`,
    });
    this.audit = new Audit(store.audit, config.audit, log, config.gateway.stateDir);
    this.audit.retentionGuard = (days) =>
      effectiveRetentionDays(store.dualControl, days, (approved) =>
        log.warn(
          { configured: days, approved },
          'audit: the configured retention is shorter than the one two people approved; keeping the approved one',
        ),
      );
    this.#limits = new GatewayLimits(config.limits, this.#limitsDegraded);
    // The broker heartbeats under the audit stream's name: another gateway then leaves this one's calls in flight alone.
    const broker = new CredentialBroker(resolver, store.revocations, log, this.audit.log.stream);
    this.audit.liveStreams = () => store.revocations.live(STOPPED_AFTER_MS);
    broker.onHeartbeat = (sent, taken) => this.audit.liveness.gaps.beat(sent, taken);
    broker.oauth = new UpstreamOAuth(store.upstreamTokens, secretsKeys, clock);
    const scrubber = new SecretScrubber();
    this.upstreamBytes = this.#byteBudget(config);
    this.requestBytes = requestBudget(requestBudgetBytes(config.gateway), config.gateway.maxBodyBytes, () => ({
      log,
      metrics: this.metrics,
    }));
    this.metrics.requestBufferedBytes = () => this.requestBytes.held;
    const pool = new CredentialedUpstreams(
      broker,
      store.verdicts,
      log,
      scrubber,
      () => (this.config.gateway.tenantIdleMinutes ?? 15) * 60_000,
      clock,
      this.upstreamBytes,
    );
    this.credentials = { broker, pool, scrubber };
    const tokens = (seen: Map<string, number>) => broker.oauth?.storedTokens(seen) ?? Promise.resolve([]);
    this.#secrets = new SecretLearner(pool, store.apiKeys, () => this.config, log, tokens);
    // What this gateway has applied of what it follows from the store is acknowledged (incidents wait for it).
    const acks = new ApplyAcks(store.applyAcks, broker.instance, log);
    this.principalRevocations = new PrincipalRevocations(acks.following(store.principalRevocations));
    this.principalRevocations.onError = (err) =>
      log.warn({ err: err.message }, 'identity: revocations not refreshed; the last list stays in force');
    this.authFailures = new AuthFailures((input) => this.audit.record(input));
    this.approvals = this.#approvalService(store, log);
    this.runtimeModes = new RuntimeModes(store.modes, log, () => {
      if (this.#endpoint) this.#settingsChanged();
      acks.modesApplied(this.runtimeModes.records, this.runtimeModes.cleared);
    });
    this.inventory = new Inventory(
      store.inventory,
      () => this.config,
      log,
      (events) => this.audit.inventoryEvents(events),
    );
    this.catalog = new Catalog(this.upstreams, config.gateway.namespaceSeparator, log, this.inventory, (v) =>
      this.credentials.scrubber.value(v),
    );
    // An operator's accept (or a rug pull noticed by another replica) changes what clients may see.
    this.inventory.on('changed', (server, kinds) => {
      for (const kind of kinds) this.subscriptions.listChanged(kind, server);
    });
    this.sessions = this.#openSessions(store, config);
    this.subscriptions = new Subscriptions(
      this.sessions,
      () => ({
        perPrincipal: this.config.gateway.maxListenStreamsPerPrincipal,
        perTenant: this.config.gateway.maxListenStreamsPerTenant,
      }),
      {
        listed: (kind, server) => this.catalog.list(kind, server),
        seesAny: (who, server, kind, items) => seesAny(this.#endpoint, who, server, kind, items),
        key: viewKey,
      },
      this.#audience,
    );
    this.catalog.on('changed', (kind, server, before) => this.subscriptions.listChanged(kind, server, before));
    this.fleet = this.#fleet(pool, scrubber, log);
  }

  /** The upstreams: started, catalogued, and what they say themselves sent where it belongs. */
  #fleet(pool: CredentialedUpstreams, scrubber: SecretScrubber, log: Logger): UpstreamFleet {
    // What a server says outside any call, to a caller, is scrubbed as what it says during one
    // (injected values; well-known formats too under `secrets.results: redact`).
    const notice = (n: JsonRpcNotification): JsonRpcNotification => {
      const scrubbed = scrubber.value(n);
      return this.config.secrets.results === 'redact' ? scrubber.patterns(scrubbed) : scrubbed;
    };
    return new UpstreamFleet({
      upstreams: this.upstreams,
      pool,
      scrubber,
      catalog: this.catalog,
      metrics: this.metrics,
      record: (input) => this.audit.record(input),
      log,
      sandbox: () => this.sandbox,
      servers: () => this.config.servers,
      resourceUpdated: (server, owner, n) => this.subscriptions.resourceUpdated(server, owner, n),
      ownListChanged: (server, owner, kind) => this.subscriptions.ownListChanged(server, owner, kind),
      // Scrubbed as a log message relayed during a call is (redact-result.ts), less the call's own values.
      logMessage: (server, owner, n) => this.subscriptions.logMessage(server, owner, notice(n)),
      // A task's end frees the concurrency slots it holds (src/pipeline/task-leases.ts).
      taskEnded: (server, owner, taskId) => void this.#limits.limiter?.endTask(taskKey(server, owner, taskId)),
      // And its caller hears it (src/gateway/task-status.ts).
      taskStatus: (server, owner, n) =>
        relayTaskStatus(this.sessions.all(), this.tasks.owners, server, owner, notice(n)),
      prestarted: (server, spec) => this.#early?.take(server, spec),
    });
  }

  /** Legacy sessions: capped per principal and tenant (as configured now), their questions named after this replica. */
  #openSessions(store: Store, config: Config): Sessions {
    const caps = () => ({
      perPrincipal: this.config.gateway.maxSessionsPerPrincipal,
      perTenant: this.config.gateway.maxSessionsPerTenant,
    });
    return new Sessions(store.sessions, config.gateway.sessionIdleSeconds, caps, this.replica);
  }

  /** Approvals: decided by people whose credentials are checked again when the approval is used. */
  #approvalService(store: Store, log: Logger): ApprovalService {
    return new ApprovalService(
      store.approvals,
      () => this.config,
      () => pagesBaseUrl(this.config, this.url),
      this.audit,
      log,
      deciderCheck(this.principalRevocations, store.apiKeys),
    );
  }

  /** One budget of bytes held from upstreams for every connection this gateway makes (ADR 0009), in its metrics. */
  #byteBudget(config: Config): ByteBudget {
    const budget = new ByteBudget(config.gateway.maxUpstreamBufferedBytes, (reason) =>
      this.metrics.upstreamRefused.inc({ reason }),
    );
    this.metrics.bufferedBytes = () => budget.held;
    return budget;
  }

  static async start(config: Config, opts: GatewayOptions = {}): Promise<Gateway> {
    const log = opts.log ?? createLogger();
    let gw: Gateway;
    let warned: Set<string>;
    try {
      await prepareHost(config);
      gw = await Gateway.#open(config, log, opts.clock);
      await gw.#startParts(config, opts);
      gw.#endpoint = gw.#endpointDeps();
      gw.sandbox = await gw.#openSandbox(config);
      warned = await gw.#warnUnknownTools(config);
      await gw.#secrets.start(); // before any call: the secrets a caller could carry are known
      if (!opts.noHttp) await gw.#listen(config);
    } catch (err) {
      await opts.early?.stop(); // a failed start leaves no server running
      throw err;
    }
    gw.#early = opts.early;
    for (const s of config.servers) if (!s.disabled) gw.fleet.add(s); // after listening: a failed start connects nothing
    // Once the servers are first catalogued, the tools they list (new to a fresh inventory) are checked too.
    void gw.fleet.untilCatalogued().then(() => gw.#warnUnknownTools(gw.config, warned));
    // What no connection adopted once every server's first start is over (its connection failed, say) is stopped.
    if (opts.early?.waiting) void gw.fleet.untilCatalogued().then(() => opts.early?.stop());
    return gw;
  }

  /** The store, then the secrets the gateway is built with: the store closes again when they fail. */
  static async #open(config: Config, log: Logger, clock?: Clock): Promise<Gateway> {
    const store = await openStore(config.storage);
    let resolver: SecretResolver;
    let keys: SecretsKeys;
    try {
      const [keyFile, secretsFile] = [LOCAL_KEY_FILE, LOCAL_SECRETS_FILE].map((f) => join(config.gateway.stateDir, f));
      await finishInterruptedRotation({ keyFile, secretsFile, store }, log);
      keys = await loadKeys(keyFile);
      resolver = await resolverFor(config, store, keys);
      if (store.driver === 'postgres') await reportFileSecrets(secretsFile, log);
    } catch (err) {
      await store.close();
      throw err;
    }
    const gateway = new Gateway(config, store, log, resolver, keys, clock);
    gateway.#ownKey = new OwnKey({
      keys,
      scrubber: gateway.credentials.scrubber,
      store,
      stream: gateway.audit.log.stream,
      oauth: () => gateway.credentials.broker.oauth,
      config: () => gateway.config,
      log,
    });
    gateway.#ownKey.scrub(config);
    return gateway;
  }

  /** The audit log (it records the start), then the parts that load their state from the store; the store closes when one fails. */
  async #startParts(config: Config, opts: GatewayOptions): Promise<void> {
    // The exports' failed attempts and backlog, in the metrics (before they start: the first attempt counts).
    this.audit.exportFailed = (name, attempts) => this.metrics.auditExportFailures.inc({ export: name }, attempts);
    this.metrics.exportLag = () => this.audit.exports.lag();
    try {
      await this.audit.start(
        { event: 'gateway started', config: config.source, servers: config.servers.map((s) => s.name) },
        !opts.noExports,
      );
      await this.inventory.start();
      await this.runtimeModes.start();
      await this.credentials.broker.start();
      // Beside the heartbeat the broker just wrote: `gatehouse check` compares the replicas' keys by it.
      await this.#ownKey.record();
      await this.approvals.init();
      await this.principalRevocations.start();
      this.tasks = new TaskHandles(await this.store.approvals.sharedKey('task-handles'), this.replica);
      this.tasks.owners.hears = (who, server, tool) => this.#audience.tool(who, server, tool);
      this.#cursorKey = await this.store.approvals.sharedKey('list-cursors');
      this.holds.useKey(await this.store.approvals.sharedKey('held-calls'));
      this.#fanout = startFanout(config.limits?.redis, {
        sessions: this.sessions,
        revocations: this.principalRevocations,
        modes: this.runtimeModes,
        log: this.log,
        live: (up) => this.metrics.fanoutUp.set(up ? 1 : 0),
      });
      this.#relay = startReplicaRelay(config.limits?.redis, {
        sessions: this.sessions,
        holds: this.holds,
        tasks: {
          handles: () => this.tasks,
          connection: (server, tenant, subject) => {
            const cfg = this.fleet.configOf(server);
            return cfg && this.credentials.pool.existing(cfg, tenant, subject);
          },
        },
        maxBodyBytes: () => this.config.gateway.maxBodyBytes,
        log: this.log,
      });
      this.#ownKey.watch(join(config.gateway.stateDir, LOCAL_KEY_FILE));
    } catch (err) {
      await this.store.close();
      throw err;
    }
  }

  /** The host of sandboxed stdio servers; what its egress filter refuses is recorded. */
  #openSandbox(config: Config): Promise<SandboxHost> {
    return SandboxHost.open(
      config.gateway.stateDir,
      this.log,
      (server, owner, r) =>
        void this.audit.record({
          kind: 'egress.refused',
          // The connection's owner as the actor, so the record is indexed under its tenant (its admin finds it).
          actor: connectionActor(owner),
          server,
          outcome: 'refused',
          detail: { tenant: owner, target: r.target, address: r.address, reason: r.reason },
        }),
      // The files of the config in force (a reload may name other policy files, or move an export).
      () => gatewayFiles(this.config),
      // No sandbox reaches the gateway through its proxy: the listener as bound, and as configured
      // (`gatehouse stdio` binds none, while a `gatehouse start` of the same config may listen there).
      () => [
        { address: this.config.gateway.listen.host, port: this.config.gateway.listen.port },
        ...(this.#bound ? [this.#bound] : []),
        // Its database and Redis, which trust local callers: never, whatever `allowLoopback` says.
        ...backingServices({
          postgres: this.config.storage.driver === 'postgres' ? this.config.storage.postgresUrl : undefined,
          redis: this.config.limits?.redis?.url,
        }),
      ],
      {
        // What any sandboxed server of the config in force writes: no link there is followed (walk F10).
        grounds: () =>
          writableFolders(this.config.servers.map((s) => (s.transport === 'stdio' ? s.sandbox : undefined))),
        onPlanted: (server, owner, l) =>
          void this.audit.record({
            kind: 'sandbox.refused',
            actor: connectionActor(owner),
            server,
            outcome: 'refused',
            detail: { tenant: owner, path: l.path, link: l.link, reason: 'symbolic link' },
          }),
      },
    );
  }

  /** Listen on HTTP; a failure (the port is taken, say) stops what started and is thrown. */
  async #listen(config: Config): Promise<void> {
    const http = this.#httpListener(config);
    this.#http = http;
    let addr: Awaited<ReturnType<HttpListener['listen']>>;
    try {
      addr = await http.listen(config.gateway.listen.host, config.gateway.listen.port);
    } catch (err) {
      // No upstream started yet; the audit stream ends with `stream.closed`.
      this.#http = undefined;
      await this.stop();
      throw err;
    }
    this.#bound = { address: addr.address, port: addr.port };
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    this.url = `http://${host}:${addr.port}`;
    if (config.gateway.listen.port === 0) this.#boundTo(config, addr.port);
  }

  /** Host and Origin allowlists (and a resource identifier taken from the listen address) need the real port. */
  #boundTo(config: Config, port: number): void {
    this.#listenAsConfigured = config.gateway.listen;
    this.config = {
      ...config,
      gateway: { ...config.gateway, listen: { ...config.gateway.listen, port } },
    };
    if (config.identity?.resourceFromListen)
      this.config.identity = {
        ...config.identity,
        resource: config.identity.resource.replace(/:0\/mcp$/, `:${port}/mcp`),
      };
    this.#endpoint = this.#endpointDeps();
  }

  /** The HTTP front door: MCP endpoints, admin API, OAuth callback, approval pages, console, metrics. */
  #httpListener(config: Config): HttpListener {
    const store = this.store;
    return new HttpListener({
      endpoint: () => this.#endpoint,
      timeouts: { headersMs: config.gateway.headersTimeoutMs, bodyMs: config.gateway.bodyTimeoutMs },
      connections: () => this.config.gateway,
      store,
      auditWritable: () => this.audit.writable,
      upstreamReady: (n) => this.fleet.ready(n),
      upstreamsUnconnected: () => this.fleet.unconnected(),
      admin: () => ({
        config: this.config,
        store,
        identity: this.#endpoint.identity,
        auditStream: this.audit.log.stream,
        record: (i) => this.audit.record(i),
        announce: (msg) => this.#announce(msg),
      }),
      oauthCallback: (code: string, state: string, iss?: string) => this.#upstreamAuthorized(code, state, iss),
      oauthRefused: async (state: string) => this.credentials.broker.oauth?.abandon(state),
      metricsToken: () => this.config.gateway.metricsToken,
      identityConfigured: () => this.config.identity !== undefined,
      approvalPage: () => ({
        identity: this.#endpoint.identity,
        approvals: this.approvals,
        origins: this.#endpoint.origins,
        currentContent: (r) =>
          readForApprover(r, {
            readTool: this.config.approvals.readTools?.[r.tool],
            split: (tool) => this.catalog.split(tool),
            policy: this.#endpoint.policy,
            read: (target, path) => this.fleet.readAs(r.tenant, target, path),
            record: (i) => this.audit.record(i),
          }),
      }),
      console: () => ({
        config: this.config,
        store,
        identity: this.#endpoint.identity,
        approvals: this.approvals,
        origins: this.#endpoint.origins,
        record: (i) => this.audit.record(i),
        baseUrl: this.config.gateway.publicUrl ?? this.url,
        announce: (msg) => this.#announce(msg),
      }),
    });
  }

  /** A change this gateway made to the store (an incident's containment or lift): in force here first, then fanned out. */
  async #announce(msg: FanoutMessage): Promise<boolean> {
    try {
      if (msg.kind === 'modes.changed') await this.runtimeModes.sync();
      else if (msg.kind === 'revocations.changed') await this.principalRevocations.refresh();
    } catch (err) {
      // The store has it: the next poll applies it here.
      this.log.warn({ err: (err as Error).message }, 'a change made here is applied at the next poll');
    }
    return announce(this.config.limits?.redis, msg);
  }

  /** An upstream authorization server sent the browser back: the tokens are stored, and the server's start retried at once. */
  async #upstreamAuthorized(code: string, state: string, iss?: string): Promise<{ server: string; tenant: string }> {
    const oauth = this.credentials.broker.oauth;
    if (!oauth) throw new GatehouseError('E_INTERNAL', 'upstream oauth is not set up');
    const done = await oauth.complete(
      (n) => {
        const c = this.fleet.configOf(n);
        return c && c.transport !== 'stdio' ? c : undefined;
      },
      state,
      code,
      this.callbackUrl(),
      iss,
    );
    this.fleet.retry(done.server);
    return done;
  }

  /** Resolves when every enabled upstream is connected and catalogued, or after `ms`. */
  waitForUpstreams(ms: number): Promise<void> {
    return this.fleet.waitForUpstreams(ms);
  }

  /** Connected and its catalogue loaded: what /readyz reports per upstream. */
  /** Whether every tenant's secrets to look for in requests are learned, or a promise of it (known-secrets.ts). */
  secretsLearned(): true | Promise<boolean> {
    return this.#secrets.learned();
  }

  upstreamReady(name: string): boolean {
    return this.fleet.ready(name);
  }

  /**
   * Policy rules and modes that name what is not configured, or a tool the inventory has never listed
   * (the store's, as `gatehouse config validate` reads it): warnings, at the rule's file and line.
   * `seen` holds what was said already (the pass after the first catalogue says only what is new).
   */
  async #warnUnknownTools(config: Config, seen = new Set<string>()): Promise<Set<string>> {
    if (!config.policy) return seen;
    const listed = await this.store.inventory.tools().catch(() => undefined);
    for (const w of policyNameWarnings(config, listed)) {
      const line = `policy: ${w.at}: ${w.message}`;
      if (seen.has(line)) continue;
      seen.add(line);
      this.log.warn({ rule: w.rule, at: w.at, pattern: w.pattern }, line);
    }
    return seen;
  }

  /** A reload that was refused (the file is invalid, or applying it failed): recorded; the last good config stays. */
  async reloadRefused(source: string, err: Error): Promise<void> {
    await this.audit.record({
      kind: 'config.reloaded',
      outcome: 'refused',
      detail: { config: source, refused: true, reason: err.message.slice(0, 4000) },
    });
  }

  /**
   * Apply a new configuration: upstreams added, removed or changed. Refused, the running config
   * kept, when it would weaken the security posture unasked (src/gateway/reload-plan.ts). The
   * listener, storage and state directory keep what runs: they need a restart, and the notes say so.
   */
  async reload(next: Config): Promise<string[]> {
    checkServerNames(next);
    const prev = this.config;
    const notes = planReload(prev, this.#listenAsConfigured ?? prev.gateway.listen, next);
    await this.#warnUnknownTools(next);
    this.#ownKey.scrub(next);
    notes.push(...(await this.fleet.apply(next.servers, prev.servers)));
    this.upstreamBytes.max = next.gateway.maxUpstreamBufferedBytes;
    this.requestBytes.max = requestBudgetBytes(next.gateway); // what is held stays held: the next request sees it
    this.requestBytes.floor = next.gateway.maxBodyBytes; // the reserve follows both
    const limitsNote = this.#limits.reload(next.limits);
    if (limitsNote) notes.push(limitsNote);
    if (next.policy?.compiled.revision !== prev.policy?.compiled.revision)
      notes.push(
        `policy revision ${prev.policy?.compiled.revision ?? 'none'} -> ${next.policy?.compiled.revision ?? 'none'}`,
      );
    // A resource identifier taken from the listen address keeps the address actually bound.
    const identity =
      next.identity?.resourceFromListen && this.config.identity?.resourceFromListen
        ? { ...next.identity, resource: this.config.identity.resource }
        : next.identity;
    const gateway = { ...next.gateway, listen: prev.gateway.listen, stateDir: prev.gateway.stateDir };
    this.config = { ...next, gateway, storage: prev.storage, identity };
    this.#settingsChanged();
    void this.#secrets.learn(); // the new servers' and tenants' secrets
    await this.audit.reconfigure(next.audit);
    await this.audit.record({ kind: 'config.reloaded', detail: { config: next.source, notes } });
    return notes;
  }

  async stop(): Promise<void> {
    this.fleet.stopRetrying();
    await this.#early?.stop();
    this.#secrets.stop();
    this.#ownKey.stop();
    await this.#http?.close();
    this.subscriptions.close();
    this.sessions.close();
    await this.#fanout?.close();
    await this.#relay?.close();
    this.holds.close();
    this.principalRevocations.stop();
    this.authFailures.close();
    this.inventory.stop();
    this.runtimeModes.stop();
    await this.credentials.broker.stop();
    await this.credentials.pool.stop();
    await this.fleet.stop();
    await this.sandbox?.close();
    await this.#limits.close();
    await this.tracer?.close();
    await this.audit.close();
    await this.store.close();
  }

  /**
   * The settings a listing is decided by (policy, modes, identity) may have changed: the listeners
   * get them rebuilt, and each caller whose own view of a kind changed hears of it, no one else.
   */
  #settingsChanged(): void {
    const before = this.#endpoint;
    const after = this.#endpointDeps();
    this.#endpoint = after;
    for (const kind of ALL_KINDS)
      this.subscriptions.viewChanged(kind, (who, scope) => viewDiffers(before, after, who, scope, kind));
  }

  /** What the HTTP and stdio listeners need, rebuilt on reload. */
  get endpoint(): EndpointDeps {
    return this.#endpoint;
  }

  #endpointDeps(): EndpointDeps {
    return endpointDeps(this, { limits: this.#limits, cursorKey: this.#cursorKey, current: () => this.#endpoint });
  }

  /** Where an upstream authorization server sends the browser back (the same for the CLI and every replica). */
  callbackUrl(): string {
    return oauthCallbackUrl(this.config, this.url);
  }
}
