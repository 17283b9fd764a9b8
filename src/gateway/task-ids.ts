/**
 * An upstream's task id, wherever an upstream's answer about the task says it, becomes the caller's
 * handle (src/gateway/tasks.ts): the id itself (`taskId`, `task.taskId`, the related-task `_meta`),
 * and its mentions in text (`Task <id> has no result stored`, a status message). Pure.
 */
import type { JsonObject } from '../protocol/jsonrpc.ts';

/** The 2025-11-25 `_meta` key naming the task a result, request or notification belongs to. */
export const RELATED_TASK = 'io.modelcontextprotocol/related-task';

/**
 * Shorter ids are replaced only where a string is the id itself: a mention of `7` or `done` in a
 * longer text is more likely a word or a number than the task.
 */
const MENTION_MIN = 8;
/** Deeper than any answer the gateway passes (results are bounded before: 0009). */
const MAX_DEPTH = 64;

/** `v` with every string equal to `id` replaced by `handle`, and every mention of `id` in a longer one. */
export function replaceTaskId<T>(v: T, id: string, handle: string): T {
  if (!id || id === handle) return v;
  return walk(v, id, handle, 0) as T;
}

function walk(v: unknown, id: string, handle: string, depth: number): unknown {
  if (typeof v === 'string') {
    if (v === id) return handle;
    return id.length >= MENTION_MIN && v.includes(id) ? v.replaceAll(id, handle) : v;
  }
  if (depth > MAX_DEPTH || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => walk(x, id, handle, depth + 1));
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) out[k] = walk(x, id, handle, depth + 1) as JsonObject[string];
  return out;
}

/** The upstream task ids an answer names: its task's, its own `taskId`, and its related task's. */
export function taskIdsIn(r: JsonObject): string[] {
  const task = r.task as JsonObject | undefined;
  const related = (r._meta as JsonObject | undefined)?.[RELATED_TASK] as JsonObject | undefined;
  const ids = [task?.taskId, r.taskId, related?.taskId].filter((x): x is string => typeof x === 'string' && !!x);
  return [...new Set(ids)];
}
