/**
 * Who may hear what an upstream says outside any call: a log message, a resource update, a task's
 * status, a change of a connection's own listing. Such a notice names a server (and a resource, or
 * the task's tool) and reaches a caller's stream long after any request of it was authorised: by then
 * a policy reload, a mode (`gatehouse mode set disabled --tenant ...`) or a revocation may have taken
 * the server away from it. So each notice is told to a caller only if it may still see, under the
 * settings in force now, what the listings would show it (src/pipeline/listings.ts): the server
 * (anything of it), the resource, the task's tool. A caller whose principal is revoked hears nothing
 * (an API key revoked in the store is found by the stream's own check, every few seconds:
 * src/listeners/mcp-streams.ts).
 */
import type { Principal } from '../identity/principal.ts';
import { heardOf, seesAny, seesTool } from '../pipeline/listings.ts';
import type { PipelineDeps } from '../pipeline/types.ts';

export interface NoticeAudience {
  /** Whether `who` may hear what `server` says outside any call (a log message, a change of its own listing). */
  server(who: Principal, server: string): boolean;
  /** Whether `who` may hear that the resource `uri` (as `server` names it) changed. */
  resource(who: Principal, server: string, uri: string): boolean;
  /** Whether `who` may hear the status of a task of the tool `tool` (as the aggregate endpoint names it) of `server`. */
  tool(who: Principal, server: string, tool: string): boolean;
}

/** Everyone hears everything: for parts tested on their own, never the gateway's. */
export const EVERYONE: NoticeAudience = { server: () => true, resource: () => true, tool: () => true };

/**
 * The audience under the settings in force (`current()`, rebuilt on every reload, mode change and
 * revocation; none yet while the gateway starts: then nobody hears).
 */
export function noticeAudience(
  current: () => PipelineDeps | undefined,
  revoked: (who: Principal) => string | undefined,
): NoticeAudience {
  const may = (who: Principal, test: (deps: PipelineDeps) => boolean) => {
    const deps = current();
    return deps !== undefined && !revoked(who) && test(deps);
  };
  return {
    server: (who, server) => may(who, (deps) => heardOf(deps, who, server)),
    resource: (who, server, uri) => may(who, (deps) => seesAny(deps, who, server, 'resources', [{ uri }])),
    tool: (who, server, tool) => may(who, (deps) => seesTool(deps, who, server, tool)),
  };
}
