// SecretResolver: references -> values through the registered providers, with a cache.
//
// The cache is keyed by the EXPANDED reference (after {tenant}/{env}), so two tenants never share an
// entry. Each entry lives until the provider's `expiresAt`. Concurrent resolutions of one reference
// share one provider call. `purge()` drops entries (and detaches in-flight fetches, whose result is then
// not cached), which is what revocation and rotation build on.
//
// A caller's AbortSignal only abandons that caller's wait: the shared fetch keeps running for the
// others, bounded by the provider's own timeouts.
import { CredentialError, expandReference, parseReference } from './types.ts';
import type { ExpansionContext, SecretProvider, SecretValue } from './types.ts';

export interface SecretResolverOptions {
  providers?: SecretProvider[];
  /** bound on cached entries; the oldest are dropped first (default 10 000) */
  maxEntries?: number;
  now?: () => number;
}

export interface ResolveOptions {
  /** fills {tenant} and {env}; without it, placeholders are an error */
  context?: ExpansionContext;
  signal?: AbortSignal;
}

interface InFlight {
  promise: Promise<SecretValue>;
  /** set by purge(): the result goes to the waiting callers but not into the cache */
  detached: boolean;
}

export class SecretResolver {
  readonly #providers = new Map<string, SecretProvider>();
  readonly #cache = new Map<string, SecretValue>();
  readonly #inFlight = new Map<string, InFlight>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(opts: SecretResolverOptions = {}) {
    for (const p of opts.providers ?? []) this.register(p);
    this.#maxEntries = opts.maxEntries ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  register(provider: SecretProvider): void {
    if (this.#providers.has(provider.scheme))
      throw new Error(`a provider for ${provider.scheme}: is already registered`);
    this.#providers.set(provider.scheme, provider);
  }

  has(scheme: string): boolean {
    return this.#providers.has(scheme);
  }

  /** Expand (when a context is given), parse, and resolve one reference. */
  async resolve(ref: string, opts: ResolveOptions = {}): Promise<SecretValue> {
    const key = opts.context ? expandReference(ref, opts.context) : ref;
    if (!opts.context && /\{[^{}]*\}/.test(key)) {
      throw new CredentialError('E_REF_INVALID', 'reference has placeholders but no tenant/environment was given', {
        ref,
      });
    }
    const parsed = parseReference(key);
    const provider = this.#providers.get(parsed.scheme);
    if (!provider)
      throw new CredentialError('E_REF_INVALID', `no provider for ${parsed.scheme}: is configured`, { ref: key });

    const hit = this.#cache.get(key);
    if (hit) {
      if (hit.expiresAt > this.#now()) return hit;
      this.#cache.delete(key);
    }
    opts.signal?.throwIfAborted();

    let flight = this.#inFlight.get(key);
    if (!flight) {
      const mine: InFlight = { promise: undefined as unknown as Promise<SecretValue>, detached: false };
      mine.promise = provider
        .resolve(parsed)
        .then((value) => {
          if (!mine.detached && value.expiresAt > this.#now()) this.#store(key, value);
          return value;
        })
        .finally(() => {
          // A purge may already have replaced the entry with a newer fetch.
          if (this.#inFlight.get(key) === mine) this.#inFlight.delete(key);
        });
      this.#inFlight.set(key, mine);
      flight = mine;
    }
    return opts.signal ? raceAbort(flight.promise, opts.signal) : flight.promise;
  }

  /**
   * Drop one expanded reference, the references a predicate selects, or everything. In-flight fetches
   * of the dropped references are detached: their callers still get the value, but it is not cached.
   */
  purge(ref?: string | ((ref: string) => boolean)): void {
    const match = refMatcher(ref);
    for (const k of [...this.#cache.keys()]) if (match(k)) this.#cache.delete(k);
    for (const [k, flight] of [...this.#inFlight]) {
      if (!match(k)) continue;
      flight.detached = true;
      this.#inFlight.delete(k);
    }
  }

  /** Cached references (never values), for diagnostics. */
  cachedReferences(): string[] {
    return [...this.#cache.keys()];
  }

  async close(): Promise<void> {
    this.purge();
    await Promise.allSettled([...this.#providers.values()].map((p) => p.close?.()));
  }

  #store(key: string, value: SecretValue): void {
    this.#cache.delete(key);
    this.#cache.set(key, value);
    // Map iteration order is insertion order: the first key is the oldest.
    for (const oldest of this.#cache.keys()) {
      if (this.#cache.size <= this.#maxEntries) break;
      this.#cache.delete(oldest);
    }
  }
}

/** Which references `purge` drops: all (no argument), one by name, or those a predicate selects. */
function refMatcher(ref?: string | ((ref: string) => boolean)): (ref: string) => boolean {
  if (ref === undefined) return () => true;
  if (typeof ref === 'string') return (k) => k === ref;
  return ref;
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
