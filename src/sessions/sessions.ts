/**
 * Legacy (2025-11-25) downstream sessions. The record lives in the store, so a session created on
 * one replica is known on another; what only this process has (the GET stream, questions waiting
 * for the client's answer, resource subscriptions) lives in LiveSession. Ids are 128-bit random.
 * A session belongs to the principal that created it: another principal presenting the id gets
 * `session not found`, exactly like an unknown id.
 */
import { randomBytes } from 'node:crypto';
import { ANONYMOUS_KEY, type Principal } from '../identity/principal.ts';
import { GatehouseError } from '../protocol/errors.ts';
import type { JsonObject, JsonRpcMessage, RequestId } from '../protocol/jsonrpc.ts';
import type { SessionRecord, SessionStore } from '../storage/types.ts';
import type { ServerRequestAnswer } from '../upstream/types.ts';
import { askedBy, newReplicaId, questionId, type RelayedAnswer } from './replica-relay.ts';
import { sessionDigest } from './session-digest.ts';

export interface MessageSink {
  send(msg: JsonRpcMessage): void;
  readonly closed: boolean;
  close(): void;
}

/** How often, at most, a session's use is written to the store (and at least three times per idle time). */
const TOUCH_EVERY_MS = 30_000;
/** How long this process trusts its cached copy before checking the store again (another replica may have ended it). */
const RECHECK_MS = 5_000;
const MAX_PENDING_ASKS = 64;
/** What a session keeps of the client's self-description (capabilities and info), at most. */
const MAX_CLIENT_JSON = 64 * 1024;

/**
 * A store operation whose failure is the gateway's condition, not the caller's: 503 "store
 * unavailable" with Retry-After (worth a retry), the reason in the log, never an internal error.
 */
function stored<T>(p: Promise<T>): Promise<T> {
  return p.catch((err: unknown) => {
    throw new GatehouseError('E_STORE_UNAVAILABLE', undefined, undefined, err);
  });
}

export interface SessionCaps {
  perPrincipal: number;
  perTenant: number;
}

export class LiveSession {
  readonly record: SessionRecord;
  stream: MessageSink | undefined;
  /** Who opened `stream` (the session's principal): which servers' list changes it hears. */
  streamOwner: Principal | undefined;
  readonly subscriptions = new Set<string>();
  logLevel: string | undefined;
  readonly #asks = new Map<RequestId, (a: ServerRequestAnswer) => void>();
  /** The replica asking (named in each question's id, so an answer that reaches another replica is sent here). */
  readonly #replica: string;
  /**
   * When this process last wrote the session's use to the store, and last served it: this process's
   * own clock, compared only with itself (the store's record is judged by the store's clock).
   */
  lastTouch = 0;
  lastUsed = Date.now();
  verifiedAt = Date.now();
  /** The digest of the id: what crosses Redis instead of the id (src/sessions/session-digest.ts). */
  readonly digest: string;
  /** Why the session ended, once it has: a question put after that is answered with it at once. */
  #ended: string | undefined;

  constructor(record: SessionRecord, replica = newReplicaId()) {
    this.record = record;
    this.#replica = replica;
    this.digest = sessionDigest(record.id);
  }
  get id(): string {
    return this.record.id;
  }

