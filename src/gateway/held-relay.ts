/**
 * A modern (2026-07-28) caller's retry of a call another replica holds. Modern requests carry no
 * session, so a load balancer cannot send the retry to the replica whose memory holds the call: the
 * replica it reaches checks the request state's seal (the key every replica shares) after the
 * pipeline has authenticated the caller and checked its answers as any request's params, then sends
 * the retry to the holder's channel with a correlation id. The holder checks it as a local retry
 * (the hold, its binding, its owner's principal and tenant), resumes the call with the scrubs of the
 * request that made it, and sends back the outcome: the result, the next `input_required`, or the
 * error. The sender answers its caller with it, waiting a bounded time.
 */
import { GatehouseError } from '../protocol/errors.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type { RelayedCancel, RelayedOutcome, RelayedRetry, ReplicaRelay } from '../sessions/replica-relay.ts';
import { resumeRelayed } from './forward.ts';
import type { ElsewhereRetry, Holds } from './holds.ts';
import { RelayCalls } from './relay-calls.ts';

/** How long the holder waits for the call's next step; the sender waits a little longer for the message. */
const WAIT_MS = 60_000;

const INVALID = 'invalid or expired request state (it may belong to another gateway replica)';

export class HeldRelay {
  readonly #relay: Pick<ReplicaRelay, 'live'>;
  readonly #calls: RelayCalls;
  readonly #holds: Holds;
  readonly #waitMs: number;

  constructor(
    relay: Pick<ReplicaRelay, 'id' | 'live' | 'send'>,
    holds: Holds,
    maxBytes: () => number,
    waitMs = WAIT_MS,
  ) {
    this.#relay = relay;
    this.#calls = new RelayCalls(relay, maxBytes);
    this.#holds = holds;
    this.#waitMs = waitMs;
  }

  /** Send a retry to the replica holding its call and wait for the outcome (the caller's next answer). */
  async send(to: string, r: ElsewhereRetry, signal: AbortSignal): Promise<JsonObject> {
    if (!this.#relay.live) throw new GatehouseError('E_INPUT_STATE', INVALID);
    const waitMs = this.#waitMs;
    const retry = (corr: string, from: string): RelayedRetry => ({ kind: 'retry', corr, from, ...r, waitMs });
    return this.#calls.call(to, retry, {
      waitMs,
      signal,
      unsent: () => new GatehouseError('E_INPUT_STATE', INVALID),
      late: (s) => `no answer in ${s} s from the gateway replica holding this call (it may have stopped)`,
    });
  }

  /** An outcome for a caller here. */
  retried(m: RelayedOutcome): void {
    this.#calls.settle(m.corr, m.outcome);
  }

  /** Another replica's caller left: its retry here stops waiting. */
  cancel(m: RelayedCancel): void {
    this.#calls.cancel(m);
  }

  /** A retry of a call held here, from another replica: resumed, and its outcome sent back. */
  async serve(m: RelayedRetry): Promise<void> {
    const waitMs = Math.min(m.waitMs, this.#waitMs);
    const late = `the call did not reach its next step within ${Math.round(waitMs / 1000)} s; it is still held: retry with the same requestState`;
    const back = (corr: string, outcome: RelayedOutcome['outcome']): RelayedOutcome => ({
      kind: 'retried',
      corr,
      outcome,
    });
    return this.#calls.serve(m, waitMs, (signal) => this.#resume(m, signal), late, back);
  }

  /** The hold, checked as a local retry checks it (its binding names the principal; the tenant too here), resumed. */
  #resume(m: RelayedRetry, signal: AbortSignal): Promise<JsonObject> {
    const at = this.#holds.locate(m.state, m.binding);
    const held = 'held' in at ? at.held : undefined;
    const owner = held?.owner;
    if (!held?.scrubs || (owner && (owner.principal !== m.principal || owner.tenant !== m.tenant)))
      throw new GatehouseError('E_INPUT_STATE', INVALID);
    const caller = { signal, clientCapabilities: m.capabilities };
    return resumeRelayed(this.#holds, held, caller, m.inputResponses, held.scrubs);
  }

  close(): void {
    this.#calls.close();
  }
}
