/**
 * Polling in tests: wait until something holds instead of sleeping a fixed time. `fn` is called
 * every `intervalMs` until it returns something truthy (returned) or `timeoutMs` passes (throws,
 * with the last error `fn` threw, if any, as the cause). Timeouts are generous: a slow CI machine
 * should make a test slower, never red.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface EventuallyOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

type Falsy = false | 0 | '' | null | undefined;

export async function eventually<T>(
  fn: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 50 }: EventuallyOptions = {},
): Promise<Exclude<T, Falsy>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as Exclude<T, Falsy>;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline)
      throw new Error(`condition not met within ${timeoutMs} ms`, last === undefined ? undefined : { cause: last });
    await sleep(intervalMs);
  }
}
