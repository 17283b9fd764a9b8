/**
 * One configured upstream server: its channel and peer, the handshake, the era verdict (cached in
 * the store), and restarts with exponential backoff when it dies. Callers use `request`, which
 * waits for the connection (bounded by connectMs) and adds the modern `_meta` envelope when needed.
 */
import { createHash } from 'node:crypto';
import { doubled } from '../util/backoff.ts';
import { systemClock, type Clock } from '../util/clock.ts';
import { EventEmitter } from 'node:events';
import { GatehouseError, UpstreamRpcError } from '../protocol/errors.ts';
import { CircuitBreaker, type BreakerOptions, type CircuitChange } from './breaker.ts';
import { META, modernMeta } from '../protocol/era.ts';
import type { JsonObject, JsonRpcNotification, JsonRpcRequest } from '../protocol/jsonrpc.ts';
import type { Logger } from '../observability/logger.ts';
import type { ServerConfig, StdioServerConfig } from '../config/schema.ts';
import type { VerdictStore } from '../storage/types.ts';
import { Peer } from './peer.ts';
import { ByteBudget } from '../util/byte-budget.ts';
import { StdioChannel, type StdioOptions } from './stdio.ts';
import { fetchHint, makeChannel } from './make-channel.ts';
import type { SandboxHost } from '../sandbox/sandbox.ts';
import { capabilitiesFor, handshake } from './handshake.ts';
import type { CallOptions, Channel, Era, ServerIdentity, ServerRequestAnswer } from './types.ts';

export type UpstreamState = 'starting' | 'ready' | 'down' | 'stopped';
type Cfg = ServerConfig & { timeouts: { connectMs: number; requestMs: number; maxTotalMs: number } };

const STABLE_MS = 60_000;
/** After a legacy session to a modern server failed (a modern-only server), how long its modern connection serves everyone. */
const LEGACY_SESSION_RETRY_MS = 5 * 60_000;

/** The era the operator pinned (`era:` in config); `sse` servers are always legacy. */
function pinnedEra(cfg: ServerConfig): Era | undefined {
  if (cfg.transport === 'sse') return undefined;
  return cfg.era === 'legacy' || cfg.era === 'modern' ? cfg.era : undefined;
}

function fingerprint(cfg: ServerConfig): string {
  const c = cfg as Partial<StdioServerConfig> & { url?: string };
  const era = pinnedEra(cfg);
  return createHash('sha256')
    .update(JSON.stringify([cfg.transport, c.command, c.args, c.url, ...(era ? [era] : [])]))
    .digest('hex')
    .slice(0, 32);
}

/**
 * Whether an error says the upstream failed (unreachable, timed out, broken or invalid answers, its
 * internal error) rather than answered: a JSON-RPC error it chose to send (unknown tool, invalid
 * params) is an answer and keeps the circuit closed.
 */
function breaks(err: unknown): boolean {
  if (err instanceof UpstreamRpcError) return err.rpcCode === -32603;
  if (err instanceof GatehouseError) return err.code.startsWith('E_UPSTREAM_');
  return true;
}

/**
 * Breakers kept per connection for callers' tenants: a connection is normally one tenant's (the
 * pool's), so this only bounds what a stream of tenant names could grow; the least recently used goes.
 */
const MAX_TENANT_BREAKERS = 64;

