/**
 * Held upstream calls for modern (2026-07-28) callers. When a legacy upstream asks its caller a
 * question mid-call (sampling, elicitation, roots), a modern caller cannot be asked on the same
 * stream: the gateway answers `input_required` instead, keeps the upstream call running here, and
 * resumes it when the caller retries with `inputResponses` and the HMAC-sealed `requestState`.
 * Holds live in this process's memory, bounded in number and time, and per principal and per tenant
 * (when the caller names the owner), so one tenant's slow calls cannot use up every other tenant's.
 * A held call keeps the bytes of the request that made it (its params) counted against its tenant's
 * share of `gateway.maxBufferedRequestBytes` (src/util/request-budget.ts) until the hold goes, however
 * it goes (answered, failed, abandoned, expired, the gateway stopping): the caller's answer
 * (`input_required`) ends long before, and bounding holds by count alone let one tenant keep hundreds
 * of megabytes of params unseen. Its tenant's next requests are refused at their body meanwhile.
 *
 * A request state names the replica holding the call and is sealed (HMAC) under a key every replica
 * shares (the store's `held-calls` key), over the replica, the hold and the retry's binding: any
 * replica checks it, and one that is not the holder sends the retry there (held-relay.ts).
 */
import { randomBytes } from 'node:crypto';
import { hmacSha256, sameBytes } from '../util/hmac.ts';
import { AsyncLocalStorage } from 'node:async_hooks';
import { GatehouseError } from '../protocol/errors.ts';
import type { JsonObject, JsonRpcRequest } from '../protocol/jsonrpc.ts';
import type { ServerRequestAnswer } from '../upstream/types.ts';
import type { RequestHold } from '../util/request-budget.ts';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { newReplicaId } from '../sessions/replica-relay.ts';

const PREFIX = 'gh1.';
const MAX_HOLDS = 1000;

/** Who a held call belongs to, for the per-principal and per-tenant caps. */
export interface HoldOwner {
  principal: string;
  tenant: string;
  /** The bytes of the request being answered (its tenant's share of the request budget), kept while a hold it made lives. */
  body?: Pick<RequestHold, 'keep'>;
}

export interface HoldCaps {
  total: number;
  perPrincipal: number;
  perTenant: number;
}

const DEFAULT_HOLD_CAPS: HoldCaps = { total: MAX_HOLDS, perPrincipal: 20, perTenant: 200 };

/**
 * The caller a request is handled for, set by the listener around dispatch, so a hold made below
 * (in the forwarder) counts against its principal and tenant when the forwarder does not name them.
 */
export const holdOwner = new AsyncLocalStorage<HoldOwner>();

interface Question {
  key: string;
  request: JsonRpcRequest;
  answer(a: ServerRequestAnswer): void;
}

type Step = { done: JsonObject } | { failed: unknown } | { questions: Question[] };

const INVALID_STATE = 'invalid or expired request state (it may belong to another gateway replica)';

/** A caller's retry of a call another replica holds, its request state's seal checked here. */
export interface ElsewhereRetry {
  state: string;
  binding: string;
  principal: string;
  tenant: string;
  inputResponses: JsonObject | undefined;
  capabilities: JsonObject;
}

/** What removes from the held call's words what must not reach its caller (its questions, its result), as when it was made. */
export interface HeldScrubs {
  questions: (method: string, params: JsonObject) => JsonObject;
  result: <T>(v: T) => T;
}

const ABANDONED: ServerRequestAnswer = { error: { code: -32603, message: 'request abandoned by the client' } };

export class HeldCall {
  readonly id: string;
  readonly binding: string;
  owner: HoldOwner | undefined;
  /** The scrubs of the request that made it: a retry relayed from another replica is answered with them. */
  scrubs: HeldScrubs | undefined;
  /** Lets go of the request bytes this call keeps (once): when the hold goes. */
  letGo: () => void = () => {};
  readonly #queue: Question[] = [];
  #outcome: Step | undefined;
  /** Whoever waits in `next` (two retries of one request state may wait at once: each is woken). */
  readonly #waiting = new Set<() => void>();
  #seq = 0;
  /** Its caller was given a request state: a retry may come, so the hold waits for one (until it expires). */
  sealed = false;
  #abandoned = false;
  expires: number;

