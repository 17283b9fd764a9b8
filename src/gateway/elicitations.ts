/**
 * Where an upstream's `notifications/elicitation/complete` goes (2025-11-25: the out-of-band
 * interaction of a URL elicitation finished). It names the elicitation (`elicitationId`), not the
 * caller, and may come long after the call that asked (a -32042 error's sign-in, completed before
 * the retry), on the upstream's GET stream. So each upstream connection (one tenant's, or one
 * user's: src/credentials/upstreams.ts) remembers which legacy session the gateway asked each of its
 * URL elicitations of, and under which id (the upstream's, less what scrubbing removed), and tells
 * that session alone, with that id. An id the connection never had asked, asked of two sessions
 * (a server that reuses ids), forgotten, or already completed reaches nobody: a client must ignore
 * unknown ids anyway, and a wrong guess would tell one user of another's sign-in. A 2026-07-28
 * caller has no such notification (nor a session to hear it), so nothing is remembered for it.
 */
import type { LiveSession } from '../sessions/sessions.ts';
import type { JsonRpcNotification } from '../protocol/jsonrpc.ts';
import type { Upstream } from '../upstream/upstream.ts';

const COMPLETE = 'notifications/elicitation/complete';
/** How long a sign-in may take: past this a completion reaches nobody (the client retries by hand). */
const TTL_MS = 60 * 60_000;
/**
 * Elicitations remembered per connection for one principal (a tenant's user): past this, that
 * principal's oldest is forgotten, never another's. A connection is one tenant's (or one user's), and
 * a user who can make its upstream ask many URL elicitations must not push another user's pending
 * sign-in out of memory.
 */
const MAX_ASKED_PER_PRINCIPAL = 32;
/** Elicitations remembered per connection in all: the oldest are forgotten past this (128 principals' worth). */
const MAX_ASKED = 4096;

/** The asking call's own stream, while the call is in flight (`notify` is cleared when it ends). */
export interface AskingCall {
  notify: ((n: JsonRpcNotification) => void) | undefined;
}

interface Asked {
  session: LiveSession;
  /** The id as the caller was shown it. */
  shown: string;
  call: AskingCall;
  expires: number;
  /** Whose it counts as (tenant and principal of the session asked). */
  owner: string;
}

/** Two sessions were asked the same id: its completion reaches neither. */
interface Ambiguous {
  ambiguous: true;
  expires: number;
  owner: string;
}

const ownerOf = (session: LiveSession) => `${session.record.tenant}\n${session.record.principal}`;

export class ElicitationRoutes {
  /** In the order they were asked (a map keeps insertion order), oldest first. */
  readonly #asked = new Map<string, Asked | Ambiguous>();
  /** How many of #asked each owner holds. */
  readonly #held = new Map<string, number>();

  /** The upstream's URL elicitation `id` was asked of `session` (shown to it as `shown`) by `call`. */
  asked(id: string, session: LiveSession, shown: string, call: AskingCall): void {
    const now = Date.now();
    for (const [k, v] of this.#asked) {
      if (v.expires >= now) break;
      this.#forget(k, v); // expired, oldest first
    }
    const before = this.#asked.get(id);
    if (before) this.#forget(id, before);
    const owner = ownerOf(session);
    if ((this.#held.get(owner) ?? 0) >= MAX_ASKED_PER_PRINCIPAL) {
      for (const [k, v] of this.#asked) {
        if (v.owner !== owner) continue;
        this.#forget(k, v); // this principal's oldest
        break;
      }
    }
    if (this.#asked.size >= MAX_ASKED) {
      const [k, v] = this.#asked.entries().next().value as [string, Asked | Ambiguous];
      this.#forget(k, v);
    }
    const taken = before && before.expires >= now && ('ambiguous' in before || before.session !== session);
    const expires = now + TTL_MS;
    this.#asked.set(id, taken ? { ambiguous: true, expires, owner } : { session, shown, call, expires, owner });
    this.#held.set(owner, (this.#held.get(owner) ?? 0) + 1);
  }

  #forget(id: string, a: Asked | Ambiguous): void {
    this.#asked.delete(id);
    const left = (this.#held.get(a.owner) ?? 1) - 1;
    if (left > 0) this.#held.set(a.owner, left);
    else this.#held.delete(a.owner);
  }

  /** The upstream says `n`: a completion goes to the session asked, once; anything else is not ours. */
  complete(n: JsonRpcNotification): void {
    if (n.method !== COMPLETE) return;
    const id = n.params?.elicitationId;
    if (typeof id !== 'string') return;
    const a = this.#asked.get(id);
    if (!a) return;
    this.#forget(id, a);
    if ('ambiguous' in a || a.expires < Date.now()) return;
    // Nothing of the upstream's notification but the id the caller was shown.
    const out: JsonRpcNotification = { jsonrpc: '2.0', method: COMPLETE, params: { elicitationId: a.shown } };
    // The session's stream (the GET stream; stdout on stdio) outlives the call; without one, the
    // call's own stream while it is open; else the caller cannot be told and retries by hand.
    const stream = a.session.stream;
    if (stream && !stream.closed) stream.send(out);
    else a.call.notify?.(out);
  }
}

const routes = new WeakMap<Upstream, ElicitationRoutes>();

/**
 * The routes of one upstream connection, made when it first asks a URL elicitation: from then on it
 * hears its upstream's completions, on whichever stream they come (the peer gives them to the
 * connection, never to a call: src/protocol/upstream-methods.ts).
 */
export function elicitationRoutes(up: Upstream): ElicitationRoutes {
  let r = routes.get(up);
  if (!r) {
    const made = new ElicitationRoutes();
    up.on('event', (n) => made.complete(n));
    routes.set(up, made);
    r = made;
  }
  return r;
}
