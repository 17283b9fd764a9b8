/**
 * Revoked token principals, followed from the store: every token of a subject (of one issuer, or of
 * every issuer and the API keys acting for that person), or one token by its `jti`. Each gateway
 * re-reads the (small) list every half second, so `gatehouse principals revoke` applies everywhere
 * within a second; the check itself is a lookup in memory on every request. If the store cannot be
 * read, the last list stays in force (a revocation is never forgotten by a failed read).
 */
import type { PrincipalRevocation, PrincipalRevocationStore } from '../storage/types.ts';
import { ANONYMOUS_SUBJECT } from './principal.ts';

export interface RevocableIdentity {
  subject: string;
  issuer: string;
  via: string;
  tokenId?: string | null;
}

const REVOCATION_POLL_MS = 500;

/**
 * What revoking this subject means when it is `anonymous` at every issuer: without identity, the
 * callers that present no credential (every caller), not one person; with identity (where every
 * caller presents one already), nobody but a key or token whose subject is literally `anonymous`,
 * which keys cannot be made for (walk O). Undefined for any other revocation.
 */
export function anonymousMeaning(
  r: { kind: string; value: string; issuer: string },
  identity: boolean,
): string | undefined {
  if (r.kind !== 'subject' || r.value !== ANONYMOUS_SUBJECT || r.issuer) return undefined;
  return identity
    ? 'with identity configured every caller presents a credential already: this refuses only tokens whose subject is `anonymous`'
    : 'every caller without a credential is refused (without identity, that is every caller)';
}

export class PrincipalRevocations {
  readonly #store: PrincipalRevocationStore;
  #subjects = new Map<string, Set<string>>();
  #tokens = new Map<string, Set<string>>();
  #timer: NodeJS.Timeout | undefined;
  #loaded = false;
  onError: (err: Error) => void = () => {};

  constructor(store: PrincipalRevocationStore) {
    this.#store = store;
  }

  /** Read the list now, then every `pollMs`. Starting again restarts the one poll, never adds a second. */
  async start(pollMs = REVOCATION_POLL_MS): Promise<void> {
    await this.refresh();
    clearInterval(this.#timer);
    this.#timer = setInterval(() => void this.refresh().catch((err: Error) => this.onError(err)), pollMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  async refresh(): Promise<void> {
    this.apply(await this.#store.list());
  }

  apply(list: readonly PrincipalRevocation[]): void {
    const subjects = new Map<string, Set<string>>();
    const tokens = new Map<string, Set<string>>();
    for (const r of list) {
      const m = r.kind === 'subject' ? subjects : tokens;
      const issuers = m.get(r.value) ?? new Set<string>();
      issuers.add(r.issuer);
      m.set(r.value, issuers);
    }
    this.#subjects = subjects;
    this.#tokens = tokens;
    this.#loaded = true;
  }

  /** The reason a principal is refused, or undefined. */
  revoked(p: RevocableIdentity): string | undefined {
    const s = this.#subjects.get(p.subject);
    if (s && (s.has('') || s.has(p.issuer))) return 'principal revoked';
    if (p.tokenId) {
      const t = this.#tokens.get(p.tokenId);
      if (t && (t.has('') || t.has(p.issuer))) return 'token revoked';
    }
    return undefined;
  }
}
