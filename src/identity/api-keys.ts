/**
 * API keys for service agents and local development: `ghk_<16 hex id>_<43 base64url secret>`. Only
 * the SHA-256 of the secret is stored (the secret has 256 bits of entropy, so a fast hash is the
 * right one: nothing to brute-force); comparison is constant-time. Every request looks the key up, so
 * a revocation takes effect on the next request, on every replica. Last-used time is written at most
 * once a minute per key per process.
 */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiKeyRecord, ApiKeyStore } from '../storage/types.ts';
import { GatehouseError } from '../protocol/errors.ts';

const KEY = /^ghk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const TOUCH_EVERY_MS = 60_000;

export function looksLikeApiKey(token: string): boolean {
  return token.startsWith('ghk_');
}

const hashSecret = (secret: string) => hash('sha256', secret);

/** A new key and the record to store for it (the key itself is shown once and never stored). */
export function newApiKey(fields: Omit<ApiKeyRecord, 'id' | 'hash' | 'lastUsedAt' | 'revokedAt' | 'revokedBy'>): {
  key: string;
  record: ApiKeyRecord;
} {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return {
    key: `ghk_${id}_${secret}`,
    record: { ...fields, id, hash: hashSecret(secret), lastUsedAt: null, revokedAt: null, revokedBy: null },
  };
}

export type ApiKeyResult = { ok: true; record: ApiKeyRecord } | { ok: false; reason: string };

export class ApiKeys {
  readonly #store: ApiKeyStore;
  readonly #touched = new Map<string, number>();

  constructor(store: ApiKeyStore) {
    this.#store = store;
  }

  async verify(token: string, now = Date.now()): Promise<ApiKeyResult> {
    const m = KEY.exec(token);
    if (!m) return { ok: false, reason: 'malformed api key' };
    // A store that fails or times out says nothing about the key: the caller is told the store is
    // away (503, worth a retry), not that its key is bad, and not an internal error.
    const record = await this.#store.get(m[1]).catch((err: unknown) => {
      throw new GatehouseError('E_STORE_UNAVAILABLE', undefined, undefined, err);
    });
    // The same answer for an unknown id and a wrong secret: the id is not a secret, but there is no
    // need to confirm which ids exist.
    if (!record || !timingSafeEqual(Buffer.from(record.hash, 'hex'), Buffer.from(hashSecret(m[2]), 'hex')))
      return { ok: false, reason: 'unknown api key' };
    if (record.revokedAt !== null) return { ok: false, reason: 'api key revoked' };
    if (record.expiresAt !== null && record.expiresAt <= now) return { ok: false, reason: 'api key expired' };
    if ((this.#touched.get(record.id) ?? 0) + TOUCH_EVERY_MS <= now) {
      this.#touched.set(record.id, now);
      void this.#store.touch(record.id, now).catch(() => {});
    }
    return { ok: true, record };
  }
}

/**
 * The longest lifetime a tenant admin may give a key (the console; operators at the CLI and platform
 * admins may make keys that never expire). A year and a day: a key is rotated at least yearly.
 */
export const TENANT_KEY_MAX_DAYS = 366;

/** `90d`, `12h`, `30m` -> milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d{1,6})([dhm])$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * { d: 86_400_000, h: 3_600_000, m: 60_000 }[m[2] as 'd' | 'h' | 'm'];
}
