/** The one answer for "no such thing" per kind: what a caller may not use must look exactly like it. */
import { GatehouseError, quote } from '../../protocol/errors.ts';
import type { CallState } from '../types.ts';

export function unknownTarget(s: Pick<CallState, 'kind' | 'requested'> & { method?: string }): GatehouseError {
  // tasks/*: the target is a task handle; a task whose tool the caller may no longer use is no task.
  if (s.method?.startsWith('tasks/'))
    return new GatehouseError('E_UNKNOWN_TASK', `unknown task ${quote(s.requested.slice(0, 80))}`);
  if (s.kind === 'prompt') return new GatehouseError('E_UNKNOWN_PROMPT', `unknown prompt ${quote(s.requested)}`);
  if (s.kind === 'resource') return new GatehouseError('E_UNKNOWN_RESOURCE', `unknown resource ${quote(s.requested)}`);
  return new GatehouseError('E_UNKNOWN_TOOL', `unknown tool ${quote(s.requested)}`);
}
