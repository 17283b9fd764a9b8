/**
 * Answers to an upstream's questions, carried to the replica that asked. A question (sampling,
 * elicitation, roots) waits in the memory of the process whose call asked it: a legacy session's
 * question under its id, a modern caller's held call under its request state. Both name the replica
 * (`gh.<replica>.<random>`, `gh1.<replica>.<id>.<mac>`), so a replica that receives the answer sends
 * it over Redis to that replica's own channel, `<limits.redis.keyPrefix>replica:<replica>`.
 *
 * What is sent was authenticated first, and names its session or hold with the principal and tenant
 * that sent it: the replica that asked answers only a question of that session (its own map of
 * questions) or a hold of that owner, so a message naming another session's question does nothing.
 * Messages carry the answer (the caller's own data) and never a token, key or session id (a digest
 * of it names the session: the id is a bearer-like handle, and anyone subscribed reads the channel).
 *
 * Without Redis, or while it is away, nothing is sent: an answer for another replica is dropped and
 * a retry for another replica's hold is an invalid state, as before (docs/operations.md).
 */
import { randomBytes } from 'node:crypto';
import type { JsonObject, JsonRpcNotification, RequestId } from '../protocol/jsonrpc.ts';
import type { ServerRequestAnswer } from '../upstream/types.ts';
import { Fanout } from './fanout.ts';
import { StreamPlaces } from './stream-places.ts';

/** A replica's name: random per gateway process (per Gateway, so two in one test process differ). */
export function newReplicaId(): string {
  return randomBytes(8).toString('hex');
}

const REPLICA = /^[0-9a-f]{16}$/;

const isReplicaId = (v: unknown): v is string => typeof v === 'string' && REPLICA.test(v);

/** The id of a question a legacy session is asked: names the replica, unguessable. */
export function questionId(replica: string): string {
  return `gh.${replica}.${randomBytes(12).toString('base64url')}`;
}

/** The replica a legacy question's id names, if it is one of the gateway's. */
export function askedBy(id: RequestId): string | undefined {
  if (typeof id !== 'string') return undefined;
  const m = /^gh\.([0-9a-f]{16})\.[A-Za-z0-9_-]{16}$/.exec(id);
  return m?.[1];
}

/** A legacy client's answer, for the session's question on the replica that asked. */
export interface RelayedAnswer {
  kind: 'answer';
  /** The digest of the session's id (src/sessions/session-digest.ts): the id is the caller's handle and stays off Redis. */
  session: string;
  principal: string | null;
  tenant: string | null;
  scope: string;
  id: string;
  reply: ServerRequestAnswer;
}

/** A modern caller's retry of a call held on another replica (its request state checked here first). */
export interface RelayedRetry {
  kind: 'retry';
  /** Correlates the outcome with the caller waiting on the sending replica. */
  corr: string;
  /** The sending replica: where the outcome goes. */
  from: string;
  state: string;
  binding: string;
  principal: string;
  tenant: string;
  inputResponses?: JsonObject;
  capabilities: JsonObject;
  /** How long the holding replica may take before the sender stops waiting. */
  waitMs: number;
}

/** What a relayed retry came to: the call's next step for the caller, or the error it failed with. */
export type RetryOutcome =
  | { result: JsonObject }
  | { gatehouse: { code: string; message: string; data?: unknown } }
  | { rpc: { code: number; message: string; data?: unknown } };

export interface RelayedOutcome {
  kind: 'retried';
  corr: string;
  outcome: RetryOutcome;
}

/** The sender's caller left: the holding replica stops waiting for the call's next step. */
export interface RelayedCancel {
  kind: 'cancel';
  corr: string;
}

/**
 * A tasks/get, tasks/result or tasks/cancel for a task this replica's connection holds, passed by the
 * replica that received it (its pipeline ran): the holder opens the sealed handle again for this
 * principal, tenant, subject and endpoint, and asks its own connection of that tenant.
 */
