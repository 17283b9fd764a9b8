/**
 * A request from one replica to another over the replica relay, and its answer: what a held call's
 * retry (held-relay.ts) and a task's tasks/* request (task-relay.ts) share. The sender sends a
 * message with a correlation id and waits, bounded, for the outcome sent back to its own channel; a
 * caller that leaves sends a cancel, which aborts the work on the other replica. The serving replica
 * runs the work under an abort signal bounded in time and sends back the result, the gateway's error
 * by its code, or the upstream's JSON-RPC error as it is, never more than gateway.maxBodyBytes.
 * What the work says on the way for the caller (progress and log messages) goes back too, before the
 * outcome: the first MAX_NOTES, each at most MAX_NOTE_BYTES (both ends count).
 */
import { randomBytes } from 'node:crypto';
import { GatehouseError, isErrorCode, UpstreamRpcError } from '../protocol/errors.ts';
import type { JsonObject, JsonRpcNotification } from '../protocol/jsonrpc.ts';
import type {
  RelayedCancel,
  RelayedNote,
  RelayMessage,
  ReplicaRelay,
  RetryOutcome,
} from '../sessions/replica-relay.ts';

/** How much longer than the work may take the sender waits for the message back. */
const SLACK_MS = 3_000;
/** Progress and log messages one request passes back, at most, and the size of each (JSON). */
const MAX_NOTES = 100;
const MAX_NOTE_BYTES = 32 * 1024;

type Relay = Pick<ReplicaRelay, 'id' | 'send'> & Partial<Pick<ReplicaRelay, 'sendHeard'>>;

export interface CallOptions {
  /** How long the work may take on the other replica; the sender waits SLACK_MS more. */
  waitMs: number;
  signal: AbortSignal;
  /** Send only where a replica listens (`sendHeard`): one that stopped is known at once. */
  heard?: boolean;
  /** The error when the message could not be sent (or no one heard it). */
  unsent: () => GatehouseError;
  /** Says what waited for what when no answer came in time (the sender's wait, in seconds). */
  late: (seconds: number) => string;
  /** What the work says on the way for the caller (progress and log messages), as it arrives. */
  onNote?: (n: JsonRpcNotification) => void;
}

export class RelayCalls {
  readonly #relay: Relay;
  readonly #maxBytes: () => number;
  /** Callers here waiting for another replica's outcome, by correlation id. */
  readonly #waiting = new Map<string, (o: RetryOutcome) => void>();
  /** Where their notes go, and how many more are taken. */
  readonly #notes = new Map<string, { to: (n: JsonRpcNotification) => void; left: number }>();
  /** Work done here for other replicas' callers, by correlation id (their caller may leave). */
  readonly #serving = new Map<string, AbortController>();

  constructor(relay: Relay, maxBytes: () => number) {
    this.#relay = relay;
    this.#maxBytes = maxBytes;
  }

  get id(): string {
    return this.#relay.id;
  }

