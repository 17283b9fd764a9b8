/**
 * execute, for a task another replica's connection holds (route.holder, from its sealed handle): the
 * request goes to that replica over the replica relay (src/gateway/task-relay.ts) with the caller's
 * handle, principal and endpoint, which the holder checks again; the answer comes back here, to the
 * result stages. It may take what the request may take on its server (`timeouts.maxTotalMs`: a
 * tasks/result waits for its task's end), and stops when the caller leaves.
 */
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type { CallState, PipelineDeps } from './types.ts';
import { connectionOf, upstreamOf } from './stages/needs.ts';

export function askHolder(s: CallState, deps: PipelineDeps, holder: string): Promise<JsonObject> {
  const { taskId: _handle, ...params } = upstreamOf(s);
  const p = s.ctx.principal;
  const r = {
    handle: s.requested,
    method: s.method,
    params,
    principal: p.key,
    tenant: p.tenant,
    subject: p.subject,
    scope: s.ctx.scope,
    era: s.ctx.era,
    waitMs: connectionOf(s).cfg.timeouts.maxTotalMs,
  };
  return deps.tasks.elsewhere(holder, r, s.ctx.signal);
}
