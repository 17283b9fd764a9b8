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
import { randomBytes } from 'node:crypto';
import { GatehouseError, isErrorCode, UpstreamRpcError } from '../protocol/errors.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type {
  RelayedCancel,
  RelayedOutcome,
  RelayedRetry,
  ReplicaRelay,
  RetryOutcome,
} from '../sessions/replica-relay.ts';
import { resumeRelayed } from './forward.ts';
import type { ElsewhereRetry, Holds } from './holds.ts';

/** How long the holder waits for the call's next step; the sender waits a little longer for the message. */
const WAIT_MS = 60_000;
const SLACK_MS = 3_000;

const INVALID = 'invalid or expired request state (it may belong to another gateway replica)';

export class HeldRelay {
  readonly #relay: Pick<ReplicaRelay, 'id' | 'live' | 'send'>;
  readonly #holds: Holds;
  readonly #maxBytes: () => number;
  readonly #waitMs: number;
  /** Callers here waiting for an outcome from another replica, by correlation id. */
  readonly #waiting = new Map<string, (o: RetryOutcome) => void>();
  /** Retries of other replicas' callers being served here, by correlation id (their caller may leave). */
  readonly #serving = new Map<string, AbortController>();

  constructor(
    relay: Pick<ReplicaRelay, 'id' | 'live' | 'send'>,
    holds: Holds,
    maxBytes: () => number,
    waitMs = WAIT_MS,
  ) {
    this.#relay = relay;
    this.#holds = holds;
    this.#maxBytes = maxBytes;
    this.#waitMs = waitMs;
  }

  /** Send a retry to the replica holding its call and wait for the outcome (the caller's next answer). */
  async send(to: string, r: ElsewhereRetry, signal: AbortSignal): Promise<JsonObject> {
    if (!this.#relay.live) throw new GatehouseError('E_INPUT_STATE', INVALID);
    if (signal.aborted) throw new GatehouseError('E_CANCELLED');
    const corr = randomBytes(12).toString('base64url');
    let timer: NodeJS.Timeout | undefined;
    let onAbort = () => {};
    const outcome = new Promise<RetryOutcome | 'late' | 'left'>((resolve) => {
      this.#waiting.set(corr, resolve);
      timer = setTimeout(() => resolve('late'), this.#waitMs + SLACK_MS);
      onAbort = () => resolve('left');
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const m: RelayedRetry = { kind: 'retry', corr, from: this.#relay.id, ...r, waitMs: this.#waitMs };
      if (!(await this.#relay.send(to, m))) throw new GatehouseError('E_INPUT_STATE', INVALID);
      const o = await outcome;
      if (o === 'left') {
        const cancel: RelayedCancel = { kind: 'cancel', corr };
        void this.#relay.send(to, cancel);
        throw new GatehouseError('E_CANCELLED');
      }
      if (o === 'late')
        throw new GatehouseError(
          'E_UPSTREAM_TIMEOUT',
          `no answer in ${Math.round((this.#waitMs + SLACK_MS) / 1000)} s from the gateway replica holding this call (it may have stopped)`,
        );
      return fromOutcome(o);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      this.#waiting.delete(corr);
    }
  }

  /** An outcome for a caller here. */
  retried(m: RelayedOutcome): void {
    this.#waiting.get(m.corr)?.(m.outcome);
  }

  /** Another replica's caller left: its retry here stops waiting. */
  cancel(m: RelayedCancel): void {
    this.#serving.get(m.corr)?.abort('left');
  }

  /** A retry of a call held here, from another replica: resumed, and its outcome sent back. */
  async serve(m: RelayedRetry): Promise<void> {
    let outcome = await this.#outcome(m);
    if (Buffer.byteLength(JSON.stringify(outcome)) > this.#maxBytes())
      outcome = {
        gatehouse: {
          code: 'E_UPSTREAM_TOO_LARGE',
          message: 'upstream response too large to pass between gateway replicas (over gateway.maxBodyBytes)',
        },
      };
    const back: RelayedOutcome = { kind: 'retried', corr: m.corr, outcome };
    await this.#relay.send(m.from, back);
  }

  async #outcome(m: RelayedRetry): Promise<RetryOutcome> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort('late'), Math.min(m.waitMs, this.#waitMs));
    this.#serving.set(m.corr, abort);
    try {
      const at = this.#holds.locate(m.state, m.binding);
      const held = 'held' in at ? at.held : undefined;
      // The owner as a local retry is checked (its binding names the principal; the tenant too here).
      const owner = held?.owner;
      if (!held?.scrubs || (owner && (owner.principal !== m.principal || owner.tenant !== m.tenant)))
        throw new GatehouseError('E_INPUT_STATE', INVALID);
      const caller = { signal: abort.signal, clientCapabilities: m.capabilities };
      return { result: await resumeRelayed(this.#holds, held, caller, m.inputResponses, held.scrubs) };
    } catch (err) {
      if (abort.signal.reason === 'late')
        return {
          gatehouse: {
            code: 'E_UPSTREAM_TIMEOUT',
            message: `the call did not reach its next step within ${Math.round(Math.min(m.waitMs, this.#waitMs) / 1000)} s; it is still held: retry with the same requestState`,
          },
        };
      return toOutcome(err);
    } finally {
      clearTimeout(timer);
      this.#serving.delete(m.corr);
    }
  }

  close(): void {
    for (const a of this.#serving.values()) a.abort('left');
  }
}

/** An error as it crosses to the other replica: the gateway's own by its code, an upstream's JSON-RPC error as it is. */
export function toOutcome(err: unknown): RetryOutcome {
  if (err instanceof GatehouseError) return { gatehouse: { code: err.code, message: err.message, data: err.data } };
  if (err instanceof UpstreamRpcError) return { rpc: { code: err.rpcCode, message: err.message, data: err.data } };
  return { gatehouse: { code: 'E_INTERNAL', message: 'internal error' } };
}

/** An outcome from the other replica as the caller here gets it: the result, or the error thrown again. */
export function fromOutcome(o: RetryOutcome): JsonObject {
  if ('result' in o) return o.result;
  if ('rpc' in o) throw new UpstreamRpcError(o.rpc.code, o.rpc.message, o.rpc.data);
  const { code, message, data } = o.gatehouse;
  throw isErrorCode(code) ? new GatehouseError(code, message, data) : new GatehouseError('E_INTERNAL');
}
