/**
 * Whose each running task is, so that the upstream's notifications/tasks/status reaches its starter
 * only. An upstream connection is shared by the callers of its tenant (or user), and a status names
 * only the upstream's task id: the gateway cannot tell from it whose task it is. So when a
 * CreateTaskResult passes (execute), the task's key (server, connection owner, upstream id:
 * src/limits/task-lease.ts) is remembered with the session that started it and the handle its caller
 * was given. In this process's memory, bounded in number and in time (the task's lease: its ttl, at
 * most 24 hours); a task not found here (another replica's, forgotten, the gateway restarted) is
 * told to nobody. A status said before its CreateTaskResult has passed (servers say the first at
 * once) is kept a moment for it, never for anyone else: only the same key finds it. The connection
 * holding a task lives in the process that started it, so its status is heard where the entry is;
 * the session's GET stream may be on another replica, which `away` sends it to (the replica relay).
 */
import type { JsonObject, JsonRpcNotification } from '../protocol/jsonrpc.ts';

export interface TaskOwner {
  /** The live session that started the task, and its principal, tenant and endpoint as the session records them. */
  session: string;
  principal: string | null;
  tenant: string | null;
  scope: string;
  /** The handle the caller was given for the task. */
  handle: string;
}

const MAX_TASKS = 10_000;
/** Statuses of tasks not known yet: kept this long, this many tasks, this many statuses each. */
const EARLY_MS = 5_000;
const MAX_EARLY = 1_000;
const EARLY_EACH = 8;

export class TaskOwners {
  readonly #byTask = new Map<string, TaskOwner & { until: number }>();
  readonly #early = new Map<string, { notes: JsonRpcNotification[]; until: number }>();
  readonly #max: number;
  /**
   * A status (scrubbed, naming the handle) for an owner whose session has no stream here: sent to the
   * replica holding its stream (gateway/replicas.ts); nothing without Redis.
   */
  away: (who: TaskOwner, params: JsonObject) => void = () => {};

  constructor(max = MAX_TASKS) {
    this.#max = max;
  }

  /** `task` (its key) was started by `owner` and runs at most `ms` from now: the statuses said of it before, to tell it. */
  remember(task: string, owner: TaskOwner, ms: number, now = Date.now()): JsonRpcNotification[] {
    this.#byTask.delete(task);
    this.#byTask.set(task, { ...owner, until: now + ms });
    bound(this.#byTask, this.#max);
    const early = this.#early.get(task);
    this.#early.delete(task);
    return early && early.until > now ? early.notes : [];
  }

  /** A status of `task`, not known (yet): kept a moment for its CreateTaskResult. */
  park(task: string, n: JsonRpcNotification, now = Date.now()): void {
    const e = this.#early.get(task);
    if (e && e.until > now) {
      if (e.notes.length < EARLY_EACH) e.notes.push(n);
      return;
    }
    this.#early.delete(task);
    this.#early.set(task, { notes: [n], until: now + EARLY_MS });
    bound(this.#early, MAX_EARLY);
  }

  /** Who started `task`, unless it is unknown here or past its time. */
  find(task: string, now = Date.now()): TaskOwner | undefined {
    const e = this.#byTask.get(task);
    if (e && e.until <= now) this.#byTask.delete(task);
    return e && e.until > now ? e : undefined;
  }

  forget(task: string): void {
    this.#byTask.delete(task);
  }

  get size(): number {
    return this.#byTask.size;
  }
}

/** The oldest entries go first: the bound holds whatever the callers start or the upstreams say. */
function bound(m: Map<string, unknown>, max: number): void {
  for (const k of m.keys()) {
    if (m.size <= max) break;
    m.delete(k);
  }
}
