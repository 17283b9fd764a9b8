// `env:<NAME>`: a secret from the gateway's own environment. Meant for development; an empty variable
// counts as missing.
import { CredentialError } from './types.ts';
import type { ParsedRef, SecretProvider, SecretValue } from './types.ts';
import { DEFAULT_CACHE_TTL_MS } from './http.ts';
import { inWords, missingEnv } from './secret-fixes.ts';

export interface EnvProviderOptions {
  /** default: process.env, read at each resolution */
  env?: NodeJS.ProcessEnv;
  cacheTtlMs?: number;
  now?: () => number;
}

export class EnvProvider implements SecretProvider {
  readonly scheme = 'env';
  readonly #opts: EnvProviderOptions;

  constructor(opts: EnvProviderOptions = {}) {
    this.#opts = opts;
  }

  async resolve(ref: ParsedRef): Promise<SecretValue> {
    const env = this.#opts.env ?? process.env;
    const value = Object.hasOwn(env, ref.path) ? env[ref.path] : undefined;
    if (!value)
      throw new CredentialError('E_SECRET_NOT_FOUND', inWords(missingEnv(ref.path)), {
        provider: 'env',
        ref: ref.raw,
      });
    const now = (this.#opts.now ?? Date.now)();
    return { value, fetchedAt: now, expiresAt: now + (this.#opts.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS) };
  }
}
