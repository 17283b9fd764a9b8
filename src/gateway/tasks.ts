/** Task handles from upstreams, namespaced like tools (`<server><sep><taskId>`) on the aggregate endpoint. */
import type { JsonObject } from '../protocol/jsonrpc.ts';

/** Task ids are namespaced like tools so a later tasks/get finds the right upstream. */
export function namespaceTask(r: JsonObject, prefix: string): JsonObject {
  const task = r.task as JsonObject | undefined;
  if (task && typeof task.taskId === 'string') return { ...r, task: { ...task, taskId: prefix + task.taskId } };
  if (typeof r.taskId === 'string') return { ...r, taskId: prefix + r.taskId };
  return r;
}

