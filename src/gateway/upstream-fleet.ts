/**
 * The configured servers as the gateway runs them. Every server is reached through the tenants'
 * connections (the credentialed pool); its discovery tenant's connection is the one the catalogue
 * lists from and whose events and circuit the gateway follows. A server whose credentials are not
 * there yet (a secret to create, an upstream authorization to complete) is retried with backoff, at
 * once when an authorization completes. A reload replaces what changed and drops what went.
 */
import { isTerminal } from '../limits/task-lease.ts';
import { connectionActor } from '../model/audit-event.ts';
import type { AuditInput } from '../audit/log.ts';
import type { Catalog, Kind } from '../catalog/catalog.ts';
import type { Config } from '../config/schema.ts';
import { discoveryTenant, variesByOwner } from '../credentials/broker.ts';
import type { SecretScrubber } from '../credentials/scrub.ts';
import type { CredentialedUpstreams } from '../credentials/upstreams.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { quote } from '../protocol/errors.ts';
import type { JsonRpcNotification } from '../protocol/jsonrpc.ts';
import type { SandboxHost } from '../sandbox/sandbox.ts';
import type { CircuitChange, CircuitState } from '../upstream/breaker.ts';
import type { Upstream } from '../upstream/upstream.ts';
import type { SpawnSpec } from '../upstream/early-start.ts';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { doubled } from '../util/backoff.ts';
import { Coalescer } from '../util/coalesce.ts';
import { hearerOf, upstreamNotification } from '../protocol/upstream-methods.ts';
import { type RefusedKind, RefusedMethods } from './refused-methods.ts';

type ServerConfig = Config['servers'][number];

const LIST_CHANGED: Record<string, Kind[]> = {
  'notifications/tools/list_changed': ['tools'],
  'notifications/prompts/list_changed': ['prompts'],
  'notifications/resources/list_changed': ['resources', 'resourceTemplates'],
};

const CIRCUIT_GAUGE: Record<CircuitState, number> = { closed: 0, 'half-open': 1, open: 2 };

export interface FleetDeps {
  /** The servers' listing connections by name: the map the catalogue and the pipeline read. */
  upstreams: Map<string, Upstream>;
  pool: CredentialedUpstreams;
  scrubber: SecretScrubber;
  catalog: Catalog;
  metrics: Metrics;
  record: (input: AuditInput) => Promise<unknown>;
  log: Logger;
  sandbox: () => SandboxHost;
  /** The servers configured now (the first catalogue waits at most their longest connect timeout). */
  servers: () => Config['servers'];
  /** A resource changed on the connection of `owner` (a tenant, or tenant/user): its value scrubbed. */
  resourceUpdated: (server: string, owner: string, n: JsonRpcNotification) => void;
  /** A log message said on the connection of `owner` outside any call: its value scrubbed. */
  logMessage: (server: string, owner: string, n: JsonRpcNotification) => void;
  /** What the connection of `owner` lists of `kind` changed, where each owner is shown its own. */
  ownListChanged: (server: string, owner: string, kind: Kind) => void;
  /** The upstream said a task on the connection of `owner` ended (a terminal notifications/tasks/status). */
  taskEnded: (server: string, owner: string, upstreamTaskId: string) => void;
  /** The upstream said a task's status (or progress) on the connection of `owner`: for the caller whose task it is (as said: the receiver scrubs it). */
  taskStatus: (server: string, owner: string, n: JsonRpcNotification) => void;
  /** A server's process started ahead of the gateway, if it was started as `spec` (src/upstream/early-start.ts). */
  prestarted: (server: string, spec: SpawnSpec) => ChildProcessWithoutNullStreams | undefined;
}

export class UpstreamFleet {
  readonly #deps: FleetDeps;
  /** Each server's config as written (connections holding credentials carry a filled-in copy). */
  readonly #cfg = new Map<string, ServerConfig>();
  readonly #pending = new Map<string, Promise<void>>();
  readonly #retry = new Map<string, () => void>();
  readonly #catalogued = new Map<string, Promise<void>>();
  #firstCatalogue: Promise<void> | undefined;
  #catalogueSettled = false;
  #stopped = false;
  /** List changes said on tenants' own connections, folded per server, owner and kind. */
  readonly #ownChanges = new Coalescer(500);
  /** What is logged of the methods servers sent that the gateway does not take. */
  readonly #refusals = new RefusedMethods();

