/**
 * The upstream connections callers use: one per (server, tenant) — or (server, tenant, user) for
 * per-user upstream OAuth — for every server, with or without credentials. Tenants never share a
 * process, an upstream session, its cached roots or its subscriptions, and a connection holding one
 * tenant's secrets never answers another. Each request asks for its connection; when the secrets behind
 * it changed (rotation, after the cache TTL) a new connection replaces it and the old one finishes its
 * calls in flight before it stops. A revocation stops every connection holding the revoked secret at once.
 */
import type { Clock } from '../util/clock.ts';
import type { ByteBudget } from '../util/byte-budget.ts';
import { GatehouseError } from '../protocol/errors.ts';
import type { ServerConfig } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { VerdictStore } from '../storage/types.ts';
import { Upstream } from '../upstream/upstream.ts';
import { brokered, connectionOwner, type CredentialBroker } from './broker.ts';
import { scrubbingLogger, type SecretScrubber } from './scrub.ts';

interface Held {
  up: Upstream;
  digest: string;
  refs: string[];
  values: string[];
  /** The catalogue's connection: never stopped for being idle. */
  keep: boolean;
  lastUsed: number;
}

const DRAIN_MS = 60_000;
const SWEEP_MS = 60_000;
/** Secret values remembered after their connections stopped (the oldest forgotten first past this). */
const MAX_KNOWN = 10_000;

export class CredentialedUpstreams {
  readonly #broker: CredentialBroker;
  readonly #verdicts: VerdictStore;
  readonly #log: Logger;
  readonly #held = new Map<string, Held>();
  readonly #retiring = new Set<Upstream>();
  /** A new connection was made (the gateway wires its events, e.g. the catalogue). */
  onCreated: (server: string, tenantKey: string, up: Upstream) => void = () => {};

  readonly #scrubber: SecretScrubber;
  /**
   * Every secret value this gateway resolved, or learned ahead (`learn`), whether or not a connection
   * holds it now: one another tenant's caller sends must be caught and redacted after its connection
   * went idle, was rotated or revoked, and on a replica that never connected for that tenant.
   */
  readonly #known = new Set<string>();

  readonly #idleMs: () => number;
  readonly #clock: Clock | undefined;
  /** The gateway's budget of bytes held from upstreams, given to every connection. */
  readonly #budget: ByteBudget | undefined;
  #stopped = false;
  readonly #sweeper: NodeJS.Timeout;

  constructor(
    broker: CredentialBroker,
    verdicts: VerdictStore,
    log: Logger,
    scrubber: SecretScrubber,
    idleMs: () => number = () => 15 * 60_000,
    clock?: Clock,
    budget?: ByteBudget,
  ) {
    this.#clock = clock;
    this.#budget = budget;
    this.#broker = broker;
    this.#idleMs = idleMs;
    this.#sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.#sweeper.unref();
    this.#verdicts = verdicts;
    this.#scrubber = scrubber;
    // What these connections log (an upstream's stderr, say) is scrubbed of the secrets they hold.
    this.#log = scrubbingLogger(log, scrubber);
    broker.onRevoked = (ref) => this.revoke(ref);
  }

  static key(cfg: ServerConfig, tenant: string, subject?: string): string {
    return `${cfg.name}\u0000${connectionOwner(cfg, tenant, subject)}`;
  }

