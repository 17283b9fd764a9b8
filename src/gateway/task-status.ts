/**
 * The upstream's notifications/tasks/status, to the caller whose task it is: the session that
 * started it (src/gateway/task-owners.ts), on its stream, with the caller's handle for the upstream's
 * task id. Never to another session, principal or tenant: a status whose task is not known here is
 * kept a moment for its CreateTaskResult, then told to nobody (its end still frees the task's slots:
 * src/gateway/upstream-fleet.ts). A session whose GET stream is on another replica (a load balancer
 * without affinity) hears it from there: the status, scrubbed here and naming the handle, crosses the
 * replica relay, and that replica gives it only to that session's stream, whose caller the handle
 * opens for (`statusArrived`). Either way only while that caller may still use the task's tool under
 * the policy, modes and revocations in force when the status comes (`TaskOwners.hears`): a caller
 * whose tenant was switched off, or whom a reload denied the tool, after the task started hears nothing.
 *
 * The task's progress goes the same way (spec 2025-11-25, basic/utilities/progress: a task-augmented
 * request's progress token "MUST continue to be used ... even after the CreateTaskResult has been
 * returned"): progress said outside any call under a token the gateway gave a task's call on this
 * connection (src/gateway/task-owners.ts `byProgress`) reaches the session that started the task, under
 * the caller's own token, scrubbed and naming the handle, on the same conditions. A token no task's
 * call was given on this connection (another owner's, another server's, one made up) is nobody's.
 */
import { isTerminal, taskKey } from '../limits/task-lease.ts';
import type { JsonObject, JsonRpcNotification } from '../protocol/jsonrpc.ts';
import type { RelayedStatus } from '../sessions/replica-relay.ts';
import type { LiveSession } from '../sessions/sessions.ts';
import { replaceTaskId } from './task-ids.ts';
import { progressKey, type TaskNotice, type TaskOwner, type TaskOwners } from './task-owners.ts';
import type { TaskHandles } from './tasks.ts';

const STATUS = 'notifications/tasks/status';
const PROGRESS = 'notifications/progress';

/** `n` (a status or progress, scrubbed) said on the connection of `owner` to `server`, to the session that started its task. */
export function relayTaskStatus(
  sessions: Iterable<LiveSession>,
  owners: TaskOwners,
  server: string,
  owner: string,
  n: JsonRpcNotification,
): void {
  const found = n.method === PROGRESS ? progressOf(owners, server, owner, n) : statusOf(owners, server, owner, n);
  if (!found) return;
  const { key, who } = found;
  const here = [...sessions].filter((s) => s.id === who.session);
  tellOwner(here.find((s) => s.record.principal === who.principal) ?? here[0], who, owners, key, n);
}

/** The task status `n` names and who started it; unknown: kept a moment (its CreateTaskResult may be on its way). */
function statusOf(owners: TaskOwners, server: string, owner: string, n: JsonRpcNotification) {
  const id = n.params?.taskId;
  if (typeof id !== 'string' || n.method !== STATUS) return undefined;
  const key = taskKey(server, owner, id);
  const who = owners.find(key);
  if (!who) owners.park(key, owner, n);
  return who && { key, who };
}

/** The task whose progress token `n` carries and who started it; unknown: kept a moment, as a status. */
function progressOf(owners: TaskOwners, server: string, owner: string, n: JsonRpcNotification) {
  const token = n.params?.progressToken;
  if (typeof token !== 'string') return undefined; // the gateway's tokens are strings
  const pk = progressKey(server, owner, token);
  const found = owners.byProgress(pk);
  if (!found) owners.park(pk, owner, n);
  return found && { key: found.task, who: found.who };
}

/**
 * A status (or progress) of the task `key`, under its handle (and the caller's own progress token), to
 * the session that started it: on its stream if it is here (`s`, this process's copy of it, if any),
 * else to the replica holding its stream. An end forgets the task.
 */
export function tellOwner(
  s: LiveSession | undefined,
  who: TaskOwner,
  owners: TaskOwners,
  key: string,
  n: JsonRpcNotification,
): void {
  const told = toldParams(who, n);
  if (!told) return;
  const { method, params } = told;
  if (method === STATUS && isTerminal(params.status)) owners.forget(key);
  if (s && (s.id !== who.session || s.record.principal !== who.principal)) return;
  if (s?.stream && !s.stream.closed) {
    if (s.streamOwner && owners.hears(s.streamOwner, who.server, who.tool))
      s.stream.send({ jsonrpc: '2.0', method, params });
  } else owners.away(who, params, method); // the replica holding the stream asks the same of its caller
}

/** `n` as its caller is told it: the handle for the upstream's task id, a progress under the caller's own token. */
function toldParams(who: TaskOwner, n: JsonRpcNotification): { method: TaskNotice; params: JsonObject } | undefined {
  if (!n.params) return undefined;
  if (n.method === STATUS && typeof n.params.taskId === 'string')
    return { method: STATUS, params: replaceTaskId(n.params, n.params.taskId, who.handle) };
  if (n.method !== PROGRESS || !who.progress) return undefined;
  // The caller's own token goes back as it sent it: set after scrubbing, never altered by it (forward.ts).
  const params = replaceTaskId(n.params, who.progress.taskId, who.handle);
  return { method: PROGRESS, params: { ...params, progressToken: who.progress.caller } };
}

/**
 * A status another replica's connection heard, for session `s` (this process's copy of the session the
 * message names): to its stream only when the session is that principal's, tenant's and endpoint's,
 * the handle opens for the stream's caller and names the sending replica as its holder, and that
 * caller may still use the task's tool here, now.
 */
export function statusArrived(
  s: LiveSession | undefined,
  handles: Pick<TaskHandles, 'open' | 'owners'>,
  m: RelayedStatus,
): void {
  if (!s?.stream || s.stream.closed || !s.streamOwner) return;
  const r = s.record;
  if (r.principal !== m.principal || (r.tenant ?? null) !== m.tenant || r.scope !== m.scope) return;
  const task = handles.open(m.handle, s.streamOwner, r.scope);
  if (!task || task.replica !== m.from) return;
  if (!handles.owners.hears(s.streamOwner, task.server, task.tool)) return;
  s.stream.send({ jsonrpc: '2.0', method: m.method ?? STATUS, params: m.params });
}
