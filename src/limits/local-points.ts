/**
 * The rate points a Redis limiter's replica spent locally while Redis was away, per bucket, kept
 * until Redis is told (redis.ts `#settle`, the POINTS script): without them every replica would find
 * the shared bucket as the cut left it, a fresh budget beside what each spent in its window.
 *
 * Per bucket one run of points: how many (at most the bucket's capacity: a bucket is emptied at most)
 * and when the latest was spent. A run is over once a full bucket's refill time (capacity × ms per
 * point) has passed since its latest point: those points have refilled, and a new point starts a new
 * run. Redis takes a run as spent at its latest point (or at the bucket's last change there, if later):
 * never earlier than it was, so the refill counted in between is never more than there was.
 *
 * Each run taken to be sent has an id that Redis remembers until the run would be over: a catch-up
 * whose answer was lost (a timeout; the script may have run) is sent again and counted once.
 */
import { randomUUID } from 'node:crypto';

/** A rule's token bucket, as the acquire sends it: ms to refill one point, and capacity. */
interface Rate {
  msPerPoint: number;
  capacity: number;
}

/** Points spent locally in one bucket, to be added there once Redis answers. */
export interface SpentRun extends Rate {
  /** Redis remembers it (`r-sent:<id>`) so that a retry counts once. */
  id: string;
  /** The bucket's Redis key. */
  key: string;
  points: number;
  /** Epoch ms (this replica's clock) of the latest point; sent as ms ago, so clocks need not agree. */
  last: number;
}

/** At most this many buckets' runs kept for Redis' return (the oldest go first). */
const RUNS_MAX = 10_000;

/** Whether `run`'s points have all refilled by `now`: nothing left to count. */
export function runOver(run: SpentRun, now: number): boolean {
  return now - run.last >= run.capacity * run.msPerPoint;
}

export class LocalPoints {
  readonly #runs = new Map<string, SpentRun>();

  /** Buckets with points Redis has not been told of. */
  get size(): number {
    return this.#runs.size;
  }

  /** One point spent locally in bucket `key` at `now`. */
  add(key: string, rate: Rate, now: number): void {
    const run = this.#runs.get(key);
    this.#runs.delete(key); // re-added last: the oldest runs are the first dropped past RUNS_MAX
    const fresh = !run || runOver(run, now);
    this.#runs.set(key, {
      id: fresh ? randomUUID() : run.id,
      key,
      msPerPoint: rate.msPerPoint,
      capacity: rate.capacity,
      points: fresh ? 1 : Math.min(rate.capacity, run.points + 1),
      last: now,
    });
    if (this.#runs.size > RUNS_MAX) this.#runs.delete(this.#runs.keys().next().value as string);
  }

  /** Every run not over, taken out to be sent; a point spent after this starts a new run. */
  take(now: number): SpentRun[] {
    const runs = [...this.#runs.values()].filter((r) => !runOver(r, now));
    this.#runs.clear();
    return runs;
  }

  clear(): void {
    this.#runs.clear();
  }
}
