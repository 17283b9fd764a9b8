/**
 * execute, for what an upstream says about a task: the caller sees its handle where the upstream
 * says its own task id (src/gateway/task-ids.ts) — in a result, an error, a progress or log message
 * on the way — and a 2025-11-25 caller's tasks/result carries the related-task `_meta` the protocol
 * requires. A task created by a caller's session is remembered as that session's, so the upstream's
 * status notifications reach it (src/gateway/task-owners.ts), and so does its progress when the call
 * asked for progress (under the caller's own token, for the task's lifetime).
 */
import type { Scrubs } from '../gateway/forward.ts';
import { RELATED_TASK, replaceTaskId } from '../gateway/task-ids.ts';
import { progressKey } from '../gateway/task-owners.ts';
import { tellOwner } from '../gateway/task-status.ts';
import type { KnownTask } from '../gateway/tasks.ts';
import { isTerminal, taskLeaseMs } from '../limits/task-lease.ts';
import { UpstreamRpcError } from '../protocol/errors.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import { routeOf, upstreamOf } from './stages/needs.ts';
import { ownerOf, taskOf } from './task-leases.ts';
import type { CallState, PipelineDeps } from './types.ts';

/** The task a tasks/* request names: the upstream's id (from the handle it sent) and that handle. */
export function namedTask(s: CallState): KnownTask | undefined {
  if (!s.method.startsWith('tasks/')) return undefined;
  const taskId = upstreamOf(s).taskId;
  return typeof taskId === 'string' ? { taskId, handle: s.requested } : undefined;
}

/**
 * What the upstream says on the way (progress and log messages, questions), scrubbed, naming the
 * caller's handle for a task: a tasks/* request's task, or (a tools/call) the task its related-task
 * `_meta` names, sealed as the call's answer will seal it.
 */
export function taskScrubs(s: CallState, deps: PipelineDeps, scrubs: Scrubs, known: KnownTask | undefined): Scrubs {
  let named: (v: JsonObject) => JsonObject;
  if (known) named = (v) => replaceTaskId(v, known.taskId, known.handle);
  else if (s.method === 'tools/call') {
    const route = routeOf(s);
    named = (v) => deps.tasks.wrap(v, { server: route.server, tool: route.qualified }, s.ctx.principal, s.ctx.scope);
  } else return scrubs;
  const notices = <T>(v: T): T => {
    const n = scrubs.notices(v) as JsonObject;
    return (n.params && typeof n.params === 'object' ? { ...n, params: named(n.params as JsonObject) } : n) as T;
  };
  return { ...scrubs, notices, questions: (method, params) => named(scrubs.questions(method, params)) };
}

/** The upstream's error about a task (`Task <id> has no result stored`), naming the caller's handle instead. */
export function taskError(err: unknown, known: KnownTask | undefined): unknown {
  if (!known || !(err instanceof UpstreamRpcError)) return err;
  const { taskId, handle } = known;
  return new UpstreamRpcError(
    err.rpcCode,
    replaceTaskId(err.message, taskId, handle),
    replaceTaskId(err.data, taskId, handle),
  );
}

/** A tools/call or tasks/* answer as its caller sees it: handles for the upstream's task ids. */
export function taskAnswer(
  s: CallState,
  deps: PipelineDeps,
  result: JsonObject,
  known: KnownTask | undefined,
): JsonObject {
  const route = routeOf(s);
  const at = { server: route.server, tool: route.qualified, replica: route.holder };
  const out = deps.tasks.wrap(result, at, s.ctx.principal, s.ctx.scope, known);
  if (known && s.method === 'tasks/result' && s.ctx.era === 'legacy') {
    // 2025-11-25: a tasks/result answer names its task in `_meta` (the upstream's, when it said so, is rewritten above).
    const meta = (out._meta && typeof out._meta === 'object' ? out._meta : {}) as JsonObject;
    return { ...out, _meta: { ...meta, [RELATED_TASK]: { taskId: known.handle } } };
  }
  if (s.method === 'tools/call') remember(s, deps, result, out);
  // An answer showing the task ended (tasks/cancel, tasks/get, tasks/result): its progress token is nobody's now.
  else if (known && (s.method === 'tasks/result' || isTerminal(result.status)))
    deps.tasks.owners.endProgress(taskOf(s, deps));
  return out;
}

/** A task a caller's session started is that session's: the upstream's status notifications go to it (those said already too). */
function remember(s: CallState, deps: PipelineDeps, result: JsonObject, out: JsonObject): void {
  const task = result.task as JsonObject | undefined;
  const handle = (out.task as JsonObject | undefined)?.taskId;
  const session = s.ctx.session;
  if (!session || !task || typeof task.taskId !== 'string' || typeof handle !== 'string' || isTerminal(task.status))
    return;
  const r = session.record;
  const { server, qualified: tool } = routeOf(s);
  // The call's progress token lives on with the task (src/gateway/task-owners.ts).
  const { progressToken: caller, upstreamProgressToken: sent } = s.ctx;
  const progress =
    caller !== undefined && sent !== undefined
      ? { progress: { key: progressKey(server, ownerOf(s, deps), sent), caller, taskId: task.taskId } }
      : {};
  const owner = {
    session: session.id,
    principal: r.principal,
    tenant: r.tenant ?? null,
    scope: r.scope,
    handle,
    server,
    tool,
    ...progress,
  };
  const key = taskOf(s, deps, task.taskId);
  const { owners } = deps.tasks;
  for (const n of owners.remember(key, owner, taskLeaseMs(task.ttl))) tellOwner(session, owner, owners, key, n);
}
