/**
 * The `tasks` server capability (2025-11-25) the gateway declares: only what it carries. It passes a
 * task-augmented `tools/call` to a server that accepts one, and `tasks/get`, `tasks/result` and
 * `tasks/cancel` to the task's own server (the method table, src/pipeline/index.ts); it has no
 * `tasks/list` (a list would mix servers and callers), so `list` is never declared. A legacy
 * session's capabilities are fixed at its initialize, so the aggregate endpoint counts a configured
 * server not connected yet as one that may take tasks (docs/architecture/0011-protocol-fidelity.md).
 * Pure.
 */
import type { JsonObject } from '../protocol/jsonrpc.ts';

const isObject = (v: unknown): v is JsonObject => !!v && typeof v === 'object' && !Array.isArray(v);

/** What of one server's `tasks` capability the gateway offers for it: undefined when it takes no task-augmented tools/call. */
export function tasksOffered(capabilities: JsonObject | undefined): JsonObject | undefined {
  const tasks = capabilities?.tasks;
  if (!isObject(tasks) || !isObject(tasks.requests)) return undefined;
  const tools = tasks.requests.tools;
  if (!isObject(tools) || !isObject(tools.call)) return undefined;
  return { ...(isObject(tasks.cancel) ? { cancel: {} } : {}), requests: { tools: { call: {} } } };
}

/** What a server not connected yet may offer once it connects (its capabilities are unknown until then). */
const MAY_OFFER: JsonObject = { cancel: {}, requests: { tools: { call: {} } } };

/**
 * Over several servers (the aggregate endpoint): task-augmented tools/call when one of them takes it
 * or may (`undefined`: a configured server not connected yet, whose capabilities are unknown);
 * cancel when one of those cancels or may. Each tool still says whether it takes a task
 * (`execution.taskSupport`), so a client augments only a call to a tool that does.
 */
export function tasksOfAll(all: Iterable<JsonObject | undefined>): JsonObject | undefined {
  let offered: JsonObject | undefined;
  for (const caps of all) {
    const one = caps === undefined ? MAY_OFFER : tasksOffered(caps);
    if (!one) continue;
    offered = { ...offered, ...one };
  }
  return offered;
}