export class Upstream extends EventEmitter<{
  ready: [ServerIdentity];
  down: [];
  event: [JsonRpcNotification];
  /** The server sent a method the gateway does not take from servers (src/protocol/upstream-methods.ts): refused or dropped. */
  refused: ['request' | 'notification', string];
  /** A breaker changed: the tenant whose calls it counts, or undefined for the connection's own (the gateway's requests). */
  circuit: [CircuitChange, string | undefined];
}> {
  readonly name: string;
  readonly cfg: Cfg;
  #state: UpstreamState = 'down';
  #peer: Peer | undefined;
  #identity: ServerIdentity | undefined;
  #ready: Promise<void> | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #delay: number;
  #readySince = 0;
  #lastError = '';
  readonly #log: Logger;
  readonly #channelLog: Logger;
  readonly #verdicts: VerdictStore;
  /** This connection is the 2025-11-25 session of a modern connection (legacySession): never probes, never caches a verdict. */
  readonly #legacyOnly: boolean;
  /** The logger this connection was given, for its legacy session. */
  readonly #givenLog: Logger;
  readonly #clock: Clock | undefined;
  /** The gateway's budget of bytes held from upstreams, shared by every channel. */
  readonly #budget: ByteBudget;
  #legacy: Upstream | undefined;
  #legacyRefusedUntil = 0;
  /**
   * Fails fast while the upstream keeps failing the gateway's own requests (catalogue listings), the
   * ones no caller's arguments shape; /readyz shows it. Callers' requests count in their tenant's
   * breaker (`tenantBreaker`), so what one tenant's calls provoke (a slow tool, one that throws) never
   * refuses another tenant's calls, nor the gateway's. Changes of either are emitted as `circuit`.
   */
  readonly breaker: CircuitBreaker;
  readonly #tenantBreakers = new Map<string, CircuitBreaker>();
  readonly #now: () => number;
  /** Server->client requests no in-flight call can be blamed for; `why` says why (the default answer). */
  orphanHandler: (r: JsonRpcRequest, why: string) => Promise<ServerRequestAnswer> = async (r, why) =>
    r.method === 'ping' ? { result: {} } : { error: { code: -32603, message: why } };

  constructor(
    cfg: Cfg,
    verdicts: VerdictStore,
    log: Logger,
    opts: { legacyOnly?: boolean; clock?: Clock; budget?: ByteBudget } = {},
  ) {
    super();
    this.name = cfg.name;
    this.cfg = cfg;
    this.#verdicts = verdicts;
    this.#legacyOnly = Boolean(opts.legacyOnly);
    this.#givenLog = log;
    this.#log = log.child(this.#legacyOnly ? { upstream: cfg.name, session: 'legacy' } : { upstream: cfg.name });
    this.#channelLog = log; // channels and the peer name the upstream themselves: one `upstream` key per line
    this.#delay = this.#restartCfg().initialDelayMs;
    const clock = opts.clock ?? systemClock;
    this.#clock = opts.clock;
    this.#budget = opts.budget ?? new ByteBudget();
    this.#now = () => clock.now();
    this.breaker = this.#newBreaker(undefined);
  }

  /** The breaker counting `tenant`'s requests on this connection (made on first need). */
  tenantBreaker(tenant: string): CircuitBreaker {
    let b = this.#tenantBreakers.get(tenant);
    if (b)
      this.#tenantBreakers.delete(tenant); // re-inserted last: the map's order is least recently used first
    else b = this.#newBreaker(tenant);
    this.#tenantBreakers.set(tenant, b);
    for (const oldest of this.#tenantBreakers.keys()) {
      if (this.#tenantBreakers.size <= MAX_TENANT_BREAKERS) break;
      this.#tenantBreakers.delete(oldest);
    }
    return b;
  }

  #newBreaker(tenant: string | undefined): CircuitBreaker {
    const b = new CircuitBreaker((this.cfg as { circuit?: Partial<BreakerOptions> }).circuit, this.#now);
    b.on('change', (c) => {
      this.#log.warn(
        { circuit: c.to, reason: c.reason, ...(tenant === undefined ? {} : { tenant }) },
        `upstream circuit ${c.to}`,
      );
      this.emit('circuit', c, tenant);
    });
    return b;
  }

  get state(): UpstreamState {
    return this.#state;
  }
  get identity(): ServerIdentity | undefined {
    return this.#identity;
  }
  /** Requests sent upstream and not yet answered. */
  get inFlight(): number {
    return (this.#peer?.inFlight ?? 0) + (this.#legacy?.inFlight ?? 0);
  }
  get lastError(): string {
    return this.#lastError;
  }
  get pid(): number | undefined {
    return this.#peer && this.#channel instanceof StdioChannel ? this.#channel.pid : undefined;
  }
  #channel: Channel | undefined;
  /** Starts stdio servers (sandboxed when configured) and keeps their registry; the gateway sets it, with the tenant of this connection. */
  sandbox: { host: SandboxHost; tenant: string } | undefined;
  /** Its server's process started ahead of the gateway, for this connection's first start to adopt (src/upstream/early-start.ts). */
  prestarted: StdioOptions['prestarted'];

  start(): Promise<void> {
    if (this.#state === 'stopped') return Promise.reject(new GatehouseError('E_UPSTREAM_UNAVAILABLE'));
    if (this.#ready && this.#state !== 'down') return this.#ready;
    this.#state = 'starting';
    this.#ready = this.#connect();
    this.#ready.catch(() => {});
    return this.#ready;
  }

  async stop(): Promise<void> {
    this.#state = 'stopped';
    clearTimeout(this.#restartTimer);
    const peer = this.#peer;
    this.#peer = undefined;
    const legacy = this.#legacy;
    this.#legacy = undefined;
    await Promise.all([peer?.close(), legacy?.stop()]);
  }

  /**
   * A 2025-11-25 session to this same server, for a legacy caller that can be asked questions: a
   * dual-era server sends sampling, elicitation and roots requests only within a legacy session
   * (on 2026-07-28 it must return `input_required`, which servers written against the classic API do
   * not). Only with `era: auto`, only when this connection speaks 2026-07-28, started on first need;
   * undefined when the server refuses `initialize` (modern-only: the caller is then served over this
   * connection, its `input_required` played out as questions), retried after a while.
   */
  async legacySession(): Promise<Upstream | undefined> {
    if (this.#legacyOnly || this.cfg.transport === 'sse' || (this.cfg.era ?? 'auto') !== 'auto') return undefined;
    if (this.#state !== 'ready') await this.#usablePeer().catch(() => undefined);
    if (this.#identity?.era !== 'modern' || this.#state !== 'ready' || Date.now() < this.#legacyRefusedUntil)
      return undefined;
    if (!this.#legacy || this.#legacy.state === 'stopped') {
      const legacy = new Upstream(this.cfg, this.#verdicts, this.#givenLog, {
        legacyOnly: true,
        clock: this.#clock,
        budget: this.#budget,
      });
      legacy.sandbox = this.sandbox;
      legacy.orphanHandler = (r, why) => this.orphanHandler(r, why);
      legacy.on('refused', (kind, method) => this.emit('refused', kind, method));
      this.#legacy = legacy;
    }
    const legacy = this.#legacy;
    try {
      await legacy.#usablePeer();
      return legacy;
    } catch {
      this.#log.info(
        { retryInMs: LEGACY_SESSION_RETRY_MS },
        'upstream refused a 2025-11-25 session: legacy callers are served over 2026-07-28',
      );
      this.#legacyRefusedUntil = Date.now() + LEGACY_SESSION_RETRY_MS;
      if (this.#legacy === legacy) this.#legacy = undefined;
      await legacy.stop();
      return undefined;
    }
  }

  /**
   * Send a request upstream, adding the era's envelope. `params._meta` from the caller is kept.
   * `tenant`: the caller's, whose breaker counts the outcome; none for the gateway's own requests.
   */
  async request(
    method: string,
    params: JsonObject | undefined,
    opts: Omit<CallOptions, 'timeoutMs' | 'maxTotalMs'> & Partial<CallOptions> & { tenant?: string },
  ): Promise<JsonObject> {
    const breaker = opts.tenant === undefined ? this.breaker : this.tenantBreaker(opts.tenant);
    const ticket = breaker.admit();
    if (!ticket) {
      const now = this.#now();
      const wait = Math.max(0, (breaker.retryAt ?? now) - now);
      throw new GatehouseError(
        'E_UPSTREAM_UNAVAILABLE',
        `upstream \`${this.name}\` is unavailable: it kept failing (circuit open, next try in ${Math.ceil(wait / 1000)} s)`,
      );
    }
    try {
      const result = await this.#request(method, params, opts);
      breaker.success(ticket);
      return result;
    } catch (err) {
      if (opts.signal?.aborted) breaker.release(ticket);
      else if (breaks(err)) breaker.failure(ticket, err instanceof Error ? err.message.slice(0, 120) : 'failed');
      else breaker.success(ticket);
      throw err;
    }
  }

  async #request(
    method: string,
    params: JsonObject | undefined,
    opts: Omit<CallOptions, 'timeoutMs' | 'maxTotalMs'> & Partial<CallOptions>,
  ): Promise<JsonObject> {
    const peer = await this.#usablePeer();
    const identity = this.#identity;
    if (!identity) throw new GatehouseError('E_UPSTREAM_UNAVAILABLE', `upstream \`${this.name}\` is unavailable`);
    let p = params;
    if (identity.era === 'modern') {
      const meta = {
        ...((params?._meta as JsonObject | undefined) ?? {}),
        ...modernMeta(capabilitiesFor(this.cfg, opts.clientCapabilities)),
      };
      p = { ...(params ?? {}), _meta: meta };
    } else if (params && ('inputResponses' in params || 'requestState' in params)) {
      // 2025-11-25 has no round trips: a modern caller's retry of the `input_required` the gateway
      // made of this server's -32042 (gateway/forward.ts) is the request it retries, and only that.
      const { inputResponses: _ir, requestState: _rs, ...rest } = params;
      p = rest;
    }
    return peer.request(method, p, {
      timeoutMs: opts.timeoutMs ?? this.cfg.timeouts.requestMs,
      maxTotalMs: opts.maxTotalMs ?? this.cfg.timeouts.maxTotalMs,
      signal: opts.signal,
      headers: opts.headers,
      onNotification: opts.onNotification,
      onServerRequest: opts.onServerRequest,
      askable: opts.askable,
      beforeSend: opts.beforeSend,
    });
  }

  async notify(method: string, params?: JsonObject): Promise<void> {
    const peer = await this.#usablePeer();
    await peer.notify(method, params);
  }

  async #usablePeer(): Promise<Peer> {
    if (this.#state === 'stopped')
      throw new GatehouseError('E_UPSTREAM_UNAVAILABLE', `upstream \`${this.name}\` is stopped`);
    if (this.#state !== 'ready') {
      const wait = this.start();
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new GatehouseError('E_UPSTREAM_UNAVAILABLE', `upstream \`${this.name}\` is unavailable`)),
          this.cfg.timeouts.connectMs,
        );
      });
      try {
        await Promise.race([wait, limit]);
      } catch {
        throw new GatehouseError('E_UPSTREAM_UNAVAILABLE', `upstream \`${this.name}\` is unavailable`);
      } finally {
        clearTimeout(timer);
      }
    }
    const peer = this.#peer;
    if (!peer || peer.closed)
      throw new GatehouseError('E_UPSTREAM_UNAVAILABLE', `upstream \`${this.name}\` is unavailable`);
    return peer;
  }

  #restartCfg(): { initialDelayMs: number; maxDelayMs: number } {
    const r = (this.cfg as StdioServerConfig).restart;
    return { initialDelayMs: r?.initialDelayMs ?? 500, maxDelayMs: r?.maxDelayMs ?? 30_000 };
  }

  async #connect(): Promise<void> {
    let channel: Channel;
    try {
      const prestarted = this.prestarted; // the first start only: a restart spawns anew
      this.prestarted = undefined;
      channel = await makeChannel(this.cfg, {
        sandbox: this.sandbox,
        prestarted,
        budget: this.#budget,
        log: this.#channelLog,
      });
    } catch (err) {
      this.#lastError = err instanceof Error ? err.message : String(err);
      if (this.#state === 'stopped') throw err;
      this.#state = 'down';
      this.#log.error({ err: this.#lastError }, 'upstream could not start');
      // Nothing was spawned, so no exit will schedule the next try (a sandbox path fixed meanwhile,
      // a command installed): the backoff does, as for a server that died.
      this.#restartLater();
      throw err;
    }
    const peer = new Peer(channel, this.#channelLog);
    this.#channel = channel;
    this.#peer = peer;
    peer.onEvent((n) => this.emit('event', n));
    peer.onRefused((kind, method) => this.emit('refused', kind, method));
    peer.onOrphanRequest((r, why) => this.orphanHandler(r, why));
    peer.onClose((err) => this.#onPeerClosed(peer, err));
    try {
      const fp = fingerprint(this.cfg);
      const cached = this.#legacyOnly ? undefined : await this.#verdicts.get(this.name).catch(() => undefined);
      const prior = cached?.fingerprint === fp ? cached.era : undefined;
      const only = this.#legacyOnly ? 'legacy' : pinnedEra(this.cfg);
      const capabilities = capabilitiesFor(this.cfg);
      const identity = await handshake(peer, { timeoutMs: this.cfg.timeouts.connectMs, prior, only, capabilities });
      if (this.#peer !== peer) throw new Error('superseded');
      this.#identity = identity;
      this.#state = 'ready';
      this.#readySince = Date.now();
      this.#lastError = '';
      if (
        !this.#legacyOnly &&
        (cached?.era !== identity.era ||
          cached.fingerprint !== fp ||
          cached.protocolVersion !== identity.protocolVersion)
      ) {
        await this.#verdicts
          .put({
            server: this.name,
            fingerprint: fp,
            era: identity.era,
            protocolVersion: identity.protocolVersion,
            probedAt: Date.now(),
          })
          .catch((err: Error) => this.#log.warn({ err: err.message }, 'could not cache era verdict'));
      }
      this.#log.info(
        {
          era: identity.era,
          protocolVersion: identity.protocolVersion,
          server: identity.serverInfo[META.serverInfo] ?? identity.serverInfo.name,
        },
        'upstream ready',
      );
      this.emit('ready', identity);
      if (identity.era === 'modern') this.#listen(peer, identity);
    } catch (err) {
      // A server that died or hangs usually said why on stderr (npm's "404 Not Found"): that is the error.
      const tail = channel instanceof StdioChannel ? await channel.stderrTail() : '';
      const hint = fetchHint(this.cfg, err);
      const why =
        (err instanceof Error ? err.message : String(err)) +
        (tail ? `; its stderr: ${tail}` : '') +
        (hint ? `; ${hint}` : '');
      this.#log.warn({ err: why }, 'upstream handshake failed');
      await peer.close().catch(() => {});
      // After the close, which says only that the gateway closed it: the handshake's failure is the news.
      if (this.#state !== 'stopped') this.#lastError = why;
      throw err;
    }
  }

  /**
   * A 2026-07-28 upstream sends change notifications only on a `subscriptions/listen` stream: keep
   * one open for the list types it can change, and reopen it (with backoff) while the peer lives.
   */
  #listen(peer: Peer, identity: ServerIdentity, delay = 500): void {
    const caps = identity.capabilities as Record<string, { listChanged?: boolean } | undefined>;
    const notifications: JsonObject = {};
    if (caps.tools?.listChanged) notifications.toolsListChanged = true;
    if (caps.prompts?.listChanged) notifications.promptsListChanged = true;
    if (caps.resources?.listChanged) notifications.resourcesListChanged = true;
    if (!Object.keys(notifications).length) return;
    const forever = 2_147_483_647;
    const opened = Date.now();
    peer
      .request(
        'subscriptions/listen',
        { notifications, _meta: modernMeta(capabilitiesFor(this.cfg)) },
        {
          timeoutMs: forever,
          maxTotalMs: forever,
          onNotification: (n) => {
            if (n.method !== 'notifications/subscriptions/acknowledged') this.emit('event', n);
          },
        },
      )
      .catch(() => undefined)
      .finally(() => {
        if (this.#peer !== peer || peer.closed || this.#state !== 'ready') return;
        const next = Date.now() - opened > 60_000 ? 500 : doubled(delay, 30_000);
        setTimeout(() => this.#listen(peer, identity, next), delay).unref();
      });
  }

  #onPeerClosed(peer: Peer, err?: Error): void {
    if (this.#peer !== peer) return;
    this.#peer = undefined;
    if (this.#state === 'stopped') return;
    const wasReady = this.#state === 'ready';
    this.#state = 'down';
    this.#lastError = err?.message ?? 'closed';
    if (wasReady) this.emit('down');
    if (wasReady && Date.now() - this.#readySince > STABLE_MS) this.#delay = this.#restartCfg().initialDelayMs;
    this.#restartLater();
  }

  /** Another start after the backoff's delay (doubling up to its maximum), unless one came first or it stopped. */
  #restartLater(): void {
    const delay = this.#delay;
    this.#delay = doubled(this.#delay, this.#restartCfg().maxDelayMs);
    this.#log.info({ delayMs: delay }, 'restarting upstream');
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => {
      if (this.#state === 'down') this.start().catch(() => {});
    }, delay);
    this.#restartTimer.unref();
  }
}