  constructor(deps: FleetDeps) {
    this.#deps = deps;
    deps.pool.onCreated = (server, tenantKey, up) => {
      up.sandbox = { host: deps.sandbox(), tenant: tenantKey };
      const cfg = this.#cfg.get(server);
      if (!cfg) return;
      if (tenantKey === discoveryTenant(cfg)) {
        up.prestarted = (spec) => deps.prestarted(server, spec);
        this.#wire(server, up);
      } else {
        up.on('event', (n: JsonRpcNotification) => this.#onEvent(server, n, tenantKey));
        up.on('refused', (kind, method) => this.#refusedMethod(server, tenantKey, kind, method));
        up.on('circuit', (c, tenant) => this.#circuitChanged(server, c, tenant ?? tenantKey));
      }
    };
  }

  /** A server's config as written. */
  configOf(name: string): ServerConfig | undefined {
    return this.#cfg.get(name);
  }

  /** Start a server on its discovery tenant's connection (the pool wires it, onCreated, when it exists). */
  add(cfg: ServerConfig): void {
    const { pool, log, upstreams } = this.#deps;
    this.#cfg.set(cfg.name, cfg);
    let timer: NodeJS.Timeout | undefined;
    const attempt = (delay: number): Promise<void> =>
      pool.get(cfg, discoveryTenant(cfg), undefined, undefined, { keep: true }).then(
        () => void this.#retry.delete(cfg.name),
        (err: Error) => {
          log.error(
            { upstream: cfg.name, err: err.message, retryInMs: delay },
            'upstream not started: its credentials are unavailable',
          );
          const again = () => {
            clearTimeout(timer);
            if (this.#cfg.get(cfg.name) === cfg && !upstreams.has(cfg.name) && !this.#stopped)
              void attempt(doubled(delay, 30_000));
          };
          this.#retry.set(cfg.name, again); // an authorization completing retries at once
          timer = setTimeout(again, delay);
          timer.unref();
        },
      );
    this.#pending.set(cfg.name, attempt(1000));
  }

  /** An upstream authorization for `server` completed: its start is retried now. */
  retry(server: string): void {
    this.#retry.get(server)?.();
  }

  /** The servers of a new configuration applied: what changed restarted, what went stopped; what was done, in words. */
  async apply(next: Config['servers'], prev: Config['servers']): Promise<string[]> {
    const notes: string[] = [];
    const wanted = new Map(next.filter((s) => !s.disabled).map((s) => [s.name, s]));
    for (const name of this.#deps.upstreams.keys()) {
      const cfg = wanted.get(name);
      if (!cfg || JSON.stringify(cfg) !== JSON.stringify(this.#cfg.get(name))) {
        await this.#remove(name);
        notes.push(cfg ? `server ${quote(name)} changed: restarted` : `server ${quote(name)} removed`);
      }
    }
    for (const [name, cfg] of wanted) {
      if (!this.#deps.upstreams.has(name)) {
        this.add(cfg);
        if (!prev.some((s) => s.name === name)) notes.push(`server ${quote(name)} added`);
      }
    }
    return notes;
  }

  /** Resolves when every enabled upstream is connected and catalogued, or after `ms`. */
  async waitForUpstreams(ms: number): Promise<void> {
    const all = Promise.allSettled([...this.#pending.values()]).then(() =>
      Promise.allSettled(
        [...this.#deps.upstreams.values()].map((u) => u.start().then(() => this.#catalogued.get(u.name))),
      ),
    );
    await Promise.race([all, new Promise((r) => setTimeout(r, ms).unref())]);
  }

  /**
   * Settles once every enabled upstream's first catalogue load finished or failed, or after the
   * longest connect timeout (and a margin for the listing): requests arriving just after start wait
   * this long at most, instead of seeing an empty catalogue.
   */
  untilCatalogued(): Promise<void> {
    if (this.#catalogueSettled) return Promise.resolve();
    const bound =
      Math.max(
        0,
        ...this.#deps
          .servers()
          .filter((s) => !s.disabled)
          .map((s) => s.timeouts?.connectMs ?? 15_000),
      ) + 2000;
    this.#firstCatalogue ??= this.waitForUpstreams(bound).then(() => {
      this.#catalogueSettled = true;
    });
    return this.#firstCatalogue;
  }

  /**
   * The servers with no connection yet, and why: their credentials are unavailable (retried with
   * backoff), or their first start is under way. /readyz counts them as not ready.
   */
  unconnected(): Map<string, string> {
    const out = new Map<string, string>();
    for (const name of this.#cfg.keys())
      if (!this.#deps.upstreams.has(name))
        out.set(name, this.#retry.has(name) ? 'credentials unavailable' : 'starting');
    return out;
  }

  /** Connected and its catalogue loaded: what /readyz reports per upstream. */
  ready(name: string): boolean {
    return this.#deps.upstreams.get(name)?.state === 'ready' && this.#deps.catalog.has(name);
  }

  /**
   * A READ tool called for an approver's diff, on the requester's tenant's connection (policy was
   * evaluated for the requester: approvals/current-content.ts); its answer is scrubbed like any other.
   */
  async readAs(tenant: string, target: { server: string; name: string }, path: string): Promise<unknown> {
    const cfg = this.#cfg.get(target.server);
    if (!cfg) return undefined;
    const { up, values } = await this.#deps.pool.get(cfg, tenant);
    const res = await up.request('tools/call', { name: target.name, arguments: { path } }, { tenant });
    return this.#deps.scrubber.value(res, values);
  }

  /** The gateway is stopping: no server is started again. */
  stopRetrying(): void {
    this.#stopped = true;
  }

  /** The listing connections stopped (the tenants' connections stop with the pool). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#ownChanges.close();
    await Promise.allSettled([...this.#deps.upstreams.values()].map((u) => u.stop()));
  }

  /** Make `up` the server's connection for listings and events (the pool starts it). */
  #wire(name: string, up: Upstream): void {
    const { catalog, metrics, log } = this.#deps;
    this.#deps.upstreams.set(name, up);
    up.on('ready', () => {
      metrics.upstreamUp.set({ server: name }, 1);
      const done = catalog
        .refresh(name)
        .catch((err: Error) => log.warn({ upstream: name, err: err.message }, 'catalogue refresh failed'));
      this.#catalogued.set(name, done);
    });
    up.on('down', () => metrics.upstreamUp.set({ server: name }, 0));
    metrics.upstreamCircuit.set({ server: name }, 0);
    up.on('circuit', (c, tenant) => this.#circuitChanged(name, c, tenant));
    const owner = discoveryTenant(this.#cfg.get(name));
    up.on('event', (n: JsonRpcNotification) => this.#onEvent(name, n, owner));
    up.on('refused', (kind, method) => this.#refusedMethod(name, owner, kind, method));
  }

  async #remove(name: string): Promise<void> {
    const up = this.#deps.upstreams.get(name);
    this.#deps.upstreams.delete(name);
    this.#cfg.delete(name);
    this.#pending.delete(name);
    await this.#deps.pool.drop(name);
    this.#catalogued.delete(name);
    this.#deps.catalog.drop(name);
    this.#deps.metrics.upstreamUp.remove({ server: name });
    this.#refusals.forget(name);
    await up?.stop();
  }

  /**
   * A circuit breaker changed: counted and recorded, with the tenant whose calls it counts (a caller's
   * breaker, or any breaker of a tenant's own connection). The state gauge, like /readyz, follows only
   * the catalogue connection's own breaker (the gateway's listings): one tenant's failures are not the
   * server's state, and neither may say to others how a tenant's calls fare.
   */
  #circuitChanged(server: string, c: CircuitChange, tenant?: string): void {
    const { metrics } = this.#deps;
    if (tenant === undefined) metrics.upstreamCircuit.set({ server }, CIRCUIT_GAUGE[c.to]);
    metrics.upstreamCircuitChanges.inc({ server, to: c.to });
    const retryAt = c.retryAt ? { retryAt: new Date(c.retryAt).toISOString() } : {};
    void this.#deps.record({
      kind: 'upstream.circuit',
      // A tenant's circuit is indexed under its tenant, as its own egress refusals are: its admin finds it.
      ...(tenant === undefined ? {} : { actor: connectionActor(tenant) }),
      server,
      detail: { ...(tenant === undefined ? {} : { tenant }), from: c.from, to: c.to, reason: c.reason, ...retryAt },
    });
  }

  /**
   * An upstream's own notification, from the connection of `owner` (a tenant, or tenant/user), to
   * whom its row of the table says (src/protocol/upstream-methods.ts); the peer let through only
   * methods the table names.
   */
  #onEvent(server: string, n: JsonRpcNotification, owner: string): void {
    const row = upstreamNotification(n.method);
    switch (row && hearerOf(row, false)) {
      case 'listing':
        this.#listChanged(server, n.method, owner);
        return;
      case 'starter':
        // Its end frees the slots the task holds, on whichever replica hears it (src/pipeline/task-leases.ts).
        if (typeof n.params?.taskId === 'string' && isTerminal(n.params.status))
          this.#deps.taskEnded(server, owner, n.params.taskId);
        this.#deps.taskStatus(server, owner, n);
        return;
      case 'subscribers':
        // Only the sessions of the tenant (or user) whose connection saw the change hear of it, scrubbed.
        this.#deps.resourceUpdated(server, owner, this.#deps.scrubber.value(n));
        return;
      case 'owner':
        // Said outside any call: the same tenant's (user's) sessions that asked for its level hear it.
        this.#deps.logMessage(server, owner, n);
        return;
      default:
      // `asked`: the connection's elicitation routes hear it themselves (elicitations.ts).
    }
  }

  /** A listing of `server` changed on the connection of `owner`: the catalogue's, or that owner's own. */
  #listChanged(server: string, method: string, owner: string): void {
    const kinds = Object.hasOwn(LIST_CHANGED, method) ? LIST_CHANGED[method] : undefined;
    const cfg = this.#cfg.get(server);
    if (!kinds) return;
    if (cfg && variesByOwner(cfg) && owner !== discoveryTenant(cfg)) {
      // That owner's own listing changed (src/pipeline/own-resources.ts, own-definitions.ts), not the
      // catalogue's: only its sessions hear of it, at most twice a second however often it is said
      // (the catalogue's own refreshes are spaced likewise).
      const kind = kinds[0];
      this.#ownChanges.run(`${server}\0${owner}\0${kind}`, () => this.#deps.ownListChanged(server, owner, kind));
      return;
    }
    this.#deps.catalog
      .refresh(server, kinds)
      .catch((err: Error) => this.#deps.log.warn({ upstream: server, err: err.message }, 'catalogue refresh failed'));
  }

  /**
   * The connection of `owner` refused a method its server sent (the peer: not in the table):
   * counted, and logged once per server and method within a budget (refused-methods.ts). The
   * method is the server's text: scrubbed of every tenant's secrets and quoted, bounded.
   */
  #refusedMethod(server: string, owner: string, kind: RefusedKind, method: string): void {
    this.#deps.metrics.upstreamMethodsRefused.inc({ server, kind });
    this.#refusals.refused(server, kind, method, Date.now(), (suppressed) =>
      this.#deps.log.warn(
        {
          upstream: server,
          tenant: owner,
          kind,
          method: quote(this.#deps.scrubber.value(method)),
          ...(suppressed ? { suppressed } : {}),
        },
        kind === 'request'
          ? 'refused a request of a server: the gateway takes no such method from servers (answered -32601)'
          : 'dropped a notification of a server: the gateway takes no such method from servers',
      ),
    );
  }
}