  /** Send a server->client request on `sink` (the causing POST's stream, or the GET stream) and await the answer. */
  ask(sink: MessageSink, method: string, params: JsonObject, signal: AbortSignal): Promise<ServerRequestAnswer> {
    // A call still running when its session ended (DELETE, swept, ended on another replica, stdin
    // closed) can ask no one: no answer could reach this session, so none is awaited.
    if (this.#ended !== undefined) return Promise.resolve({ error: { code: -32603, message: this.#ended } });
    if (this.#asks.size >= MAX_PENDING_ASKS)
      return Promise.resolve({ error: { code: -32603, message: 'too many questions waiting for the client' } });
    const id = questionId(this.#replica);
    return new Promise((resolve) => {
      const done = (a: ServerRequestAnswer) => {
        this.#asks.delete(id);
        signal.removeEventListener('abort', onAbort);
        resolve(a);
      };
      const onAbort = () => done({ error: { code: -32603, message: 'request cancelled' } });
      this.#asks.set(id, done);
      signal.addEventListener('abort', onAbort, { once: true });
      sink.send({ jsonrpc: '2.0', id, method, params });
    });
  }

  /** The client's answer to one of our questions. False when no question has that id. */
  answer(id: RequestId, a: ServerRequestAnswer): boolean {
    const done = this.#asks.get(id);
    if (!done) return false;
    done(a);
    return true;
  }

  /** The session ends: questions waiting are answered with `reason`, and so is every later one. */
  close(reason = 'session closed'): void {
    this.#ended ??= reason;
    for (const done of [...this.#asks.values()]) done({ error: { code: -32603, message: this.#ended } });
    this.stream?.close();
    this.stream = undefined;
  }
}

export class Sessions {
  readonly #store: SessionStore;
  readonly #live = new Map<string, LiveSession>();
  /** The same sessions by the digest of their id: how messages from other replicas name them. */
  readonly #byDigest = new Map<string, LiveSession>();
  readonly #idleMs: number;
  /**
   * Every third of the idle time at most: a use written only every 30 s let any replica's sweep end a
   * session in use when the idle time was shorter (`sessionIdleSeconds` may be 10).
   */
  readonly #touchEveryMs: number;
  readonly #sweeper: NodeJS.Timeout;

  readonly #caps: () => SessionCaps | undefined;
  /**
   * How long a cached copy is trusted before the store is read again. With fan-out (src/sessions/
   * fanout.ts) live, an end elsewhere arrives at once and this is only a safety net; with fan-out
   * configured but down, the gateway sets it to 0: every request re-reads (the stricter fallback).
   */
  recheckMs: () => number = () => RECHECK_MS;
  /** Called when this process ends a session (to tell the other replicas), with the digest of its id. */
  onEnded: (digest: string) => void = () => {};
  /** This replica's name, in the ids of the questions its sessions ask. */
  readonly replica: string;
  /**
   * Sends an answer to the replica that asked (src/sessions/replica-relay.ts); false when it could
   * not (no Redis, or Redis away): the answer is then dropped, as one for no question is.
   */
  relay: (to: string, m: RelayedAnswer) => Promise<boolean> = async () => false;
  /** A session's GET stream opened here, or closed (src/sessions/stream-places.ts notes where it is). */
  onStream: (id: string, open: boolean) => void = () => {};

  /** `caps`: sessions one principal and one tenant may hold open (read at each new session, so a reload applies). */
  constructor(
    store: SessionStore,
    idleSeconds: number,
    caps: () => SessionCaps | undefined = () => undefined,
    replica = newReplicaId(),
  ) {
    this.#store = store;
    this.replica = replica;
    this.#idleMs = idleSeconds * 1000;
    this.#touchEveryMs = Math.min(TOUCH_EVERY_MS, this.#idleMs / 3);
    this.#caps = caps;
    this.#sweeper = setInterval(() => void this.#sweep(), Math.min(60_000, this.#idleMs));
    this.#sweeper.unref();
  }

  get size(): number {
    return this.#live.size;
  }

  /**
   * A new session, within the caps: per principal (authenticated callers) and per tenant, counting
   * sessions not idle (across replicas: the store counts, by its own clock). The client's
   * self-description is bounded. The store stamps the session's times with its clock.
   */
  async create(init: Omit<SessionRecord, 'id' | 'createdAt' | 'lastSeenAt'>): Promise<LiveSession> {
    if (
      JSON.stringify(init.clientCapabilities ?? null).length + JSON.stringify(init.clientInfo ?? null).length >
      MAX_CLIENT_JSON
    ) {
      throw new GatehouseError(
        'E_INVALID_PARAMS',
        `invalid params: the client's capabilities and info are larger than ${MAX_CLIENT_JSON / 1024} KiB`,
      );
    }
    const caps = this.#caps();
    if (caps) {
      const withinMs = this.#idleMs;
      if (init.tenant && (await stored(this.#store.count({ tenant: init.tenant, withinMs }))) >= caps.perTenant) {
        throw new GatehouseError(
          'E_RATE_LIMITED',
          `too many open sessions in tenant \`${init.tenant}\` (at most ${caps.perTenant}): end some (DELETE) or let them idle out`,
          { retryAfterMs: 10_000, cap: 'tenant' },
        );
      }
      if (
        init.principal &&
        init.principal !== ANONYMOUS_KEY &&
        (await stored(this.#store.count({ principal: init.principal, withinMs }))) >= caps.perPrincipal
      ) {
        throw new GatehouseError(
          'E_RATE_LIMITED',
          `too many open sessions for you (at most ${caps.perPrincipal}): end some (DELETE) or let them idle out`,
          { retryAfterMs: 10_000, cap: 'principal' },
        );
      }
    }
    // Hex, not base64url: an id that starts with `-` reads as an option to every command line
    // (`gatehouse audit run <session>`), and operators paste these ids.
    const record = await stored(this.#store.create({ ...init, id: randomBytes(16).toString('hex') }));
    const s = new LiveSession(record, this.replica);
    s.lastTouch = s.lastUsed;
    this.#keep(s);
    return s;
  }

  /** The session `id` of `principal` on `scope`; anything else is `session not found`. */
  async get(id: string, principal: string | null, scope: string): Promise<LiveSession> {
    if (!/^[A-Za-z0-9_-]{16,64}$/.test(id)) throw new GatehouseError('E_SESSION_NOT_FOUND');
    let s = this.#live.get(id);
    if (s && Date.now() - s.verifiedAt >= this.recheckMs()) {
      if (!(await stored(this.#store.get(id)))) {
        this.#drop(s);
        s.close('session ended');
        throw new GatehouseError('E_SESSION_NOT_FOUND');
      }
      s.verifiedAt = Date.now();
    }
    if (!s) {
      // Idle or not is the store's judgement, by its clock: this process's may be off by any amount.
      const record = await stored(this.#store.get(id, this.#idleMs));
      if (record) {
        s = new LiveSession(record, this.replica);
        this.#keep(s);
      }
    }
    if (!s || s.record.principal !== principal || s.record.scope !== scope)
      throw new GatehouseError('E_SESSION_NOT_FOUND');
    const now = Date.now();
    s.lastUsed = now;
    if (now - s.lastTouch > this.#touchEveryMs) {
      s.lastTouch = now;
      this.#store.touch(id).catch(() => {});
    }
    return s;
  }

  /**
   * The client's answer to question `id` of session `s` (got for this caller: sessions.get checked it
   * is theirs). Asked here, answered here; asked by another replica, sent there with who answered.
   */
  async answer(s: LiveSession, id: RequestId, reply: ServerRequestAnswer): Promise<void> {
    const to = askedBy(id);
    if (to === undefined || to === this.replica) {
      s.answer(id, reply);
      return;
    }
    const r = s.record;
    const m: RelayedAnswer = {
      kind: 'answer',
      session: s.digest,
      principal: r.principal,
      tenant: r.tenant ?? null,
      scope: r.scope,
      id: String(id),
      reply,
    };
    await this.relay(to, m);
  }

  /**
   * An answer another replica received for a question of this one: it goes to the session it names
   * (by the digest of its id) only when that session is live here and is the same principal's,
   * tenant's and endpoint's; the id must be one of that session's own questions (each keeps its own).
   */
  answerRelayed(m: RelayedAnswer): boolean {
    const s = this.#byDigest.get(m.session);
    if (!s) return false;
    const r = s.record;
    if (r.principal !== m.principal || (r.tenant ?? null) !== m.tenant || r.scope !== m.scope) return false;
    return s.answer(m.id, m.reply);
  }

  async delete(s: LiveSession): Promise<void> {
    this.#drop(s);
    s.close('the client ended the session');
    await stored(this.#store.delete(s.id));
    this.onEnded(s.digest);
  }

  /** The session whose id has digest `digest`, as this process has it (no store read), if it does. */
  cachedByDigest(digest: string): LiveSession | undefined {
    return this.#byDigest.get(digest);
  }

  /** Another replica ended the session whose id has digest `digest`: drop this process's copy (its GET stream closes). */
  endedElsewhere(digest: string): void {
    const s = this.#byDigest.get(digest);
    if (!s) return;
    this.#drop(s);
    s.close('session ended');
  }

  #keep(s: LiveSession): void {
    this.#live.set(s.id, s);
    this.#byDigest.set(s.digest, s);
  }

  #drop(s: LiveSession): void {
    this.#live.delete(s.id);
    this.#byDigest.delete(s.digest);
  }

  /** Re-check every cached copy against the store on its next use (fan-out messages may have been missed). */
  distrustAll(): void {
    for (const s of this.#live.values()) s.verifiedAt = 0;
  }

  /**
   * A session that lives only in this process and is not persisted (the stdio listener's one client):
   * registered so change notifications reach it; never swept while its connection is open.
   */
  attachLocal(s: LiveSession): () => void {
    this.#local.add(s);
    return () => {
      this.#local.delete(s);
      s.close();
    };
  }
  readonly #local = new Set<LiveSession>();

  /** Every live session in this process (for list_changed fan-out). */
  *all(): IterableIterator<LiveSession> {
    yield* this.#live.values();
    yield* this.#local;
  }

  close(): void {
    clearInterval(this.#sweeper);
    for (const s of this.#live.values()) s.close('the gateway is stopping');
    this.#live.clear();
    this.#byDigest.clear();
  }

  /**
   * This process's copies idle by its own clock (times it took itself) are dropped; the store's
   * records idle by the store's clock are deleted, whichever replica used them last.
   */
  async #sweep(): Promise<void> {
    const before = Date.now() - this.#idleMs;
    for (const s of [...this.#live.values()]) {
      if (s.lastUsed < before) {
        this.#drop(s);
        s.close('session expired (idle)');
      }
    }
    await this.#store.purgeIdle(this.#idleMs).catch(() => {});
  }
}
