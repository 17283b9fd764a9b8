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
 */
import { isTerminal, taskKey } from '../limits/task-lease.ts';
import type { JsonRpcNotification } from '../protocol/jsonrpc.ts';
import type { RelayedStatus } from '../sessions/replica-relay.ts';
import type { LiveSession } from '../sessions/sessions.ts';
import { replaceTaskId } from './task-ids.ts';
import type { TaskOwner, TaskOwners } from './task-owners.ts';
import type { TaskHandles } from './tasks.ts';

const STATUS = 'notifications/tasks/status';

/** `n` (scrubbed) said on the connection of `owner` to `server`, to the session that started its task. */
export function relayTaskStatus(
  sessions: Iterable<LiveSession>,
  owners: TaskOwners,
  server: string,
  owner: string,
  n: JsonRpcNotification,
): void {
  const id = n.params?.taskId;
  if (typeof id !== 'string') return;
  const key = taskKey(server, owner, id);
  const who = owners.find(key);
  if (!who) {
    owners.park(key, owner, n); // its CreateTaskResult may be on its way
    return;
  }
  const here = [...sessions].filter((s) => s.id === who.session);
  tellOwner(here.find((s) => s.record.principal === who.principal) ?? here[0], who, owners, key, n);
}

/**
 * A status of the task `key`, under its handle, to the session that started it: on its stream if it
 * is here (`s`, this process's copy of it, if any), else to the replica holding its stream. An end
 * forgets the task.
 */
export function tellOwner(
  s: LiveSession | undefined,
  who: TaskOwner,
  owners: TaskOwners,
  key: string,
  n: JsonRpcNotification,
): void {
  const id = n.params?.taskId;
  if (typeof id !== 'string' || !n.params || n.method !== STATUS) return;
  if (isTerminal(n.params.status)) owners.forget(key);
  const params = replaceTaskId(n.params, id, who.handle);
  if (s && (s.id !== who.session || s.record.principal !== who.principal)) return;
  if (s?.stream && !s.stream.closed) {
    if (s.streamOwner && owners.hears(s.streamOwner, who.server, who.tool))
      s.stream.send({ jsonrpc: '2.0', method: STATUS, params });
  } else owners.away(who, params); // the replica holding the stream asks the same of its caller
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
  s.stream.send({ jsonrpc: '2.0', method: STATUS, params: m.params });
}
