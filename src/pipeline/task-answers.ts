/**
 * A task-augmented `tools/call` (2025-11-25 tasks: `params.task`) expects a CreateTaskResult, and the
 * spec has a receiver return one only when it accepts the task. An answer the gateway gives itself
 * creates no task — a pending approval (nothing runs until a person decides), shadow mode (nothing
 * runs at all) — so it goes as a JSON-RPC error saying what the plain result would have said, never
 * as a CallToolResult the caller's SDK fails to parse (its approval page would never reach anyone).
 * Pure: the stages decide, runRequest sends (pipeline/index.ts).
 */
import { GatehouseError } from '../protocol/errors.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type { CallState } from './types.ts';

/** Whether the caller asked for a task: a 2025-11-25 `tools/call` with a `task` object. */
export function asksForTask(s: CallState): boolean {
  const task = (s.params as JsonObject).task;
  return s.method === 'tools/call' && s.ctx.era === 'legacy' && !!task && typeof task === 'object';
}

export interface PendingApproval {
  id: string;
  url: string;
  summary: string;
  expiresAt: number;
  /** How the caller retries once it is approved. */
  retry: string;
}

/**
 * A pending approval: the URL-elicitation-required error (-32042) carrying the page, for a caller that
 * declared URL elicitation; otherwise the gateway's refusal naming the page. Either says how to retry.
 */
export function pendingApprovalError(a: PendingApproval, elicitsUrl: boolean): GatehouseError {
  const text = `this call needs a person's approval: approval ${a.id} is pending at ${a.url}. ${a.retry} Nothing ran, and no task was created`;
  const approval = { id: a.id, url: a.url, status: 'pending', expiresAt: new Date(a.expiresAt).toISOString() };
  if (!elicitsUrl) return new GatehouseError('E_APPROVAL_REQUIRED', text, { approval });
  const elicitation = {
    mode: 'url',
    url: a.url,
    elicitationId: a.id,
    message: `A person must approve this call: ${a.summary}`,
  };
  return new GatehouseError('E_URL_ELICITATION_REQUIRED', text, { elicitations: [elicitation], approval });
}

/** Shadow mode: what the plain result says, as the gateway's refusal (no task: nothing ran). */
export function shadowError(text: string, rule: string): GatehouseError {
  return new GatehouseError('E_SHADOW', `${text} No task was created.`, { shadow: true, rule });
}
