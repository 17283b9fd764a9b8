/**
 * Wiring of the replica relay (src/sessions/replica-relay.ts): this replica's channel on the limits'
 * Redis, the legacy sessions' answers sent over it and received from it. Nothing without Redis.
 */
import type { Logger } from 'pino';
import { ReplicaRelay } from '../sessions/replica-relay.ts';
import type { Sessions } from '../sessions/sessions.ts';

/** Room around the answer in a message (names, ids, the JSON around it). */
const ENVELOPE = 64 * 1024;

export interface RelayParts {
  sessions: Sessions;
  /** The largest request body (gateway.maxBodyBytes): no answer relayed is larger. */
  maxBodyBytes: () => number;
  log: Pick<Logger, 'info' | 'error'>;
  live?: (up: boolean) => void;
}

export function startReplicaRelay(
  redis: { url: string; keyPrefix?: string } | undefined,
  p: RelayParts,
): ReplicaRelay | undefined {
  if (!redis) return undefined;
  const relay = new ReplicaRelay(
    redis,
    p.sessions.replica,
    {
      answer: (m) => void p.sessions.answerRelayed(m),
      retry: () => {},
      retried: () => {},
      cancel: () => {},
    },
    () => p.maxBodyBytes() + ENVELOPE,
    (live) => {
      p.live?.(live);
      if (live) p.log.info({ replica: p.sessions.replica }, 'replica relay: answers for this replica reach it');
      else
        p.log.error(
          {},
          "replica relay: redis unreachable; an answer to another replica's question is dropped until it is back",
        );
    },
  );
  p.sessions.relay = (to, m) => relay.send(to, m);
  return relay;
}