export interface RelayedTask {
  kind: 'task';
  corr: string;
  from: string;
  /** The caller's sealed handle: the holder opens it again for the same caller. */
  handle: string;
  method: 'tasks/get' | 'tasks/result' | 'tasks/cancel';
  /** The request's params less the handle: `_meta` at most (the holder puts its upstream's id in). */
  params: JsonObject;
  principal: string;
  tenant: string;
  subject: string;
  scope: string;
  era: 'modern' | 'legacy';
  /** How long the request may take (its server's `timeouts.maxTotalMs`). */
  waitMs: number;
  /** The caller asked for progress (its own token stays on its replica). */
  progress?: boolean;
  /** The lowest log level the caller wants (none: as its era has it). */
  logLevel?: string;
}

/** What a relayed tasks/* request came to: the upstream's answer, or the error. */
export interface RelayedTaskOutcome {
  kind: 'tasked';
  corr: string;
  outcome: RetryOutcome;
}

/**
 * An upstream's notifications/tasks/status (or a task's notifications/progress), heard on the replica whose connection holds the task, for
 * the session that started it, whose GET stream is on the receiving replica: scrubbed already, naming
 * the caller's handle. Delivered only to a stream of that session, principal, tenant and endpoint
 * whose caller the handle opens for, held by the sending replica.
 */
export interface RelayedStatus {
  kind: 'status';
  from: string;
  /** The digest of the session's id, as in RelayedAnswer. */
  session: string;
  principal: string | null;
  tenant: string | null;
  scope: string;
  handle: string;
  /** A task's progress (said under the caller's own token: progress.mdx); none: its status. */
  method?: 'notifications/progress';
  /** The notification's params (a status's `taskId` is `handle`; a progress's token the caller's own). */
  params: JsonObject;
}

/** A progress or log message the holder's upstream said during a relayed tasks/* request, for its caller. */
export interface RelayedNote {
  kind: 'note';
  corr: string;
  note: JsonRpcNotification;
}

export type RelayMessage =
  | RelayedAnswer
  | RelayedRetry
  | RelayedOutcome
  | RelayedCancel
  | RelayedTask
  | RelayedTaskOutcome
  | RelayedNote
  | RelayedStatus;

export interface RelayHandlers {
  answer(m: RelayedAnswer): void;
  retry(m: RelayedRetry): void;
  retried(m: RelayedOutcome): void;
  /** The sender's caller left (a held call's retry or a task's request: by its correlation id). */
  cancel(m: RelayedCancel): void;
  task(m: RelayedTask): void;
  tasked(m: RelayedTaskOutcome): void;
  status(m: RelayedStatus): void;
  note(m: RelayedNote): void;
}

/** One replica's channel, and sending on the others'. */
export class ReplicaRelay {
  readonly id: string;
  readonly #bus: Fanout<RelayMessage>;
  readonly #prefix: string;
  /** Where each legacy session's GET stream is: a task's status goes there (src/gateway/task-status.ts). */
  readonly streams: StreamPlaces;

  constructor(
    redis: { url: string; keyPrefix?: string },
    id: string,
    handlers: RelayHandlers,
    maxMessage: () => number,
    onLive?: (live: boolean) => void,
  ) {
    this.id = id;
    this.#prefix = redis.keyPrefix ?? 'gatehouse:limits:';
    this.#bus = new Fanout<RelayMessage>({
      url: redis.url,
      channel: this.#channel(id),
      origin: id,
      maxMessage,
      onMessage: (m) => dispatch(m, handlers),
      onLive: (live) => {
        if (live) this.streams.renew(); // Redis may have lost the notes while away
        onLive?.(live);
      },
    });
    this.streams = new StreamPlaces(this.#bus, this.#prefix, id);
  }

  /** True while this replica hears its channel: only then is anything sent (an outcome could not come back). */
  get live(): boolean {
    return this.#bus.live;
  }

  /** Send to replica `to`; false when not live or Redis did not take it. */
  async send(to: string, m: RelayMessage): Promise<boolean> {
    if (!this.live || !isReplicaId(to)) return false;
    return this.#bus.publishTo(this.#channel(to), m);
  }

  /** The same, true only when replica `to` listens (a replica that stopped hears nothing: no use waiting). */
  async sendHeard(to: string, m: RelayMessage): Promise<boolean> {
    if (!this.live || !isReplicaId(to)) return false;
    return (await this.#bus.publishCount(this.#channel(to), m)) > 0;
  }

  close(): Promise<void> {
    this.streams.close();
    return this.#bus.close();
  }

  #channel(id: string): string {
    return `${this.#prefix}replica:${id}`;
  }
}

