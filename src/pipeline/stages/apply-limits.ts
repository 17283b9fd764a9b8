/**
 * limit: rate limits and concurrency caps keyed by the verified principal, the tool and the tenant.
 * The concurrency lease is released when the request ends (runRequest). A task's later requests
 * (tasks/*) count in the rules of every request of a principal or tenant, not in its tool's
 * (src/limits/limiter.ts). Refusals carry a retry-after.
 */
import { GatehouseError } from '../../protocol/errors.ts';
import type { Stage } from '../types.ts';
import { routeOf } from './needs.ts';

export const applyLimits: Stage = async (s, { limiter }) => {
  if (!limiter) return;
  const p = s.ctx.principal;
  const r = await limiter.acquire({
    tenant: p.tenant,
    subject: p.key,
    tool: routeOf(s).qualified,
    continuation: s.method.startsWith('tasks/'),
  });
  if (r.ok) {
    s.release = r.release;
    return;
  }
  throw new GatehouseError(
    'E_RATE_LIMITED',
    `rate limited (${r.rule}): ${r.reason}; retry in ${Math.ceil(r.retryAfterMs / 1000)} s`,
    { rule: r.rule, retryAfterMs: r.retryAfterMs },
  );
};
