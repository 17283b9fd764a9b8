/**
 * Task handles. An upstream's task id is only meaningful on the connection (tenant) that started it,
 * and only its starter may read, await or cancel it. So the caller never sees the raw id: it gets a
 * handle sealed with a key every replica shares (the store's `task-handles` key), naming the server,
 * the tool (so modes and visibility apply again on every later request), the upstream's id, a digest
 * of the principal (its key, tenant and subject) and endpoint, and the replica whose connection holds
 * the task (a connection lives in one process: another replica relays the request there,
 * src/gateway/task-relay.ts). A handle presented by anyone else, altered, or from another endpoint
 * is an unknown task.
 *
 * Handles made before they named the replica (`gh1.`) still open, as before: for this replica's own
 * connection, since they cannot say another's.
 */
import { createHash } from 'node:crypto';
import { hmacSha256, sameBytes } from '../util/hmac.ts';
import { GatehouseError } from '../protocol/errors.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type { Principal } from '../identity/principal.ts';
import { newReplicaId } from '../sessions/replica-relay.ts';

export interface TaskTarget {
  server: string;
  /** The caller-facing tool name the task came from. */
  tool: string;
  /** The upstream's own task id. */
  taskId: string;
}

/** An opened handle: its task, and the replica whose connection holds it (none in a `gh1.` handle). */
export interface OpenedTask extends TaskTarget {
  replica?: string;
}

/** Whom a handle is sealed for: the principal (its key names issuer, subject and tenant; tenant and subject again). */
export type TaskCaller = Pick<Principal, 'key' | 'tenant' | 'subject'>;

/** A tasks/* request for a task another replica holds, as the pipeline passed it here (task-relay.ts). */
export interface ElsewhereTask {
  /** The caller's sealed handle: the holder opens it again for the same caller. */
  handle: string;
  method: string;
  /** The request's params less the handle (the holder puts its upstream's id in). */
  params: JsonObject;
  principal: string;
  tenant: string;
  subject: string;
  scope: string;
  era: 'modern' | 'legacy';
  /** How long the request may take (its server's `timeouts.maxTotalMs`). */
  waitMs: number;
}

const MAX_HANDLE = 2048;

/** Said when no replica relay carries the request (no Redis, or Redis away). */
export const HELD_ELSEWHERE =
  'this task is held by another gateway replica; it can be followed from there only while the replicas cannot reach each other (no Redis, or Redis away): retry later, or send tasks/* for it to the replica that started it';

export class TaskHandles {
  readonly #key: Buffer;
  /** This replica: named in the handles of tasks its connections hold. */
  readonly replica: string;
  /** Relays a request to the replica holding its task (set when the replica relay runs: gateway/replicas.ts). */
  elsewhere: (to: string, r: ElsewhereTask, signal: AbortSignal) => Promise<JsonObject> = async () => {
    throw new GatehouseError('E_TASK_ELSEWHERE', HELD_ELSEWHERE);
  };

  constructor(key: Buffer, replica = newReplicaId()) {
    this.#key = key;
    this.replica = replica;
  }

  #mac(body: string): string {
    return hmacSha256(this.#key, body).toString('base64url');
  }

  static #who(parts: unknown[]): string {
    return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 22);
  }

  seal(t: TaskTarget, caller: TaskCaller, scope: string, replica = this.replica): string {
    const who = TaskHandles.#who([caller.key, caller.tenant, caller.subject, scope]);
    const body = Buffer.from(JSON.stringify([t.server, t.tool, t.taskId, who, replica])).toString('base64url');
    return `gh2.${body}.${this.#mac(`gh2.${body}`)}`;
  }

  open(handle: string, caller: TaskCaller, scope: string): OpenedTask | undefined {
    if (handle.length > MAX_HANDLE) return undefined;
    const [v, body, mac, ...rest] = handle.split('.');
    if (rest.length || !body || !mac) return undefined;
    if (v === 'gh2') return this.#open2(body, mac, caller, scope);
    // Before handles named the replica: the MAC over the body alone, the principal's key and endpoint.
    if (v !== 'gh1' || !sameBytes(this.#mac(body), mac)) return undefined;
    const [server, tool, taskId, who] = parse(body) ?? [];
    if (who !== TaskHandles.#who([caller.key, scope])) return undefined;
    return { server, tool, taskId };
  }

  #open2(body: string, mac: string, caller: TaskCaller, scope: string): OpenedTask | undefined {
    if (!sameBytes(this.#mac(`gh2.${body}`), mac)) return undefined;
    const [server, tool, taskId, who, replica] = parse(body) ?? [];
    if (!replica || who !== TaskHandles.#who([caller.key, caller.tenant, caller.subject, scope])) return undefined;
    return { server, tool, taskId, replica };
  }

  /** A result that carries a task handle, with the handle sealed for this caller (held by `at.replica`, else here). */
  wrap(
    r: JsonObject,
    at: Omit<TaskTarget, 'taskId'> & { replica?: string },
    caller: TaskCaller,
    scope: string,
  ): JsonObject {
    const seal = (taskId: string) =>
      this.seal({ server: at.server, tool: at.tool, taskId }, caller, scope, at.replica ?? this.replica);
    const task = r.task as JsonObject | undefined;
    if (task && typeof task.taskId === 'string') return { ...r, task: { ...task, taskId: seal(task.taskId) } };
    if (typeof r.taskId === 'string') return { ...r, taskId: seal(r.taskId) };
    return r;
  }
}

/** A handle's body: five strings at most (four in `gh1.`), or nothing. */
function parse(body: string): string[] | undefined {
  try {
    const v = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as unknown;
    return Array.isArray(v) && v.length <= 5 && v.every((x) => typeof x === 'string') ? v : undefined;
  } catch {
    return undefined;
  }
}
