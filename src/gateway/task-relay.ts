/**
 * A task's tasks/get, tasks/result or tasks/cancel that reaches another replica than the one whose
 * upstream connection holds the task (a stdio process, an HTTP upstream session: one process's). The
 * handle names the holder (tasks.ts). The replica the request reached runs the whole pipeline
 * (authentication, the handle's binding, policy, limits, audit) and, at execute, sends the request to
 * the holder's channel with a correlation id instead of asking its own connection. The holder opens
 * the handle again for the principal, tenant, subject and endpoint the message names (a message
 * naming another caller opens nothing), asks its own connection of that tenant, and sends back the
 * answer or the error, no larger than gateway.maxBodyBytes. The sender's result stages (scrub,
 * redaction, audit, the task's slots) then treat it as a local answer.
 *
 * Bounded: the holder asks as a local request would (the server's request timeouts), and the sender
 * waits the server's `timeouts.maxTotalMs` and a little more; a caller that leaves aborts the request
 * on the holder. A holder that no longer listens (stopped) is known at once.
 */
import { GatehouseError } from '../protocol/errors.ts';
import type { JsonObject, JsonRpcNotification } from '../protocol/jsonrpc.ts';
import type { Principal } from '../identity/principal.ts';
import type {
  RelayedCancel,
  RelayedNote,
  RelayedTask,
  RelayedTaskOutcome,
  ReplicaRelay,
} from '../sessions/replica-relay.ts';
import type { Upstream } from '../upstream/upstream.ts';
import type { RequestContext } from './context.ts';
import { forward } from './forward.ts';
import { type Holds, holdOwner } from './holds.ts';
import { RelayCalls } from './relay-calls.ts';
import { type ElsewhereTask, HELD_ELSEWHERE, type TaskHandles } from './tasks.ts';

/** What the holder needs of its replica. */
export interface TaskHolder {
  /** The task handles in force (their key is the store's, shared). */
  handles(): TaskHandles;
  /** This replica's live connection of this owner to `server`, if it has one: a task lives in it. */
  connection(server: string, tenant: string, subject: string): Upstream | undefined;
  holds: Holds;
}

const UNKNOWN = 'unknown task';

export class TaskRelay {
  readonly #relay: Pick<ReplicaRelay, 'live'>;
  readonly #calls: RelayCalls;
  readonly #holder: TaskHolder;

  constructor(
    relay: Pick<ReplicaRelay, 'id' | 'live' | 'send' | 'sendHeard'>,
    holder: TaskHolder,
    maxBytes: () => number,
  ) {
    this.#relay = relay;
    this.#calls = new RelayCalls(relay, maxBytes);
    this.#holder = holder;
  }

  /** Send a tasks/* request to the replica holding its task and wait for the answer. */
  async send(
    to: string,
    r: ElsewhereTask,
    signal: AbortSignal,
    onNote?: (n: JsonRpcNotification) => void,
  ): Promise<JsonObject> {
    if (!this.#relay.live) throw new GatehouseError('E_TASK_ELSEWHERE', HELD_ELSEWHERE);
    const task = (corr: string, from: string): RelayedTask => ({
      kind: 'task',
      corr,
      from,
      ...r,
      method: r.method as RelayedTask['method'],
    });
    return this.#calls.call(to, task, {
      waitMs: r.waitMs,
      signal,
      heard: true,
      onNote,
      unsent: () =>
        new GatehouseError(
          'E_TASK_ELSEWHERE',
          'this task is held by another gateway replica, which does not answer (stopped or restarted): its task ended with it',
        ),
      late: (s) => `no answer in ${s} s from the gateway replica holding this task (it may have stopped)`,
    });
  }

  /** An answer for a caller here. */
  answered(m: RelayedTaskOutcome): void {
    this.#calls.settle(m.corr, m.outcome);
  }

  /** A progress or log message for a caller here, said during its request on the holder. */
  note(m: RelayedNote): void {
    this.#calls.note(m);
  }

  /** Another replica's caller left: its request here is aborted (no-op for a correlation id not served here). */
  cancel(m: RelayedCancel): void {
    this.#calls.cancel(m);
  }

  /** A request for a task held here, from another replica: asked, and its answer sent back. */
  async serve(m: RelayedTask): Promise<void> {
    const late = `upstream timed out after ${m.waitMs} ms (on the gateway replica holding the task)`;
    const back = (corr: string, outcome: RelayedTaskOutcome['outcome']): RelayedTaskOutcome => ({
      kind: 'tasked',
      corr,
      outcome,
    });
    return this.#calls.serve(m, m.waitMs, (signal, note) => this.#ask(m, signal, note), late, back);
  }

  /** The binding again: the handle opens only for the principal, tenant, subject and endpoint it was sealed for. */
  #ask(m: RelayedTask, signal: AbortSignal, note: (n: JsonRpcNotification) => void): Promise<JsonObject> {
    const caller = { key: m.principal, tenant: m.tenant, subject: m.subject };
    const t = this.#holder.handles().open(m.handle, caller, m.scope);
    if (!t || t.replica !== this.#calls.id) throw new GatehouseError('E_UNKNOWN_TASK', UNKNOWN);
    const up = this.#holder.connection(t.server, m.tenant, m.subject);
    if (!up)
      throw new GatehouseError(
        'E_UNKNOWN_TASK',
        'unknown task: the upstream connection that held it on its gateway replica has ended',
      );
    const meta = m.params._meta;
    const params = { taskId: t.taskId, ...(meta && typeof meta === 'object' ? { _meta: meta } : {}) };
    // Owned by the caller as a local request is (a modern caller's request is held: its tenant's caps count it).
    const owner = { principal: m.principal, tenant: m.tenant };
    return holdOwner.run(owner, () =>
      forward(up, relayedContext(m, signal, note), m.method, params, this.#holder.holds),
    );
  }

  close(): void {
    this.#calls.close();
  }
}

/**
 * The request as the holder's connection is asked it: the caller's principal key and tenant (its
 * breaker, a held call's binding), its era (the answer's shape), its progress and log messages sent
 * back as `note` (unscrubbed: the caller's replica scrubs them, and puts the caller's own progress
 * token in), and no questions (a tasks/* request asks none: forward.ts).
 */
function relayedContext(m: RelayedTask, signal: AbortSignal, note: (n: JsonRpcNotification) => void): RequestContext {
  const principal: Principal = {
    subject: m.subject,
    tenant: m.tenant,
    key: m.principal,
    client: '',
    roles: [],
    scopes: [],
    authenticated: true,
    via: 'anonymous',
    issuer: '',
  };
  return {
    era: m.era,
    protocolVersion: m.era === 'modern' ? '2026-07-28' : '2025-11-25',
    scope: m.scope,
    requestId: m.corr,
    traceId: m.corr,
    principal,
    clientCapabilities: {},
    clientInfo: {},
    outlet: { notify: note },
    signal,
    ...(m.progress ? { progressToken: m.corr } : {}),
    ...(m.logLevel !== undefined ? { logLevel: m.logLevel } : {}),
  };
}
