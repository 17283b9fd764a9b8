/**
 * A clock a test moves by hand (see src/util/clock.ts). It follows real time and adds what the test
 * advanced, so what runs for real around it (timeouts, tokens issued by a real server) still agrees
 * with it; `advance` is how a test lets an expiry or a refresh come due without waiting for it.
 */
import type { Clock } from '../../src/util/clock.ts';

export class TestClock implements Clock {
  #offset = 0;

  now(): number {
    return Date.now() + this.#offset;
  }

  /** Move time forward by `ms`. */
  advance(ms: number): void {
    if (ms < 0) throw new Error('time only moves forward');
    this.#offset += ms;
  }
}