  /** Send the message `make` builds (with its correlation id and this replica's) to `to`, and wait for its outcome. */
  async call(to: string, make: (corr: string, from: string) => RelayMessage, o: CallOptions): Promise<JsonObject> {
    if (o.signal.aborted) throw new GatehouseError('E_CANCELLED');
    const corr = randomBytes(12).toString('base64url');
    let timer: NodeJS.Timeout | undefined;
    let onAbort = () => {};
    const outcome = new Promise<RetryOutcome | 'late' | 'left'>((resolve) => {
      this.#waiting.set(corr, resolve);
      if (o.onNote) this.#notes.set(corr, { to: o.onNote, left: MAX_NOTES });
      timer = setTimeout(() => resolve('late'), o.waitMs + SLACK_MS);
      onAbort = () => resolve('left');
      o.signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const m = make(corr, this.#relay.id);
      const sent = o.heard && this.#relay.sendHeard ? this.#relay.sendHeard(to, m) : this.#relay.send(to, m);
      if (!(await sent)) throw o.unsent();
      const got = await outcome;
      if (got === 'left') {
        const cancel: RelayedCancel = { kind: 'cancel', corr };
        void this.#relay.send(to, cancel);
        throw new GatehouseError('E_CANCELLED');
      }
      if (got === 'late')
        throw new GatehouseError('E_UPSTREAM_TIMEOUT', o.late(Math.round((o.waitMs + SLACK_MS) / 1000)));
      return fromOutcome(got);
    } finally {
      clearTimeout(timer);
      o.signal.removeEventListener('abort', onAbort);
      this.#waiting.delete(corr);
      this.#notes.delete(corr);
    }
  }

  /** A note for a caller here, while it waits (bounded; one for no one waiting is ignored). */
  note(m: RelayedNote): void {
    const w = this.#notes.get(m.corr);
    if (!w || w.left <= 0 || Buffer.byteLength(JSON.stringify(m.note)) > MAX_NOTE_BYTES) return;
    w.left--;
    w.to(m.note);
  }

  /** An outcome for a caller here (a correlation id no one here waits for is ignored). */
  settle(corr: string, outcome: RetryOutcome): void {
    this.#waiting.get(corr)?.(outcome);
  }

  /** Another replica's caller left: the work done here for it is aborted. */
  cancel(m: RelayedCancel): void {
    this.#serving.get(m.corr)?.abort('left');
  }

  /**
   * Do `work` for another replica's caller, aborted after `waitMs` (then the outcome is `late`'s) or
   * when the caller leaves, and send its outcome back with `back`.
   */
  async serve(
    m: { corr: string; from: string },
    waitMs: number,
    work: (signal: AbortSignal, note: (n: JsonRpcNotification) => void) => Promise<JsonObject>,
    late: string,
    back: (corr: string, outcome: RetryOutcome) => RelayMessage,
  ): Promise<void> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort('late'), waitMs);
    this.#serving.set(m.corr, abort);
    let left = MAX_NOTES;
    // Sent in order on one connection, so each arrives before the outcome sent after it.
    const note = (n: JsonRpcNotification) => {
      if (left <= 0 || Buffer.byteLength(JSON.stringify(n)) > MAX_NOTE_BYTES) return;
      left--;
      void this.#relay.send(m.from, { kind: 'note', corr: m.corr, note: n });
    };
    let outcome: RetryOutcome;
    try {
      outcome = { result: await work(abort.signal, note) };
    } catch (err) {
      outcome =
        abort.signal.reason === 'late' ? { gatehouse: { code: 'E_UPSTREAM_TIMEOUT', message: late } } : toOutcome(err);
    } finally {
      clearTimeout(timer);
      this.#serving.delete(m.corr);
    }
    if (Buffer.byteLength(JSON.stringify(outcome)) > this.#maxBytes())
      outcome = {
        gatehouse: {
          code: 'E_UPSTREAM_TOO_LARGE',
          message: 'upstream response too large to pass between gateway replicas (over gateway.maxBodyBytes)',
        },
      };
    await this.#relay.send(m.from, back(m.corr, outcome));
  }

  close(): void {
    for (const a of this.#serving.values()) a.abort('left');
  }
}

/** An error as it crosses to the other replica: the gateway's own by its code, an upstream's JSON-RPC error as it is. */
function toOutcome(err: unknown): RetryOutcome {
  if (err instanceof GatehouseError) return { gatehouse: { code: err.code, message: err.message, data: err.data } };
  if (err instanceof UpstreamRpcError) return { rpc: { code: err.rpcCode, message: err.message, data: err.data } };
  return { gatehouse: { code: 'E_INTERNAL', message: 'internal error' } };
}

function fromOutcome(o: RetryOutcome): JsonObject {
  if ('result' in o) return o.result;
  if ('rpc' in o) throw new UpstreamRpcError(o.rpc.code, o.rpc.message, o.rpc.data);
  const { code, message, data } = o.gatehouse;
  throw isErrorCode(code) ? new GatehouseError(code, message, data) : new GatehouseError('E_INTERNAL');
}
