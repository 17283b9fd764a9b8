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
 *
 * A task-augmented call that asked for progress keeps its progress token for the task's lifetime (spec
 * 2025-11-25, basic/utilities/progress: "even after the CreateTaskResult has been returned"): the
 * upstream was given the gateway's token in the caller's place (src/gateway/forward.ts), so the task's
 * entry also holds that token's key (server, connection owner, token) and the caller's own token, found
 * by `byProgress` while the task is known here, and forgotten with it (its end, its lease, pushed out),
 * or sooner: an answer to tasks/cancel, tasks/get or tasks/result showing it ended (`endProgress`).
 */
import { createHash } from 'node:crypto';
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
  /** The call asked for progress: where the upstream's progress of the task goes (see above). */
  progress?: TaskProgress;
}

/** A task's progress token: the key of the one the upstream was given, the caller's own, the upstream's task id. */
interface TaskProgress {
  key: string;
  caller: string | number;
  taskId: string;
}

/** The key of progress token `token` as the gateway gave it on the connection of `owner` to `server`. */
export function progressKey(server: string, owner: string, token: string): string {
  return createHash('sha256')
    .update(JSON.stringify(['progress', server, owner, token]))
    .digest('base64url');
}

/** What is said of a task to its starter outside any call. */
export type TaskNotice = 'notifications/tasks/status' | 'notifications/progress';

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
  /** A progress token's key: the task's key (bounded as tasks are). */
  readonly #byToken: FairMap<string>;
  readonly #early = new FairMap<{ notes: JsonRpcNotification[]; until: number }>(MAX_EARLY, EARLY_PER_OWNER);
  /**
   * A status (scrubbed, naming the handle) for an owner whose session has no stream here: sent to the
   * replica holding its stream (gateway/replicas.ts); nothing without Redis.
   */
  away: (who: TaskOwner, params: JsonObject, method: TaskNotice) => void = () => {};
  /**
   * Whether the caller of a stream may still hear of a task of `tool` (src/listeners/notice-audience.ts:
   * policy, modes and revocations in force now); set by the gateway.
   */
  hears: (who: Principal, server: string, tool: string) => boolean = () => true;

  constructor(max = MAX_TASKS, each = TASKS_EACH) {
    this.#byTask = new FairMap(max, each);
    this.#byToken = new FairMap(max, each);
  }

  /**
   * `task` (its key) was started by `owner` and runs at most `ms` from now: the statuses (and, with a
   * progress token, the progress) said of it before, to tell it.
   */
  remember(task: string, owner: TaskOwner, ms: number, now = Date.now()): JsonRpcNotification[] {
    const holder = `${owner.tenant}\n${owner.principal}`;
    this.#byTask.set(task, holder, { ...owner, until: now + ms });
    if (owner.progress) this.#byToken.set(owner.progress.key, holder, task);
    return [...this.#taken(task, now), ...(owner.progress ? this.#taken(owner.progress.key, now) : [])];
  }

  #taken(key: string, now: number): JsonRpcNotification[] {
    const early = this.#early.get(key);
    this.#early.delete(key);
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
    if (e && e.until <= now) this.forget(task);
    return e && e.until > now ? e : undefined;
  }

  /** The task whose progress token has key `key` (progressKey), and who started it, while it is known here. */
  byProgress(key: string, now = Date.now()): { task: string; who: TaskOwner } | undefined {
    const task = this.#byToken.get(key);
    const who = task === undefined ? undefined : this.find(task, now);
    if (task === undefined || who?.progress?.key !== key) {
      this.#byToken.delete(key);
      return undefined;
    }
    return { task, who };
  }

  /** `task` ended (an answer said so): its progress token finds it no more; its statuses still reach its starter. */
  endProgress(task: string): void {
    const key = this.#byTask.get(task)?.progress?.key;
    if (key !== undefined) this.#byToken.delete(key);
  }

  forget(task: string): void {
    const key = this.#byTask.get(task)?.progress?.key;
    if (key !== undefined) this.#byToken.delete(key);
    this.#byTask.delete(task);
  }

  get size(): number {
    return this.#byTask.size;
  }
}
