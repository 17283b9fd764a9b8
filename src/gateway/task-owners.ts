/**
 * Whose each running task is, so that the upstream's notifications/tasks/status reaches its starter
 * only. An upstream connection is shared by the callers of its tenant (or user), and a status names
 * only the upstream's task id: the gateway cannot tell from it whose task it is. So when a
 * CreateTaskResult passes (execute), the task's key (server, connection owner, upstream id:
 * src/limits/task-lease.ts) is remembered with the session that started it and the handle its caller
 * was given. In this process's memory, bounded in number and in time (the task's lease: its ttl, at
 * most 24 hours); a task not found here (another replica's, forgotten, the gateway restarted) is
 * told to nobody. The connection holding a task lives in the process that started it, so its status
 * is heard where the entry is.
 */

export interface TaskOwner {
  /** The live session that started the task, and its principal as the session records it. */
  session: string;
  principal: string | null;
  /** The handle the caller was given for the task. */
  handle: string;
}

const MAX_TASKS = 10_000;

export class TaskOwners {
  readonly #byTask = new Map<string, TaskOwner & { until: number }>();
  readonly #max: number;

  constructor(max = MAX_TASKS) {
    this.#max = max;
  }

  /** `task` (its key) was started by `owner` and runs at most `ms` from now. */
  remember(task: string, owner: TaskOwner, ms: number, now = Date.now()): void {
    this.#byTask.delete(task);
    this.#byTask.set(task, { ...owner, until: now + ms });
    // The oldest go first: the bound holds whatever the callers start.
    for (const k of this.#byTask.keys()) {
      if (this.#byTask.size <= this.#max) break;
      this.#byTask.delete(k);
    }
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
