// `local:<name>`: a secret from the embedded encrypted store: the state directory's file (local-store.ts)
// with SQLite, the shared database (shared-store.ts) with PostgreSQL. Either is read again on each
// resolution, so the resolver's cache TTL bounds how long a changed value takes to show.
import type { ParsedRef, SecretProvider, SecretValue } from './types.ts';
import type { LocalSecrets } from './shared-store.ts';
import { DEFAULT_CACHE_TTL_MS } from './http.ts';

export interface LocalProviderOptions {
  store: LocalSecrets;
  cacheTtlMs?: number;
  now?: () => number;
}

export class LocalProvider implements SecretProvider {
  readonly scheme = 'local';
  readonly #opts: LocalProviderOptions;

  constructor(opts: LocalProviderOptions) {
    this.#opts = opts;
  }

  async resolve(ref: ParsedRef): Promise<SecretValue> {
    const entry = await this.#opts.store.getEntry(ref.path);
    const now = (this.#opts.now ?? Date.now)();
    return {
      value: entry.value,
      fetchedAt: now,
      expiresAt: now + (this.#opts.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS),
      version: entry.updatedAt,
    };
  }
}
