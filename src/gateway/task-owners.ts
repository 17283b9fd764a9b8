/**
 * Whose each running task is, so that the upstream's notifications/tasks/status reaches its starter
 * only. An upstream connection is shared by the callers of its tenant (or user), and a status names
 * only the upstream's task id: the gateway cannot tell from it whose task it is. So when a
 * CreateTaskResult passes (execute), the task's key (server, connection owner, upstream id:
 * src/limits/task-lease.ts) is remembered with the session that started it and the handle its caller
 * was given. In this process's memory, bounded in number and in time (the task's lease: its ttl, at
 * most 24 hours); a task not found here (another replica's, forgotten, the gateway restarted) is
 * told to nobody. The bounds are each principal's (and, for statuses kept early, each connection
 * owner's) before they are the replica's: one caller starting task after task pushes out only its own
 * oldest, never another's (src/util/fair-map.ts). A status said before its CreateTaskResult has passed
 * (servers say the first at once) is kept a moment for it, never for anyone else: only the same key
 * finds it. The connection
 * holding a task lives in the process that started it, so its status is heard where the entry is;
 * the session's GET stream may be on another replica, which `away` sends it to (the replica relay).
 */
import type { Principal } from '../identity/principal.ts';
import type { JsonObject, JsonRpcNotification } from '../protocol/jsonrpc.ts';
import { FairMap } from '../util/fair-map.ts';

export interface TaskOwner {
  /** The live session that started the task, and its principal, tenant and endpoint as the session records them. */
  session: string;
  principal: string | null;
  tenant: string | null;
  scope: string;
  /** The handle the caller was given for the task. */
  handle: string;
  /** The task's server and tool (as the aggregate endpoint names it): its caller hears of it while it may still use that tool. */
  server: string;
  tool: string;
}

/** Tasks remembered in all, and for one principal (its tenant and key). */
const MAX_TASKS = 10_000;
const TASKS_EACH = 1_000;
/** Statuses of tasks not known yet: kept this long, this many tasks (in all, per connection owner), this many statuses each. */
const EARLY_MS = 5_000;
const MAX_EARLY = 1_000;
const EARLY_PER_OWNER = 100;
const EARLY_EACH = 8;

export class TaskOwners {
  readonly #byTask: FairMap<TaskOwner & { until: number }>;
  readonly #early = new FairMap<{ notes: JsonRpcNotification[]; until: number }>(MAX_EARLY, EARLY_PER_OWNER);
  /**
   * A status (scrubbed, naming the handle) for an owner whose session has no stream here: sent to the
   * replica holding its stream (gateway/replicas.ts); nothing without Redis.
   */
  away: (who: TaskOwner, params: JsonObject) => void = () => {};
  /**
   * Whether the caller of a stream may still hear of a task of `tool` (src/listeners/notice-audience.ts:
   * policy, modes and revocations in force now); set by the gateway.
   */
  hears: (who: Principal, server: string, tool: string) => boolean = () => true;

  constructor(max = MAX_TASKS, each = TASKS_EACH) {
    this.#byTask = new FairMap(max, each);
  }

  /** `task` (its key) was started by `owner` and runs at most `ms` from now: the statuses said of it before, to tell it. */
  remember(task: string, owner: TaskOwner, ms: number, now = Date.now()): JsonRpcNotification[] {
    this.#byTask.set(task, `${owner.tenant}\n${owner.principal}`, { ...owner, until: now + ms });
    const early = this.#early.get(task);
    this.#early.delete(task);
    return early && early.until > now ? early.notes : [];
  }

  /** A status of `task`, said on the connection of `owner` (a tenant, or tenant/user), not known (yet): kept a moment for its CreateTaskResult. */
  park(task: string, owner: string, n: JsonRpcNotification, now = Date.now()): void {
    const e = this.#early.get(task);
    if (e && e.until > now) {
      if (e.notes.length < EARLY_EACH) e.notes.push(n);
      return;
    }
    this.#early.set(task, owner, { notes: [n], until: now + EARLY_MS });
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