  constructor(id: string, binding: string, ttlMs: number) {
    this.id = id;
    this.binding = binding;
    this.expires = Date.now() + ttlMs;
  }

  /** Run the upstream call; its server requests are queued as questions. */
  start(run: (ask: (r: JsonRpcRequest) => Promise<ServerRequestAnswer>) => Promise<JsonObject>): void {
    run(
      (request) =>
        new Promise<ServerRequestAnswer>((answer) => {
          if (this.#abandoned) return answer(ABANDONED);
          this.#queue.push({ key: `q${++this.#seq}`, request, answer });
          this.#wakeAll();
        }),
    ).then(
      (done) => this.#finish({ done }),
      (failed) => this.#finish({ failed }),
    );
  }

  #finish(s: Step): void {
    this.#outcome = s;
    this.#wakeAll();
  }

  /** Wait for the next thing the caller must see: the result, the failure, or questions. */
  async next(signal: AbortSignal): Promise<Step> {
    // Let questions asked in the same tick gather into one round.
    for (;;) {
      if (this.#queue.length) {
        await nextTurn();
        return { questions: [...this.#queue] };
      }
      if (this.#outcome) return this.#outcome;
      if (signal.aborted) throw new GatehouseError('E_CANCELLED');
      let wake = () => {};
      await new Promise<void>((resolve) => {
        wake = resolve;
        this.#waiting.add(wake);
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
      this.#waiting.delete(wake);
    }
  }

  #wakeAll(): void {
    for (const wake of this.#waiting) wake();
  }

  /** Answer one queued question here (the caller is not asked). */
  answerHere(key: string, a: ServerRequestAnswer): void {
    const i = this.#queue.findIndex((q) => q.key === key);
    if (i >= 0) this.#queue.splice(i, 1)[0].answer(a);
  }

  /** Deliver the caller's answers to the questions it was shown. */
  answer(responses: JsonObject): void {
    for (const q of this.#queue.splice(0)) {
      const r = responses[q.key];
      if (r && typeof r === 'object' && !Array.isArray(r)) q.answer({ result: r as JsonObject });
      else q.answer({ error: { code: -32602, message: 'the client gave no answer for this request' } });
    }
  }

  /** Nobody will answer: what is asked now and later is answered that the client abandoned it. */
  abandon(): void {
    this.#abandoned = true;
    for (const q of this.#queue.splice(0)) q.answer(ABANDONED);
  }
}

export class Holds {
  /** Random until the shared key is given (useKey): one process's seals only. */
  #secret: Buffer = randomBytes(32);
  /** This replica's name, in each request state it seals. */
  readonly replica: string;
  /**
   * Sends a retry to the replica holding its call and returns the outcome (held-relay.ts). Without a
   * relay (no Redis, or Redis away) the state is invalid here, as it always was on another replica.
   */
  elsewhere: (replica: string, r: ElsewhereRetry, signal: AbortSignal) => Promise<JsonObject> = async () => {
    throw new GatehouseError('E_INPUT_STATE', INVALID_STATE);
  };
  readonly #holds = new Map<string, HeldCall>();
  readonly #ttlMs: number;
  readonly #sweeper: NodeJS.Timeout;
  readonly #caps: () => HoldCaps;
  readonly #perPrincipal = new Map<string, number>();
  readonly #perTenant = new Map<string, number>();

  /** `caps`: fixed, or read at each new hold (so a config reload applies). */
  constructor(ttlMs = 300_000, caps: HoldCaps | (() => HoldCaps) = DEFAULT_HOLD_CAPS, replica = newReplicaId()) {
    this.replica = replica;
    this.#ttlMs = ttlMs;
    this.#caps = typeof caps === 'function' ? caps : () => caps;
    this.#sweeper = setInterval(() => this.#sweep(), 10_000);
    this.#sweeper.unref();
  }

  create(binding: string, owner: HoldOwner | undefined = holdOwner.getStore()): HeldCall {
    const caps = this.#caps();
    if (owner) {
      if ((this.#perTenant.get(owner.tenant) ?? 0) >= caps.perTenant)
        throw new GatehouseError(
          'E_RATE_LIMITED',
          `too many calls of tenant \`${owner.tenant}\` are waiting for client input (at most ${caps.perTenant}): answer or abandon some first`,
          { retryAfterMs: 5000, cap: 'tenant' },
        );
      if ((this.#perPrincipal.get(owner.principal) ?? 0) >= caps.perPrincipal)
        throw new GatehouseError(
          'E_RATE_LIMITED',
          `too many of your calls are waiting for client input (at most ${caps.perPrincipal}): answer or abandon some first`,
          { retryAfterMs: 5000, cap: 'principal' },
        );
    }
    if (this.#holds.size >= caps.total)
      throw new GatehouseError('E_UPSTREAM_UNAVAILABLE', 'too many calls waiting for client input');
    const h = new HeldCall(randomBytes(16).toString('base64url'), binding, this.#ttlMs);
    this.#holds.set(h.id, h);
    // The request's bytes stay counted while its call is held, past its answer (once, whichever way the hold goes).
    if (owner?.body) h.letGo = owner.body.keep();
    if (owner) {
      h.owner = owner;
      this.#perTenant.set(owner.tenant, (this.#perTenant.get(owner.tenant) ?? 0) + 1);
      this.#perPrincipal.set(owner.principal, (this.#perPrincipal.get(owner.principal) ?? 0) + 1);
    }
    return h;
  }

  #forget(h: HeldCall): void {
    if (!this.#holds.delete(h.id)) return;
    h.letGo();
    if (!h.owner) return;
    const dec = (m: Map<string, number>, k: string) => {
      const n = (m.get(k) ?? 1) - 1;
      if (n > 0) m.set(k, n);
      else m.delete(k);
    };
    dec(this.#perTenant, h.owner.tenant);
    dec(this.#perPrincipal, h.owner.principal);
  }

  isOurs(state: unknown): state is string {
    return typeof state === 'string' && state.startsWith(PREFIX);
  }

  /** Seal once the shared key is known (at start, before any hold): every replica then checks every state. */
  useKey(key: Buffer): void {
    this.#secret = key;
  }

  seal(h: HeldCall): string {
    h.sealed = true;
    h.expires = Date.now() + this.#ttlMs;
    return `${PREFIX}${this.replica}.${h.id}.${this.#mac(this.replica, h.id, h.binding)}`;
  }

  /**
   * Where the held call a sealed state names is: here (checked against the retry's binding: tool,
   * caller), or on another replica, once the seal is checked (the holder checks the rest).
   */
  locate(state: string, binding: string): { held: HeldCall } | { replica: string; id: string } {
    const [, replica = '', id = '', mac = '', ...rest] = state.split('.');
    if (rest.length || !/^[0-9a-f]{16}$/.test(replica) || !sameBytes(this.#mac(replica, id, binding), mac))
      throw new GatehouseError('E_INPUT_STATE', INVALID_STATE);
    if (replica !== this.replica) return { replica, id };
    return { held: this.#find(id, binding) };
  }

  /** The live held call `id` of this replica, made for `binding`. */
  #find(id: string, binding: string): HeldCall {
    const h = this.#holds.get(id);
    if (!h || h.binding !== binding || h.expires < Date.now()) throw new GatehouseError('E_INPUT_STATE', INVALID_STATE);
    return h;
  }

  release(h: HeldCall): void {
    this.#forget(h);
  }

  close(): void {
    clearInterval(this.#sweeper);
    for (const h of this.#holds.values()) {
      h.abandon();
      h.letGo();
    }
    this.#holds.clear();
    this.#perPrincipal.clear();
    this.#perTenant.clear();
  }

  #mac(replica: string, id: string, binding: string): string {
    return hmacSha256(this.#secret, `${replica}\n${id}\n${binding}`).toString('base64url');
  }

  #sweep(): void {
    const now = Date.now();
    for (const h of this.#holds.values()) {
      if (h.expires < now) {
        h.abandon();
        this.#forget(h);
      }
    }
  }
}
