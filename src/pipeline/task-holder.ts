/**
 * execute, for a task another replica's connection holds (route.holder, from its sealed handle): the
 * request goes to that replica over the replica relay (src/gateway/task-relay.ts) with the caller's
 * handle, principal and endpoint, which the holder checks again; the answer comes back here, to the
 * result stages. It may take what the request may take on its server (`timeouts.maxTotalMs`: a
 * tasks/result waits for its task's end), and stops when the caller leaves. The progress and log
 * messages its upstream says on the way come back too, and are scrubbed here as a local request's.
 */
import type { Scrub } from '../gateway/forward.ts';
import type { JsonObject, JsonRpcNotification } from '../protocol/jsonrpc.ts';
import type { CallState, PipelineDeps } from './types.ts';
import { connectionOf, upstreamOf } from './stages/needs.ts';

export function askHolder(s: CallState, deps: PipelineDeps, holder: string, notices: Scrub): Promise<JsonObject> {
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
    ...(s.ctx.progressToken !== undefined ? { progress: true } : {}),
    ...(s.ctx.logLevel !== undefined ? { logLevel: s.ctx.logLevel } : {}),
  };
  return deps.tasks.elsewhere(holder, r, s.ctx.signal, (n) => tell(s, notices, n));
}

/** A progress or log message the holder's upstream said: scrubbed here, with the caller's own progress token. */
function tell(s: CallState, notices: Scrub, n: JsonRpcNotification): void {
  const out = notices(n);
  if (n.method === 'notifications/message') s.ctx.outlet.notify(out);
  else if (n.method === 'notifications/progress' && s.ctx.progressToken !== undefined)
    s.ctx.outlet.notify({ ...out, params: { ...out.params, progressToken: s.ctx.progressToken } });
}