const isObject = (v: unknown): v is JsonObject => !!v && typeof v === 'object' && !Array.isArray(v);
const isName = (v: unknown): v is string | null => v === null || typeof v === 'string';

/** An answer as a client may give one: a result object, or an error with a numeric code and a message. */
function isReply(v: unknown): v is ServerRequestAnswer {
  if (!isObject(v)) return false;
  if ('result' in v) return isObject(v.result);
  return isObject(v.error) && typeof v.error.code === 'number' && typeof v.error.message === 'string';
}

/** A relayed answer of the right shape (what Redis carries is checked as any input). */
function isAnswer(m: RelayedAnswer): boolean {
  return (
    typeof m.session === 'string' &&
    typeof m.id === 'string' &&
    typeof m.scope === 'string' &&
    isName(m.principal) &&
    isName(m.tenant) &&
    isReply(m.reply)
  );
}

/** A relayed retry of the right shape. */
function isRetry(m: RelayedRetry): boolean {
  const strings = [m.corr, m.state, m.binding, m.principal, m.tenant].every((v) => typeof v === 'string');
  return (
    strings &&
    isReplicaId(m.from) &&
    (m.inputResponses === undefined || isObject(m.inputResponses)) &&
    isObject(m.capabilities) &&
    typeof m.waitMs === 'number' &&
    m.waitMs > 0
  );
}

const TASK_METHODS = new Set(['tasks/get', 'tasks/result', 'tasks/cancel']);

/** A relayed tasks/* request of the right shape. */
function isTask(m: RelayedTask): boolean {
  const strings = [m.corr, m.handle, m.principal, m.tenant, m.subject, m.scope].every((v) => typeof v === 'string');
  return (
    strings &&
    isReplicaId(m.from) &&
    TASK_METHODS.has(m.method) &&
    isObject(m.params) &&
    (m.era === 'modern' || m.era === 'legacy') &&
    typeof m.waitMs === 'number' &&
    m.waitMs > 0 &&
    (m.progress === undefined || typeof m.progress === 'boolean') &&
    (m.logLevel === undefined || typeof m.logLevel === 'string')
  );
}

const NOTES = new Set(['notifications/progress', 'notifications/message']);

/** A relayed progress or log message of the right shape. */
function isNote(m: RelayedNote): boolean {
  return typeof m.corr === 'string' && isObject(m.note) && NOTES.has(m.note.method) && isObject(m.note.params);
}

/** A relayed outcome of the right shape: a result object, or an error with a code and a message. */
function isOutcome(m: RelayedOutcome | RelayedTaskOutcome): boolean {
  const o = m.outcome as JsonObject;
  if (typeof m.corr !== 'string' || !isObject(o)) return false;
  if ('result' in o) return isObject(o.result);
  const e = (o.gatehouse ?? o.rpc) as JsonObject | undefined;
  return isObject(e) && typeof e.message === 'string' && (typeof e.code === 'string' || typeof e.code === 'number');
}

/** A relayed task status of the right shape: its params name the handle as their task. */
function isStatus(m: RelayedStatus): boolean {
  return (
    isReplicaId(m.from) &&
    [m.session, m.scope, m.handle].every((v) => typeof v === 'string') &&
    isName(m.principal) &&
    isName(m.tenant) &&
    isObject(m.params) &&
    (m.method === undefined
      ? m.params.taskId === m.handle && typeof m.params.status === 'string'
      : m.method === 'notifications/progress' &&
        (typeof m.params.progressToken === 'string' || typeof m.params.progressToken === 'number') &&
        typeof m.params.progress === 'number')
  );
}

function dispatch(m: RelayMessage, h: RelayHandlers): void {
  if (m.kind === 'answer' && isAnswer(m)) h.answer(m);
  else if (m.kind === 'retry' && isRetry(m)) h.retry(m);
  else if (m.kind === 'retried' && isOutcome(m)) h.retried(m);
  else if (m.kind === 'cancel' && typeof m.corr === 'string') h.cancel(m);
  else if (m.kind === 'task' && isTask(m)) h.task(m);
  else if (m.kind === 'tasked' && isOutcome(m)) h.tasked(m);
  else if (m.kind === 'status' && isStatus(m)) h.status(m);
  else if (m.kind === 'note' && isNote(m)) h.note(m);
}
