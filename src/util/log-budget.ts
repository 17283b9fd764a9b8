/**
 * What others make the gateway log is bounded: an upstream writes stderr lines, or messages the
 * gateway drops, and clients open connections the gateway refuses, as fast as they like, and the log
 * must not grow with it. At most `burst` lines per `windowMs` per source; the first line after a
 * quiet window says how many were left out.
 */
export class LogBudget {
  #windowStart = -Infinity;
  #inWindow = 0;
  #suppressed = 0;
  readonly burst: number;
  readonly windowMs: number;
  constructor(burst = 20, windowMs = 10_000) {
    this.burst = burst;
    this.windowMs = windowMs;
  }

  line(now: number, emit: (suppressedBefore: number) => void): void {
    if (now - this.#windowStart >= this.windowMs) {
      this.#windowStart = now;
      this.#inWindow = 0;
    }
    if (this.#inWindow >= this.burst) {
      this.#suppressed++;
      return;
    }
    this.#inWindow++;
    const n = this.#suppressed;
    this.#suppressed = 0;
    emit(n);
  }
}
