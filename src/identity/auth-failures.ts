/**
 * Authentication failures go into the audit trail, aggregated and bounded: the first failure of a
 * kind (reason, issuer, claimed tenant, caller address) in a window is recorded at once; repeats in
 * the window are counted and recorded as one summary when it ends. At most `maxKinds` kinds are kept
 * per window; the rest are counted together, so a flood of bad tokens costs a few records, not one
 * per request, and still leaves a trace.
 */
import type { AuditInput } from '../audit/log.ts';

export interface AuthFailure {
  reason: string;
  /** The error code the caller got. */
  code: string;
  issuer?: string;
  subject?: string;
  /** The tenant the credential claimed (not granted). */
  tenant?: string;
  remote?: string;
  via?: string;
}

interface Bucket {
  first: AuthFailure;
  count: number;
}

export class AuthFailures {
  readonly #record: (input: AuditInput) => Promise<unknown>;
  readonly #windowMs: number;
  readonly #maxKinds: number;
  #buckets = new Map<string, Bucket>();
  #overflow = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(record: (input: AuditInput) => Promise<unknown>, opts: { windowMs?: number; maxKinds?: number } = {}) {
    this.#record = record;
    this.#windowMs = opts.windowMs ?? 10_000;
    this.#maxKinds = opts.maxKinds ?? 100;
  }

  note(f: AuthFailure): void {
    const key = JSON.stringify([f.reason, f.code, f.issuer ?? '', f.subject ?? '', f.tenant ?? '', f.remote ?? '']);
    const b = this.#buckets.get(key);
    if (b) {
      b.count++;
      return;
    }
    if (this.#buckets.size >= this.#maxKinds) {
      this.#overflow++;
      this.#arm();
      return;
    }
    this.#buckets.set(key, { first: f, count: 1 });
    void this.#write(f, 1, false);
    this.#arm();
  }

  #arm(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => this.flush(), this.#windowMs);
    this.#timer.unref();
  }

  /** Record what the window counted beyond the first of each kind, and start a new window. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const buckets = this.#buckets;
    const overflow = this.#overflow;
    this.#buckets = new Map();
    this.#overflow = 0;
    for (const b of buckets.values()) if (b.count > 1) void this.#write(b.first, b.count - 1, true);
    if (overflow)
      void this.#write({ reason: 'other authentication failures', code: 'E_INVALID_TOKEN' }, overflow, true);
  }

  async #write(f: AuthFailure, count: number, repeated: boolean): Promise<void> {
    await this.#record({
      kind: 'call.refused',
      stage: 'authenticate',
      outcome: 'refused',
      error: f.code,
      ...(f.subject || f.tenant
        ? { actor: { subject: f.subject ?? '', tenant: f.tenant ?? '', via: f.via ?? '', issuer: f.issuer ?? '' } }
        : {}),
      detail: {
        event: 'authentication failed',
        reason: f.reason,
        count,
        windowMs: this.#windowMs,
        repeated,
        ...(f.issuer ? { issuer: f.issuer } : {}),
        ...(f.remote ? { remote: f.remote } : {}),
      },
    }).catch(() => undefined);
  }

  close(): void {
    this.flush();
  }
}
