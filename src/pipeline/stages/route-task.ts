/**
 * route (tasks/get, tasks/result, tasks/cancel): a task handle is sealed for the principal and the
 * endpoint that started the task, and names its server and tool; anyone else's, an altered one, or a
 * raw upstream id is an unknown task. The tool is then authorised again like a new call to it (a
 * disabled tool's tasks cannot be read), and the request goes to the same tenant's connection: on
 * the replica the handle names (the connection holding the task), through that replica when it is
 * another (execute: src/pipeline/task-holder.ts).
 */
import { GatehouseError, quote } from '../../protocol/errors.ts';
import type { Stage } from '../types.ts';
import { definedParams } from '../defined-params.ts';
import { loneSurrogateAt, pathText } from '../../util/well-formed.ts';

export const routeTask: Stage = (s, { catalog, tasks, upstreams }) => {
  const t = tasks.open(s.requested, s.ctx.principal, s.ctx.scope);
  const hit =
    t && catalog.resolve('tools', s.ctx.scope ? (catalog.split(t.tool)?.name ?? '') : t.tool, s.ctx.scope || undefined);
  if (!t || !hit || hit.server !== t.server || !upstreams.has(t.server))
    throw new GatehouseError('E_UNKNOWN_TASK', `unknown task ${quote(s.requested.slice(0, 80))}`);
  // The row skips validate: its params (`_meta` goes on) are refused for text that is not Unicode here, as validate refuses any request's.
  const at = loneSurrogateAt(s.params);
  if (at)
    throw new GatehouseError(
      'E_INVALID_PARAMS',
      `invalid params: \`${pathText(at)}\` holds a lone UTF-16 surrogate (half of a pair): not Unicode text`,
      { path: pathText(at) },
    );
  s.route = { server: t.server, tool: hit.name, def: hit.def, qualified: t.tool, item: hit.name };
  if (t.replica && t.replica !== tasks.replica) s.route.holder = t.replica;
  s.upstream = definedParams(s.method, { ...s.params, taskId: t.taskId });
};
