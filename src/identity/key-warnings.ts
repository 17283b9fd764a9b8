/**
 * An issuer whose keys cannot be fetched (its discovery document or its JWKS) refuses every token it
 * signed with `invalid token: issuer keys unavailable`; the operator has to hear of it from the
 * gateway's log, not from callers. One warning per issuer a minute at most, naming the issuer and the
 * reason (never a token), with how many failures the pause left unsaid.
 */
const EVERY_MS = 60_000;

interface Seen {
  loggedAt: number;
  unsaid: number;
}

export class IssuerKeyWarnings {
  readonly #warn: (fields: Record<string, unknown>, msg: string) => void;
  readonly #everyMs: number;
  readonly #seen = new Map<string, Seen>();

  constructor(warn: (fields: Record<string, unknown>, msg: string) => void, everyMs = EVERY_MS) {
    this.#warn = warn;
    this.#everyMs = everyMs;
  }

  note(issuer: string, reason: string, now = Date.now()): void {
    const s = this.#seen.get(issuer);
    if (s && now - s.loggedAt < this.#everyMs) {
      s.unsaid++;
      return;
    }
    this.#warn(
      { issuer, reason, ...(s?.unsaid ? { failuresSinceLastWarning: s.unsaid } : {}) },
      'identity: the keys of an issuer cannot be fetched; its tokens are refused (invalid token: issuer keys unavailable)',
    );
    this.#seen.set(issuer, { loggedAt: now, unsaid: 0 });
  }
}
