// `local:<name>`: a secret from the embedded encrypted store (local-store.ts). The store re-reads its
// file on each resolution, so the resolver's cache TTL bounds how long a changed value takes to show.
import type { ParsedRef, SecretProvider, SecretValue } from './types.ts';
import type { LocalSecretStore } from './local-store.ts';
import { DEFAULT_CACHE_TTL_MS } from './http.ts';

export interface LocalProviderOptions {
  store: LocalSecretStore;
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
