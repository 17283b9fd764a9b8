/**
 * The embedded `local:<name>` store when the store is PostgreSQL (ADR 0016): one row per name in the
 * shared database, its value sealed (util/seal.ts) under the secrets key and bound to its name, as
 * the state directory's file seals it, with the id of the key it is under. Every replica reads the
 * same rows, so `gatehouse secrets set` run once reaches them all, and a changed value is seen as a
 * changed file is (each resolution reads the row again, through the resolver's cache TTL). A row is
 * opened with any key held (the current one, or GATEHOUSE_SECRETS_KEY_PREVIOUS during a key roll) and
 * always sealed with the current one. SQLite (one node) keeps the file (local-store.ts).
 */
import type { LocalSecretRows } from '../storage/types.ts';
import { seal, unseal } from '../util/seal.ts';
import type { SecretsKeys } from './key-watch.ts';
import { checkName, keyId, type LocalSecretStore } from './local-store.ts';
import { inWords, missingLocal } from './secret-fixes.ts';
import { CredentialError } from './types.ts';
import type { ResealTally } from './upstream-oauth.ts';

/** What `local:` references read and `gatehouse secrets` writes: the file (SQLite) or the database (PostgreSQL). */
export type LocalSecrets = Pick<LocalSecretStore, 'getEntry' | 'list' | 'set' | 'delete'>;

export class SharedSecretStore implements LocalSecrets {
  readonly #rows: LocalSecretRows;
  readonly #keys: SecretsKeys;

  constructor(rows: LocalSecretRows, keys: SecretsKeys) {
    this.#rows = rows;
    this.#keys = keys;
  }

  async getEntry(name: string): Promise<{ value: string; updatedAt: string }> {
    checkName(name);
    const row = await this.#rows.get(name);
    if (!row)
      throw new CredentialError('E_SECRET_NOT_FOUND', inWords(missingLocal(name)), {
        provider: 'local',
        ref: `local:${name}`,
      });
    const { value } = await this.#keys
      .open((k) => unseal(k, name, row.sealed), false)
      .catch(() => {
        const held = this.#keys.all.map(keyId).join(', ');
        throw new CredentialError(
          'E_PROVIDER_AUTH',
          `the secret is sealed under key ${row.keyId}, and this gateway holds key(s) ${held}: give every replica the same GATEHOUSE_SECRETS_KEY (during a key roll, the other key as GATEHOUSE_SECRETS_KEY_PREVIOUS)`,
          { provider: 'local', ref: `local:${name}` },
        );
      });
    return { value, updatedAt: new Date(row.updatedAt).toISOString() };
  }

  async list(): Promise<{ name: string; updatedAt: string }[]> {
    return (await this.#rows.list()).map((r) => ({ name: r.name, updatedAt: new Date(r.updatedAt).toISOString() }));
  }

  async set(name: string, value: string): Promise<void> {
    checkName(name);
    const key = this.#keys.current;
    await this.#rows.put(name, seal(key, name, value), keyId(key), Date.now());
  }

  /** Only where the name is not taken yet (a migration from the file); whether it was stored. */
  async add(name: string, value: string): Promise<boolean> {
    checkName(name);
    const key = this.#keys.current;
    return this.#rows.add(name, seal(key, name, value), keyId(key), Date.now());
  }

  delete(name: string): Promise<boolean> {
    checkName(name);
    return this.#rows.delete(name);
  }

  /**
   * Every row under a key other than the current one sealed again under it (a row changed meanwhile
   * is left to its writer, who sealed it with its own current key); rows no held key opens are counted.
   */
  async resealAll(): Promise<ResealTally> {
    const out: ResealTally = { resealed: 0, current: 0, unreadable: 0 };
    const current = keyId(this.#keys.current);
    for (const r of await this.#rows.list()) {
      const row = r.keyId === current ? undefined : await this.#rows.get(r.name);
      if (!row || row.keyId === current) {
        out.current++;
        continue;
      }
      const opened = await this.#keys.open((k) => unseal(k, r.name, row.sealed), false).catch(() => undefined);
      if (!opened) {
        out.unreadable++;
        continue;
      }
      const again = seal(this.#keys.current, r.name, opened.value);
      if (await this.#rows.reseal(r.name, row.sealed, again, current)) out.resealed++;
      else out.current++;
    }
    return out;
  }
}
