/**
 * The event loop's delay while something runs, measured by perf_hooks (the histogram samples every
 * `resolution` ms; a blocked loop shows up as one long sample). Tests assert that hostile input is
 * refused or bounded by looking at this, not at how fast this machine happens to be.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** Run `fn` (sync or async) and return its result with the largest event-loop delay seen, in ms. */
export async function withLoopDelay<T>(fn: () => T | Promise<T>): Promise<{ value: T; maxDelayMs: number }> {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  // Let the histogram's timer arm before the work starts, and fire once more after it ends.
  await new Promise((r) => setTimeout(r, 20));
  try {
    const value = await fn();
    await new Promise((r) => setTimeout(r, 30));
    return { value, maxDelayMs: h.max / 1e6 };
  } finally {
    h.disable();
  }
}

/**
 * Run `fn` and count the turns of the event loop other work got meanwhile (a setImmediate chain):
 * 0 when `fn` never let go of the loop, however its awaits are written (resolved promises are
 * microtasks, not turns). A count, not a time: it does not depend on the machine's speed.
 */
export async function withLoopTurns<T>(fn: () => Promise<T>): Promise<{ value: T; turns: number }> {
  let turns = 0;
  let on = true;
  const tick = () => {
    turns++;
    if (on) setImmediate(tick);
  };
  setImmediate(tick);
  try {
    const value = await fn();
    return { value, turns };
  } finally {
    on = false;
  }
}
