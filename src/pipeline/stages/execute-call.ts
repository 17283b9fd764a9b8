/**
 * execute: the only stage that talks to the upstream. The call goes out under the upstream's own
 * tool name with the caller's arguments exactly as validated; credentials (issue 5) are injected
 * by the upstream connection, never by the caller.
 */
import type { Stage } from '../types.ts';
import { brokered } from '../../credentials/broker.ts';
import { callerToken } from '../../identity/authenticator.ts';
import { forward } from '../../gateway/forward.ts';
import { namespaceTask } from '../../gateway/tasks.ts';
import { expectedParamHeaders } from '../../protocol/param-headers.ts';
import type { JsonObject } from '../../protocol/jsonrpc.ts';

export const executeCall: Stage = async (s, { upstreams, holds, catalog, credentials }) => {
  const route = s.route!;
  if (s.decision?.effect === 'shadow') {
    // Shadow: recorded as proposed (the intent), and nothing runs. The caller is told so plainly.
    const text = `Shadow mode: Gatehouse recorded this call to ${route.qualified} as proposed and did NOT run it (policy rule \`${s.decision.rule}\`). Nothing was changed.`;
    s.result = { content: [{ type: 'text', text }], isError: false, _meta: { 'io.gatehouse/shadow': true } };
    return;
  }
  // A server with credentials: its connection for this caller's tenant, holding that tenant's secrets
  // (resolved now, from the secrets manager or its cache); everyone else shares the server's one.
  const cfg = credentials.configOf(route.server);
  let up = upstreams.get(route.server)!;
  if (cfg && brokered(cfg)) {
    const held = await credentials.pool.get(cfg, s.ctx.principal.tenant, s.ctx.principal.subject, callerToken(s.ctx.principal));
    up = held.up;
    s.injected = held.values;
  }
  // x-mcp-header parameters are mirrored for the upstream by the gateway itself, from the checked arguments.
  const mirrored = expectedParamHeaders(route.def.inputSchema, s.params.arguments as JsonObject | undefined);
  const headers = mirrored.size ? Object.fromEntries([...mirrored.values()].map((h) => [`mcp-param-${h.name}`, h.text])) : undefined;
  const result = await forward(up, s.ctx, 'tools/call', { ...s.params, name: route.tool }, holds, headers);
  // A task handle is namespaced like the tool, so tasks/get later finds this upstream.
  s.result = s.ctx.scope ? result : namespaceTask(result, catalog.qualify(route.server, ''));
};
