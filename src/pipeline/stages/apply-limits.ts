/**
 * limit: rate limits and concurrency caps keyed by the verified principal, the tool and the tenant.
 * The concurrency lease is released when the request ends (runRequest), unless the call created a
 * task: then the task keeps it until it ends (src/pipeline/task-leases.ts). A task's later requests
 * (tasks/*) count in the rules of every request of a principal or tenant, not in its tool's
 * (src/limits/limiter.ts), and pass the caps whose slot their task holds. Refusals carry a retry-after.
 */
import { GatehouseError } from '../../protocol/errors.ts';
import type { Stage } from '../types.ts';
import { routeOf } from './needs.ts';
import { taskOf } from '../task-leases.ts';

export const applyLimits: Stage = async (s, deps) => {
  const { limiter } = deps;
  if (!limiter) return;
  const p = s.ctx.principal;
  const continuation = s.method.startsWith('tasks/');
  const r = await limiter.acquire({
    tenant: p.tenant,
    subject: p.key,
    tool: routeOf(s).qualified,
    continuation,
    ...(continuation ? { task: taskOf(s, deps) } : {}),
  });
  if (r.ok) {
    s.lease = r;
    return;
  }
  const seconds = Math.ceil(r.retryAfterMs / 1000);
  // A slot a running task holds frees when the task is seen to end, which no clock foretells.
  const when = r.heldByTask
    ? `a slot frees once one of them is seen to end (tasks/get, tasks/result), at the latest in ${seconds} s`
    : `retry in ${seconds} s`;
  throw new GatehouseError('E_RATE_LIMITED', `rate limited (${r.rule}): ${r.reason}; ${when}`, {
    rule: r.rule,
    retryAfterMs: r.retryAfterMs,
    ...(r.heldByTask ? { heldByTask: true } : {}),
  });
};
