/**
 * THE table of what an upstream may say toward the gateway's callers: every method a server may send
 * (a request, which gets an answer, or a notification), where it is accepted (during a call, outside
 * any), who hears it there, and the stages it passes. The peer (src/upstream/peer.ts) looks each
 * message up before anything else: a request not in the table is answered -32601, a notification not
 * in it is dropped, both counted and logged (src/gateway/refused-methods.ts). The code that carries a
 * message on (src/gateway/forward.ts during a call, src/gateway/upstream-fleet.ts outside any) does
 * what its row's hearer says. The other direction, what callers send, is src/pipeline/index.ts.
 */

/**
 * Who hears a message, where it is accepted:
 * - `caller`: the caller whose call it is, on that call's stream (a request: asked of that caller);
 * - `owner`: the sessions of the connection's owner (its tenant, or its user) that asked for it;
 * - `subscribers`: the owner's sessions subscribed to the resource it names;
 * - `starter`: the session that started the task it names (a progress: whose call's token it carries), alone
 *   (src/gateway/task-status.ts);
 * - `asked`: the session the gateway asked the elicitation it names (src/gateway/elicitations.ts);
 * - `listing`: no caller: the gateway fetches the listing again (the catalogue, or the owner's own)
 *   and tells callers of a change itself;
 * - `gateway`: no caller: the gateway answers or takes it itself.
 */
export type Hearer = 'caller' | 'owner' | 'subscribers' | 'starter' | 'asked' | 'listing' | 'gateway';

/** What is done to a message on its way, by the code named. */
export const FROM_UPSTREAM_STAGES = {
  route: "to its hearer only, never past the connection's owner (tenant or user) nor to another call",
  scrub: "every tenant's injected secret values removed (src/credentials/scrub.ts)",
  redact: 'under `secrets.results: redact`, well-known secret formats removed as from a result (redact-result.ts)',
  'task-ids':
    "where it names a task the caller holds, the upstream's id replaced by the caller's handle (src/gateway/task-ids.ts)",
  token: "the gateway's progress token swapped back for the caller's own (forward.ts; a task's: task-status.ts)",
  level: 'only to callers that asked for its level (logging/setLevel; a modern call: its own level)',
  capability: 'asked only of a caller that declared the capability; otherwise refused -32601 (forward.ts)',
  answer: "the caller's answer checked as its arguments are (inspectAnswers) before it goes upstream",
  release: "a task's end frees the concurrency slots it holds (src/pipeline/task-leases.ts)",
  refresh: "the listing it names is fetched again: the catalogue's, or the owner's own connection's",
} as const;

export type FromUpstreamStage = keyof typeof FROM_UPSTREAM_STAGES;

export interface FromUpstreamRow {
  /** Who hears it when said during a call (on the call's stream, or naming the call); undefined: dropped there. */
  inCall?: Hearer;
  /** Who hears it when said outside any call; undefined: not accepted there (a request is refused, -32603). */
  outside?: Hearer;
  /** The client capability a caller must have declared to be asked it (requests only). */
  capability?: string;
  stages: readonly FromUpstreamStage[];
  /** What it is and why it is accepted. */
  why: string;
}

/** Requests an upstream may send (server -> client). */
export const UPSTREAM_REQUESTS: Readonly<Record<string, FromUpstreamRow>> = {
  ping: {
    inCall: 'gateway',
    outside: 'gateway',
    stages: [],
    why: 'the gateway answers for itself, an empty result; no caller is asked',
  },
  'sampling/createMessage': {
    inCall: 'caller',
    capability: 'sampling',
    stages: ['route', 'capability', 'scrub', 'redact', 'answer'],
    why: 'a question of the call that caused it; outside any call no caller can be blamed for it',
  },
  'elicitation/create': {
    inCall: 'caller',
    capability: 'elicitation',
    stages: ['route', 'capability', 'scrub', 'redact', 'answer'],
    why: "a question of the call that caused it (a URL elicitation's link loses secret values, keeps formats)",
  },
  'roots/list': {
    inCall: 'caller',
    capability: 'roots',
    stages: ['route', 'capability', 'scrub', 'redact', 'answer'],
    why: "the calling caller's roots, never another's; refused where the server is configured `roots: false`",
  },
};

/** Notifications an upstream may send (server -> client). */
export const UPSTREAM_NOTIFICATIONS: Readonly<Record<string, FromUpstreamRow>> = {
  'notifications/progress': {
    inCall: 'caller',
    outside: 'starter',
    stages: ['route', 'token', 'scrub', 'redact', 'task-ids'],
    why: "the progress of the call whose token it carries; after a task-augmented call's CreateTaskResult, of the task, to its starter while the task runs (progress.mdx); a token no call gave is nobody's",
  },
  'notifications/message': {
    inCall: 'caller',
    outside: 'owner',
    stages: ['route', 'level', 'scrub', 'redact', 'task-ids'],
    why: 'a log message: of the call on whose stream it came (on stdio: of the only call in flight), else of the connection',
  },
  'notifications/tasks/status': {
    inCall: 'starter',
    outside: 'starter',
    stages: ['release', 'route', 'scrub', 'redact', 'task-ids'],
    why: 'concerns the task, not the request on whose stream it came',
  },
  'notifications/resources/updated': {
    inCall: 'subscribers',
    outside: 'subscribers',
    stages: ['route', 'scrub'],
    why: 'a subscribed resource changed; the caller hears only the URI it subscribed with',
  },
  'notifications/tools/list_changed': listChanged('tools'),
  'notifications/prompts/list_changed': listChanged('prompts'),
  'notifications/resources/list_changed': listChanged('resources and templates'),
  'notifications/elicitation/complete': {
    inCall: 'asked',
    outside: 'asked',
    stages: ['route'],
    why: 'a URL elicitation finished: only the id the session asked was shown reaches it, nothing else of the upstream',
  },
  'notifications/cancelled': {
    inCall: 'gateway',
    outside: 'gateway',
    stages: [],
    why: "the server withdrew a question: the caller's answer, when it comes, is not waited for",
  },
  'notifications/subscriptions/acknowledged': {
    inCall: 'gateway',
    stages: [],
    why: "a 2026-07-28 server's acknowledgement on the gateway's own subscriptions/listen stream",
  },
};

function listChanged(what: string): FromUpstreamRow {
  return {
    inCall: 'listing',
    outside: 'listing',
    stages: ['refresh'],
    why: `its ${what} changed: the gateway lists them again and tells callers of what changed, in its own words`,
  };
}

/** The row of request `method`, or undefined: refused (own rows only: `constructor` is no method). */
export function upstreamRequest(method: string): FromUpstreamRow | undefined {
  return Object.hasOwn(UPSTREAM_REQUESTS, method) ? UPSTREAM_REQUESTS[method] : undefined;
}

/** The row of notification `method`, or undefined: dropped. */
export function upstreamNotification(method: string): FromUpstreamRow | undefined {
  return Object.hasOwn(UPSTREAM_NOTIFICATIONS, method) ? UPSTREAM_NOTIFICATIONS[method] : undefined;
}

/**
 * Who hears notification `row`, said during a call (`inCall`) or not: `caller` only in a call;
 * undefined when nobody does (the gateway takes it, or it is not accepted there).
 */
export function hearerOf(row: FromUpstreamRow, inCall: boolean): Exclude<Hearer, 'gateway'> | undefined {
  const h = inCall ? row.inCall : row.outside;
  return h === 'gateway' ? undefined : h;
}
