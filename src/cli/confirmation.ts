/**
 * How the CLI shows a wait for every live gateway to apply a change (`credentials revoke`,
 * `principals revoke`, `incident open` and `incident revoke`): the same progress line while waiting,
 * and the same words for who applied it, who did not, and who stopped answering meanwhile.
 */
import { gatewayName, stoppedLine, type Confirmation } from '../incident/acks.ts';
import { progress } from './progress.ts';

/** Progress while gateways confirm (none with --json); `end()` once they did, or the wait is over. */
export function waiting(json?: boolean): { onWait?: (missing: number, of: number) => void; end(): void } {
  const p = json ? undefined : progress();
  return {
    onWait:
      p && ((missing: number, of: number) => p.update(`waiting for ${missing} of ${of} gateway(s) to confirm...`)),
    end: () => p?.end(),
  };
}

/**
 * The outcome of a wait, after `<what>; ` (or `<what>, but ` when not confirmed): `done` is what the
 * gateways did ("applied it", "stopped serving it"); gateways that stopped answering get a line of their own.
 */
export function confirmationText(what: string, c: Confirmation, timeout: string, done: string): string {
  const answering = c.gateways - c.stopped.length;
  let line: string;
  if (!c.confirmed)
    line = `${what}, but ${c.missing.length} gateway(s) did not confirm within ${timeout} s: ${c.missing.map(gatewayName).join(', ')}`;
  else if (c.gateways === 0) line = `${what}; no gateway is running (each applies it as it starts)`;
  else if (answering === 0) line = `${what}; no gateway is running any more`;
  else line = `${what}; ${answering} live gateway(s) ${done} within ${c.timeToEffectMs} ms`;
  const stopped = stoppedLine(c.stopped);
  return stopped ? `${line}\n${stopped}` : line;
}
