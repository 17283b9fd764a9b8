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
/** Elicitations remembered per connection; the oldest are forgotten past this. */
const MAX_ASKED = 256;

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
}

/** Two sessions were asked the same id: its completion reaches neither. */
interface Ambiguous {
  ambiguous: true;
  expires: number;
}

export class ElicitationRoutes {
  readonly #asked = new Map<string, Asked | Ambiguous>();

  /** The upstream's URL elicitation `id` was asked of `session` (shown to it as `shown`) by `call`. */
  asked(id: string, session: LiveSession, shown: string, call: AskingCall): void {
    const now = Date.now();
    for (const [k, v] of this.#asked) {
      if (v.expires >= now && this.#asked.size < MAX_ASKED) break;
      this.#asked.delete(k); // oldest first: the map keeps the order they were asked in
    }
    const before = this.#asked.get(id);
    this.#asked.delete(id);
    const taken = before && before.expires >= now && ('ambiguous' in before || before.session !== session);
    const expires = now + TTL_MS;
    this.#asked.set(id, taken ? { ambiguous: true, expires } : { session, shown, call, expires });
  }

  /** The upstream says `n`: a completion goes to the session asked, once; anything else is not ours. */
  complete(n: JsonRpcNotification): void {
    if (n.method !== COMPLETE) return;
    const id = n.params?.elicitationId;
    if (typeof id !== 'string') return;
    const a = this.#asked.get(id);
    if (!a) return;
    this.#asked.delete(id);
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
 * hears its upstream's own notifications (those the peer could not give to a call in flight).
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

/** A notification said on a call's stream (forward.ts): a completion of what `up` asked goes where it belongs. */
export function completedOn(up: Upstream, n: JsonRpcNotification): void {
  routes.get(up)?.complete(n);
}