  /** The connection for this server and tenant (and user, for per-user OAuth), with current secrets; the values, for redaction. */
  async get(
    cfg: ServerConfig,
    tenant: string,
    subject?: string,
    subjectToken?: string,
    opts: { keep?: boolean } = {},
  ): Promise<{ up: Upstream; values: string[] }> {
    const key = CredentialedUpstreams.key(cfg, tenant, subject);
    const held = this.#held.get(key);
    const now = Date.now();
    // A server without credentials has nothing to resolve: its tenant's connection as it is.
    if (held && !held.refs.length && !brokered(cfg) && held.up.state !== 'stopped') {
      held.lastUsed = now;
      return { up: held.up, values: [] };
    }
    const m = await this.#broker.materialize(cfg, tenant, subject, subjectToken);
    // Read again after the await: a concurrent first request of this tenant may have connected
    // meanwhile (two processes for one key would leave one running unowned), or the gateway stopped.
    if (this.#stopped) throw new GatehouseError('E_UPSTREAM_UNAVAILABLE', `upstream \`${cfg.name}\` is stopped`);
    const current = this.#held.get(key);
    if (current && current.digest === m.digest && current.up.state !== 'stopped') {
      current.lastUsed = now;
      return { up: current.up, values: m.values };
    }
    const up = new Upstream(m.cfg as never, this.#verdicts, this.#log, {
      clock: this.#clock,
      budget: this.#budget?.share(cfg.name), // one server's connections together hold at most half of it
    });
    this.#held.set(key, {
      up,
      digest: m.digest,
      refs: m.refs,
      values: m.values,
      keep: Boolean(opts.keep || current?.keep),
      lastUsed: now,
    });
    this.#remember(m.values);
    this.onCreated(cfg.name, key.split('\u0000')[1], up);
    up.start().catch(() => {});
    if (current) {
      this.#log.info(
        { server: cfg.name },
        'credentials rotated: a new upstream connection takes new calls; the old one drains',
      );
      this.#retire(current.up);
    }
    return { up, values: m.values };
  }

  /**
   * The live connection for this server and owner, if there is one, without making one or resolving
   * secrets: what holds a task another replica asks about (src/gateway/task-relay.ts).
   */
  existing(cfg: ServerConfig, tenant: string, subject?: string): Upstream | undefined {
    const held = this.#held.get(CredentialedUpstreams.key(cfg, tenant, subject));
    if (!held || held.up.state === 'stopped') return undefined;
    held.lastUsed = Date.now(); // in use, as a request of its own would be: not idle
    return held.up;
  }

  /** Stop every connection holding `ref` now (calls in flight fail; new ones are refused). */
  async revoke(ref: string): Promise<void> {
    const stops: Promise<void>[] = [];
    for (const [key, h] of this.#held) {
      if (!h.refs.some((r) => r === ref || matches(ref, r))) continue;
      this.#held.delete(key);
      stops.push(h.up.stop());
    }
    await Promise.allSettled(stops);
  }

  /** Stop every connection of a server (removed from the config). */
  async drop(server: string): Promise<void> {
    const stops: Promise<void>[] = [];
    for (const [key, h] of this.#held) {
      if (!key.startsWith(`${server}\u0000`)) continue;
      this.#held.delete(key);
      stops.push(h.up.stop());
    }
    await Promise.allSettled(stops);
  }

  /** What is held, for operators and tests: server, tenant key, process id (stdio), state. Never values. */
  describe(): Array<{ server: string; tenant: string; pid: number | undefined; state: string }> {
    return [...this.#held].map(([key, h]) => ({
      server: key.split('\u0000')[0],
      tenant: key.split('\u0000')[1],
      pid: h.up.pid,
      state: h.up.state,
    }));
  }

  /** Every secret value held or known (for redaction of anything leaving the gateway). */
  values(): string[] {
    return [...new Set([...this.#known, ...[...this.#held.values()].flatMap((h) => h.values)])];
  }

  /** Remember values (the oldest forgotten past MAX_KNOWN) and tell the scrubber when any was new. */
  #remember(values: readonly string[]): void {
    let fresh = false;
    for (const v of values) {
      if (!v || this.#known.has(v)) continue;
      this.#known.add(v);
      fresh = true;
    }
    for (const v of this.#known) {
      if (this.#known.size <= MAX_KNOWN) break;
      this.#known.delete(v);
    }
    if (fresh) this.#scrubber.update(this.values());
  }

  /**
   * Learn ahead the secret values of every credentialed server for these tenants (at start, on a
   * reload, and now and then): the tenants the gateway knows of, whether or not they call here.
   */
  async learn(servers: readonly ServerConfig[], tenants: readonly string[]): Promise<void> {
    const values: string[] = [];
    for (const cfg of servers) {
      if (cfg.disabled || !cfg.credentials) continue;
      for (const tenant of tenants) values.push(...(await this.#broker.valuesFor(cfg, tenant)));
    }
    this.#remember(values);
  }

  /** Know these values from now on (the stored upstream OAuth tokens of every owner, say). */
  know(values: readonly string[]): void {
    this.#remember(values);
  }

  /** Stop the connections nobody used for the idle time (and none in flight); the next request starts them again. */
  sweep(now = Date.now()): number {
    let n = 0;
    for (const [key, h] of this.#held) {
      if (h.keep || h.up.inFlight > 0 || now - h.lastUsed < this.#idleMs()) continue;
      this.#held.delete(key);
      void h.up.stop();
      n++;
    }
    return n; // its values stay known (#known)
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#sweeper);
    await Promise.allSettled(
      [...this.#held.values()].map((h) => h.up.stop()).concat([...this.#retiring].map((u) => u.stop())),
    );
    this.#held.clear();
  }

  #retire(up: Upstream): void {
    this.#retiring.add(up);
    const deadline = Date.now() + DRAIN_MS;
    const check = () => {
      if (up.inFlight === 0 || Date.now() > deadline) {
        this.#retiring.delete(up);
        void up.stop();
      } else setTimeout(check, 50).unref();
    };
    check();
  }
}

function matches(template: string, expanded: string): boolean {
  if (!template.includes('{')) return false;
  return new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(tenant|env)\}/g, '[^/#]+')}$`).test(
    expanded,
  );
}
