/**
 * A task keeps the concurrency slots of the tools/call that created it for its life, not only while
 * the call is in flight (else a caller asking for a task would start any number of runs of a capped
 * tool at once). The call's lease is kept when its answer is a CreateTaskResult, for the task's ttl
 * (bounded: src/limits/task-lease.ts; never shorter than the server's `timeouts.maxTotalMs`, whatever
 * ttl the caller asked), and given back when a tasks/* answer shows the task ended. An
 * upstream's notifications/tasks/status ends it too (src/gateway/upstream-fleet.ts). The lease is
 * named by the upstream task on its connection, so any replica that sees the end gives it back.
 */
import { connectionOwner } from '../credentials/broker.ts';
import { isTerminal, taskKey, taskLeaseMs } from '../limits/task-lease.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type { CallState, PipelineDeps } from './types.ts';
import { connectionOf, routeOf, serverConfigOf, upstreamOf } from './stages/needs.ts';

/** The key of the task a request names (tasks/*: the upstream's id from the sealed handle). */
export function taskOf(s: CallState, deps: PipelineDeps, upstreamTaskId = upstreamOf(s).taskId): string {
  return taskKey(routeOf(s).server, ownerOf(s, deps), String(upstreamTaskId));
}

/** Whose connection to its server the request goes on (a tenant, or tenant/user: src/credentials/broker.ts). */
export function ownerOf(s: CallState, deps: PipelineDeps): string {
  const p = s.ctx.principal;
  return connectionOwner(serverConfigOf(deps.credentials, routeOf(s).server), p.tenant, p.subject);
}

/** Whether a tasks/* answer says the task runs no more (tasks/result answers once it has ended). */
function ended(method: string, result: JsonObject): boolean {
  return method === 'tasks/result' || isTerminal(result.status);
}

/** After the upstream answered: keep the call's slots for the task it created, or give back an ended task's. */
export async function followTask(s: CallState, deps: PipelineDeps, result: JsonObject): Promise<void> {
  if (s.method === 'tools/call') {
    // Where TaskHandles.wrap finds a task to seal (src/gateway/tasks.ts): `task`, or the result itself.
    const task = (result.task as JsonObject | undefined) ?? (typeof result.taskId === 'string' ? result : undefined);
    // Created already ended (or no task): the call's slots go back when the request ends, as any call's.
    if (!s.lease || !task || typeof task.taskId !== 'string' || isTerminal(task.status)) return;
    // The ttl is the caller's (the upstream echoes it): at least as long as the call could run in flight.
    const floor = connectionOf(s).cfg.timeouts.maxTotalMs;
    await s.lease.holdForTask(taskOf(s, deps, task.taskId), taskLeaseMs(task.ttl, floor));
  } else if (s.method.startsWith('tasks/') && ended(s.method, result)) {
    // The limiter in force now: a reload since the request began may have replaced it.
    await (deps.current?.() ?? deps).limiter?.endTask(taskOf(s, deps));
  }
}
