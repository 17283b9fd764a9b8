/**
 * Wiring of the replica relay (src/sessions/replica-relay.ts): this replica's channel on the limits'
 * Redis; the legacy sessions' answers, the modern callers' retries of held calls (held-relay.ts) and
 * the tasks/* requests for tasks another replica holds (task-relay.ts), and the statuses of tasks
 * held here for sessions whose GET stream is on another replica (task-status.ts) sent over it and
 * received from it. Nothing without Redis.
 */
import type { Logger } from 'pino';
import { ReplicaRelay } from '../sessions/replica-relay.ts';
import type { Sessions } from '../sessions/sessions.ts';
import { sessionDigest } from '../sessions/session-digest.ts';
import { HeldRelay } from './held-relay.ts';
import type { Holds } from './holds.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type { TaskNotice, TaskOwner } from './task-owners.ts';
import { type TaskHolder, TaskRelay } from './task-relay.ts';
import { statusArrived } from './task-status.ts';

/** Room around the answer in a message (names, ids, the JSON around it). */
const ENVELOPE = 64 * 1024;

export interface RelayParts {
  sessions: Sessions;
  holds: Holds;
  /** What a task's requests from other replicas need here (its handles, this replica's connections). */
  tasks: Omit<TaskHolder, 'holds'>;
  /** The largest request body (gateway.maxBodyBytes): no answer relayed is larger. */
  maxBodyBytes: () => number;
  log: Pick<Logger, 'info' | 'error'>;
  live?: (up: boolean) => void;
}

export function startReplicaRelay(
  redis: { url: string; keyPrefix?: string } | undefined,
  p: RelayParts,
): { close(): Promise<void> } | undefined {
  if (!redis) return undefined;
  let held: HeldRelay | undefined;
  let tasks: TaskRelay | undefined;
  const relay = new ReplicaRelay(
    redis,
    p.sessions.replica,
    {
      answer: (m) => void p.sessions.answerRelayed(m),
      retry: (m) => void held?.serve(m).catch(() => {}),
      retried: (m) => held?.retried(m),
      cancel: (m) => {
        held?.cancel(m);
        tasks?.cancel(m);
      },
      task: (m) => void tasks?.serve(m).catch(() => {}),
      tasked: (m) => tasks?.answered(m),
      status: (m) => statusArrived(p.sessions.cachedByDigest(m.session), p.tasks.handles(), m),
      note: (m) => tasks?.note(m),
    },
    () => p.maxBodyBytes() + ENVELOPE,
    (live) => {
      p.live?.(live);
      if (live)
        p.log.info(
          { replica: p.sessions.replica },
          'replica relay: answers, retries and task requests for this replica reach it',
        );
      else
        p.log.error(
          {},
          'replica relay: redis unreachable; answers, retries and task requests for another replica fail until it is back',
        );
    },
  );
  held = new HeldRelay(relay, p.holds, p.maxBodyBytes);
  const h = held;
  tasks = new TaskRelay(relay, { ...p.tasks, holds: p.holds }, p.maxBodyBytes);
  const t = tasks;
  p.sessions.relay = (to, m) => relay.send(to, m);
  p.holds.elsewhere = (to, r, signal) => h.send(to, r, signal);
  p.tasks.handles().elsewhere = (to, r, signal, onNote) => t.send(to, r, signal, onNote);
  p.sessions.onStream = (id, open) => relay.streams.stream(id, open);
  p.tasks.handles().owners.away = (who, params, method) => void sendStatus(relay, who, params, method);
  return {
    close: () => {
      h.close();
      t.close();
      return relay.close();
    },
  };
}

/** A status (or progress) of a task held here, to the replica holding its owner's GET stream (if another one does). */
async function sendStatus(relay: ReplicaRelay, who: TaskOwner, params: JsonObject, method: TaskNotice): Promise<void> {
  const to = await relay.streams.where(who.session);
  if (!to || to === relay.id) return;
  const { principal, tenant, scope, handle } = who;
  const progress = method === 'notifications/progress' ? { method } : {};
  await relay.send(to, {
    kind: 'status',
    from: relay.id,
    session: sessionDigest(who.session),
    principal,
    tenant,
    scope,
    handle,
    ...progress,
    params,
  });
}
