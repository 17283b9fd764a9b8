/**
 * A circuit breaker for one upstream connection. A dead or drowning upstream should cost callers a
 * fast, honest refusal, not a connect timeout each: after `failures` consecutive failures, or an
 * error rate of at least `errorRate` over the last `windowMs` (once `minRequests` calls were seen),
 * the circuit opens and requests are refused at once. After `cooldownMs` it is half-open: one probe
 * request goes through; its success closes the circuit, its failure opens it again with the
 * cooldown doubled (up to `maxCooldownMs`). Pure state with an injectable clock; the upstream reports
 * outcomes, the gateway shows the state in /readyz, metrics and the audit trail.
 *
 * What counts as a failure is the caller's decision (upstream.ts): no connection, a timeout, a broken
 * or invalid response. A JSON-RPC error the upstream chose to send is an answer, not a failure.
 */
import { EventEmitter } from 'node:events';
import { doubled } from '../util/backoff.ts';

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. */
  failures: number;
  /** Failure ratio over the window that opens the circuit (0..1). */
  errorRate: number;
  /** Outcomes the window must hold before the error rate counts. */
  minRequests: number;
  windowMs: number;
  cooldownMs: number;
  maxCooldownMs: number;
}

const BREAKER_DEFAULTS: BreakerOptions = {
  failures: 5,
  errorRate: 0.5,
  minRequests: 20,
  windowMs: 30_000,
  cooldownMs: 5_000,
  maxCooldownMs: 60_000,
};

export interface CircuitChange {
  from: CircuitState;
  to: CircuitState;
  reason: string;
  /** When an open circuit lets a probe through (epoch ms), for open circuits. */
  retryAt?: number;
}

/** What admit() hands out: pass it back to success() or failure(); `probe` is the half-open trial. */
export interface Ticket {
  probe: boolean;
}

const BUCKET_MS = 1_000;

export class CircuitBreaker extends EventEmitter<{ change: [CircuitChange] }> {
  readonly options: BreakerOptions;
  readonly #now: () => number;
  #state: CircuitState = 'closed';
  #consecutive = 0;
  #openedAt = 0;
  #cooldown: number;
  #probing = false;
  /** Per-second buckets of [ok, failed] over the window. */
  #buckets = new Map<number, [number, number]>();

  constructor(options: Partial<BreakerOptions> = {}, now: () => number = Date.now) {
    super();
    this.options = { ...BREAKER_DEFAULTS, ...options };
    this.#now = now;
    this.#cooldown = this.options.cooldownMs;
  }

  get state(): CircuitState {
    if (this.#state === 'open' && this.#now() - this.#openedAt >= this.#cooldown) return 'half-open';
    return this.#state;
  }

  /** When an open circuit will let a probe through (epoch ms); undefined unless open. */
  get retryAt(): number | undefined {
    return this.#state === 'open' ? this.#openedAt + this.#cooldown : undefined;
  }

  /** May a request go now? undefined: refuse it (open, or half-open with its probe already out). */
  admit(): Ticket | undefined {
    const s = this.state;
    if (s === 'closed') return { probe: false };
    if (s === 'open' || this.#probing) return undefined;
    if (this.#state === 'open') this.#move('half-open', `cooldown of ${this.#cooldown} ms over: one probe request`);
    this.#probing = true;
    return { probe: true };
  }

  success(t: Ticket): void {
    this.#count(true);
    this.#consecutive = 0;
    if (t.probe) {
      this.#probing = false;
      this.#cooldown = this.options.cooldownMs;
      this.#buckets.clear();
      this.#move('closed', 'the probe request succeeded');
    }
  }

  failure(t: Ticket, why = 'failed'): void {
    this.#count(false);
    this.#consecutive++;
    if (t.probe) {
      this.#probing = false;
      this.#cooldown = doubled(this.#cooldown, this.options.maxCooldownMs);
      this.#open(`the probe request ${why}`);
      return;
    }
    if (this.#state !== 'closed') return;
    if (this.#consecutive >= this.options.failures) {
      this.#open(`${this.#consecutive} consecutive failures (last: ${why})`);
      return;
    }
    const [ok, failed] = this.#window();
    if (ok + failed >= this.options.minRequests && failed / (ok + failed) >= this.options.errorRate) {
      this.#open(`${failed} of the last ${ok + failed} requests failed (last: ${why})`);
    }
  }

  /** A request admitted but never finished (cancelled by its caller): frees the probe slot, counts nothing. */
  release(t: Ticket): void {
    if (t.probe) this.#probing = false;
  }

  snapshot(): {
    state: CircuitState;
    consecutiveFailures: number;
    window: { ok: number; failed: number };
    retryAt?: number;
  } {
    const [ok, failed] = this.#window();
    return { state: this.state, consecutiveFailures: this.#consecutive, window: { ok, failed }, retryAt: this.retryAt };
  }

  #open(reason: string): void {
    this.#openedAt = this.#now();
    this.#move('open', reason);
  }

  #move(to: CircuitState, reason: string): void {
    const from = this.#state;
    this.#state = to;
    if (from !== to || to === 'open')
      this.emit('change', { from, to, reason, retryAt: to === 'open' ? this.#openedAt + this.#cooldown : undefined });
  }

  #count(ok: boolean): void {
    const key = Math.floor(this.#now() / BUCKET_MS);
    const b = this.#buckets.get(key) ?? [0, 0];
    b[ok ? 0 : 1]++;
    this.#buckets.set(key, b);
    if (this.#buckets.size > this.options.windowMs / BUCKET_MS + 2) this.#window();
  }

  /** [ok, failed] within the window; older buckets are dropped. */
  #window(): [number, number] {
    const oldest = Math.floor((this.#now() - this.options.windowMs) / BUCKET_MS);
    let ok = 0;
    let failed = 0;
    for (const [k, [o, f]] of this.#buckets) {
      if (k <= oldest) this.#buckets.delete(k);
      else {
        ok += o;
        failed += f;
      }
    }
    return [ok, failed];
  }
}
