/**
 * execute: the only stage that talks to the upstream. The call goes out under the upstream's own
 * tool name with the caller's arguments exactly as validated; credentials (issue 5) are injected
 * by the upstream connection, never by the caller.
 */
import type { Stage } from '../types.ts';
import { forward } from '../../gateway/forward.ts';

export const executeCall: Stage = async (s, { upstreams, holds }) => {
  const route = s.route!;
  const up = upstreams.get(route.server)!;
  s.result = await forward(up, s.ctx, 'tools/call', { ...s.params, name: route.tool }, holds);
};
