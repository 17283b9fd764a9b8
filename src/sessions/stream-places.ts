/**
 * Which replica holds each legacy session's GET stream. A session's record is in the store, but its
 * stream is one process's: a load balancer without affinity may send the GET to one replica and the
 * session's tools/call to another, whose upstream connection then hears the task's status
 * notifications (src/gateway/task-status.ts). Each replica notes the streams it holds in Redis,
 * `<prefix>stream:<digest of the session id>` = its replica id, for a while (renewed while the stream
 * stays open, and at once when Redis comes back: it may have lost them), and removes the note when
 * the stream closes unless another replica's stream replaced it. A note only says where to send: the
 * replica it names delivers only to a stream of that session, principal, tenant and endpoint.
 */
import type { Fanout } from './fanout.ts';
import { sessionDigest } from './session-digest.ts';

/** How long a note lasts unless renewed, and how often this replica renews its own. */
const NOTE_MS = 2 * 60 * 60_000;
const RENEW_MS = 30 * 60_000;

type Keys = Pick<Fanout<{ kind: string }>, 'setKey' | 'getKey' | 'deleteKeyIf'>;

export class StreamPlaces {
  readonly #keys: Keys;
  readonly #prefix: string;
  readonly #replica: string;
  /** The sessions whose GET stream is open here. */
  readonly #here = new Set<string>();
  readonly #timer: NodeJS.Timeout;

  constructor(keys: Keys, prefix: string, replica: string) {
    this.#keys = keys;
    this.#prefix = prefix;
    this.#replica = replica;
    this.#timer = setInterval(() => this.renew(), RENEW_MS);
    this.#timer.unref();
  }

  /** Session `id`'s GET stream opened here, or closed. */
  stream(id: string, open: boolean): void {
    if (open) {
      this.#here.add(id);
      void this.#keys.setKey(this.#key(id), this.#replica, NOTE_MS);
    } else {
      this.#here.delete(id);
      void this.#keys.deleteKeyIf(this.#key(id), this.#replica);
    }
  }

  /** The replica holding session `id`'s GET stream, as last noted (undefined: none, or Redis away). */
  where(id: string): Promise<string | undefined> {
    return this.#keys.getKey(this.#key(id));
  }

  /** Note again every stream open here (the timer; Redis back after an outage). */
  renew(): void {
    for (const id of this.#here) void this.#keys.setKey(this.#key(id), this.#replica, NOTE_MS);
  }

  close(): void {
    clearInterval(this.#timer);
  }

  /** A digest, not the id: the session id is the caller's to present, and Redis keys are listed. */
  #key(id: string): string {
    return `${this.#prefix}stream:${sessionDigest(id)}`;
  }
}
