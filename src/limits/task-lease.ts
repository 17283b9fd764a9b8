/**
 * How long a task keeps the concurrency slots of the tools/call that created it, and by which name
 * every replica finds them again. Pure: the pipeline and the upstream fleet decide with these, the
 * backends (memory.ts, redis.ts) keep the leases.
 *
 * A task holds its slots from its CreateTaskResult until the gateway sees it end (a terminal status
 * in a tasks/get or tasks/cancel answer, a tasks/result answer, or an upstream's
 * notifications/tasks/status), or until its `ttl` passes: the upstream forgets the task then, so no
 * one will ever see it end. A task without a ttl (absent or null: "unlimited") holds them for
 * DEFAULT_TASK_LEASE_MS, and none longer than MAX_TASK_LEASE_MS, so that a task never seen again
 * does not hold a slot for ever. None holds them shorter than the floor its caller passes (the
 * server's `timeouts.maxTotalMs`: as long as the same call could hold them in flight): the ttl is
 * the caller's to choose, and a tiny one (walk V: five `task: {ttl: 1}` deploys, each running 30 s,
 * all passed a cap of 1) must not hand the slot back while the task still runs. Seen to end, it
 * gives them back at once, floor or not.
 */
import { createHash } from 'node:crypto';

/** A task that gives no ttl holds its slots this long (1 hour) unless seen to end. */
export const DEFAULT_TASK_LEASE_MS = 60 * 60_000;
/** No task holds its slots longer than this (24 hours), whatever ttl its upstream gives. */
export const MAX_TASK_LEASE_MS = 24 * 60 * 60_000;

/** The statuses after which a task runs no more (2025-11-25 tasks). */
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

export function isTerminal(status: unknown): boolean {
  return typeof status === 'string' && TERMINAL.has(status);
}

/**
 * How long a task with this `ttl` (from its CreateTaskResult, which echoes what its caller asked)
 * keeps its slots: at least `floorMs` (bounded by MAX_TASK_LEASE_MS; the pipeline passes the server's
 * `timeouts.maxTotalMs`).
 */
export function taskLeaseMs(ttl: unknown, floorMs = 0): number {
  const floor = Math.min(Math.max(0, floorMs), MAX_TASK_LEASE_MS);
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 0) return Math.max(floor, DEFAULT_TASK_LEASE_MS);
  return Math.max(floor, Math.min(ttl, MAX_TASK_LEASE_MS));
}

/**
 * The name of a task's leases: the upstream's task id on the connection it lives on (server and
 * owner: a tenant, or tenant/user; an upstream's ids mean something on that connection only). What
 * the pipeline knows from a sealed handle and what an upstream's notification says both name it.
 */
export function taskKey(server: string, owner: string, upstreamTaskId: string): string {
  return createHash('sha256')
    .update(JSON.stringify([server, owner, upstreamTaskId]))
    .digest('base64url');
}
