/**
 * The upstream's notifications/tasks/status, to the caller whose task it is: the session that
 * started it (src/gateway/task-owners.ts), on its stream, with the caller's handle for the upstream's
 * task id. Never to another session, principal or tenant: a status whose task is not known here is
 * kept a moment for its CreateTaskResult, then told to nobody (its end still frees the task's slots:
 * src/gateway/upstream-fleet.ts).
 */
import { isTerminal, taskKey } from '../limits/task-lease.ts';
import type { JsonRpcNotification } from '../protocol/jsonrpc.ts';
import type { LiveSession } from '../sessions/sessions.ts';
import { replaceTaskId } from './task-ids.ts';
import type { TaskOwner, TaskOwners } from './task-owners.ts';

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
    owners.park(key, n); // its CreateTaskResult may be on its way
    return;
  }
  for (const s of sessions) if (s.id === who.session) tellOwner(s, who, owners, key, n);
}

/** A status of the task `key`, to session `s` if it is the one that started it, under its handle; an end forgets the task. */
export function tellOwner(
  s: LiveSession,
  who: TaskOwner,
  owners: TaskOwners,
  key: string,
  n: JsonRpcNotification,
): void {
  const id = n.params?.taskId;
  if (typeof id !== 'string' || !n.params) return;
  if (isTerminal(n.params.status)) owners.forget(key);
  if (s.id === who.session && s.record.principal === who.principal && s.stream && !s.stream.closed)
    s.stream.send({ jsonrpc: '2.0', method: n.method, params: replaceTaskId(n.params, id, who.handle) });
}
