/**
 * The refusal budget: refused requests cost a principal points from a bucket of their own, so probing
 * (which tools exist, which arguments pass, which paths policy allows) is bounded like calling. When a
 * refusal finds the bucket empty, the principal is refused everything until it refills — on this
 * replica at once, and on the others at their next refusal (the bucket is shared through Redis when
 * limits use it).
 */
import { GatehouseError } from '../protocol/errors.ts';
import type { Limiter } from './limiter.ts';
import type { RateSpec } from './model.ts';

export const DEFAULT_REFUSALS: RateSpec = { points: 120, perSeconds: 60 };
/** Refusals the gateway caused itself (its store or a secrets manager failing) cost the caller nothing. */
const NOT_THE_CALLERS = new Set([
  'E_RATE_LIMITED',
  'E_AUDIT_UNAVAILABLE',
  'E_CREDENTIAL_UNAVAILABLE',
  'E_UPSTREAM_UNAVAILABLE',
  'E_STORE_UNAVAILABLE',
  'E_INTERNAL',
]);
const MAX_BLOCKED = 100_000;

export class RefusalBudget {
  #limiter: Limiter;
  readonly #blocked = new Map<string, number>();

  constructor(limiter: Limiter) {
    this.#limiter = limiter;
  }

  /** Refuse at once while the principal's budget is spent. */
  check(principalKey: string, now = Date.now()): void {
    const until = this.#blocked.get(principalKey);
    if (until === undefined) return;
    if (now >= until) {
      this.#blocked.delete(principalKey);
      return;
    }
    throw new GatehouseError(
      'E_RATE_LIMITED',
      `rate limited (refusals): too many refused requests; retry in ${Math.ceil((until - now) / 1000)} s`,
      { rule: 'refusals', retryAfterMs: until - now },
    );
  }

  /** A request of this principal was refused with `code`: spend a point, or block when none is left. */
  async spend(tenant: string, principalKey: string, code: string, now = Date.now()): Promise<void> {
    if (NOT_THE_CALLERS.has(code)) return;
    const r = await this.#limiter.acquire({ tenant, subject: principalKey, tool: '*' }).catch(() => undefined);
    if (!r || r.ok) return;
    if (this.#blocked.size >= MAX_BLOCKED) this.#blocked.clear();
    this.#blocked.set(principalKey, now + r.retryAfterMs);
  }

  /**
   * Count with another limiter from now on (a reload moved limits to another backend; the caller
   * closes the old one). Who is blocked stays blocked: a reload gives back nothing.
   */
  use(limiter: Limiter): void {
    this.#limiter = limiter;
  }
}
