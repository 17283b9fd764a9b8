/**
 * Wiring of the replica relay (src/sessions/replica-relay.ts): this replica's channel on the limits'
 * Redis; the legacy sessions' answers and the modern callers' retries of held calls (held-relay.ts)
 * sent over it and received from it. Nothing without Redis.
 */
import type { Logger } from 'pino';
import { ReplicaRelay } from '../sessions/replica-relay.ts';
import type { Sessions } from '../sessions/sessions.ts';
import { HeldRelay } from './held-relay.ts';
import type { Holds } from './holds.ts';

/** Room around the answer in a message (names, ids, the JSON around it). */
const ENVELOPE = 64 * 1024;

export interface RelayParts {
  sessions: Sessions;
  holds: Holds;
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
  const relay = new ReplicaRelay(
    redis,
    p.sessions.replica,
    {
      answer: (m) => void p.sessions.answerRelayed(m),
      retry: (m) => void held?.serve(m).catch(() => {}),
      retried: (m) => held?.retried(m),
      cancel: (m) => held?.cancel(m),
    },
    () => p.maxBodyBytes() + ENVELOPE,
    (live) => {
      p.live?.(live);
      if (live)
        p.log.info({ replica: p.sessions.replica }, 'replica relay: answers and retries for this replica reach it');
      else
        p.log.error(
          {},
          "replica relay: redis unreachable; answers and retries for another replica's questions fail until it is back",
        );
    },
  );
  held = new HeldRelay(relay, p.holds, p.maxBodyBytes);
  const h = held;
  p.sessions.relay = (to, m) => relay.send(to, m);
  p.holds.elsewhere = (to, r, signal) => h.send(to, r, signal);
  return {
    close: () => {
      h.close();
      return relay.close();
    },
  };
}
