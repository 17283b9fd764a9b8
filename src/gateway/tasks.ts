/**
 * Task handles. An upstream's task id is only meaningful on the connection (tenant) that started it,
 * and only its starter may read, await or cancel it. So the caller never sees the raw id: it gets a
 * handle sealed with a key every replica shares, naming the server, the tool (so modes and visibility
 * apply again on every later request), the upstream's id, and a digest of the principal. A handle
 * presented by anyone else, altered, or from another endpoint is an unknown task.
 */
import { createHash } from 'node:crypto';
import { hmacSha256, sameBytes } from '../util/hmac.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';

export interface TaskTarget {
  server: string;
  /** The caller-facing tool name the task came from. */
  tool: string;
  /** The upstream's own task id. */
  taskId: string;
}

const MAX_HANDLE = 2048;

export class TaskHandles {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    this.#key = key;
  }

  #mac(body: string): string {
    return hmacSha256(this.#key, body).toString('base64url');
  }

  static #who(principalKey: string, scope: string): string {
    return createHash('sha256')
      .update(JSON.stringify([principalKey, scope]))
      .digest('base64url')
      .slice(0, 22);
  }

  seal(t: TaskTarget, principalKey: string, scope: string): string {
    const body = Buffer.from(
      JSON.stringify([t.server, t.tool, t.taskId, TaskHandles.#who(principalKey, scope)]),
    ).toString('base64url');
    return `gh1.${body}.${this.#mac(body)}`;
  }

  open(handle: string, principalKey: string, scope: string): TaskTarget | undefined {
    if (handle.length > MAX_HANDLE) return undefined;
    const [v, body, mac] = handle.split('.');
    if (v !== 'gh1' || !body || !mac) return undefined;
    if (!sameBytes(this.#mac(body), mac)) return undefined;
    try {
      const [server, tool, taskId, who] = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as string[];
      if (who !== TaskHandles.#who(principalKey, scope)) return undefined;
      return { server, tool, taskId };
    } catch {
      return undefined;
    }
  }

  /** A result that carries a task handle, with the handle sealed for this caller. */
  wrap(r: JsonObject, at: Omit<TaskTarget, 'taskId'>, principalKey: string, scope: string): JsonObject {
    const task = r.task as JsonObject | undefined;
    if (task && typeof task.taskId === 'string')
      return { ...r, task: { ...task, taskId: this.seal({ ...at, taskId: task.taskId }, principalKey, scope) } };
    if (typeof r.taskId === 'string')
      return { ...r, taskId: this.seal({ ...at, taskId: r.taskId }, principalKey, scope) };
    return r;
  }
}
