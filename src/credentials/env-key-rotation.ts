/**
 * `gatehouse secrets rotate-key` when the key comes from the environment (replicas; ADR 0016): with
 * GATEHOUSE_SECRETS_KEY (the new key) and GATEHOUSE_SECRETS_KEY_PREVIOUS (the old one) both given,
 * everything sealed under the old key is sealed again under the new one: the `local:` secrets (the
 * database's rows with PostgreSQL, the state directory's file with SQLite), the upstream OAuth token
 * sets and the pending verifiers. Nothing is written where a key is kept: the replicas were given the
 * new key by a rolling restart, each holding the other key as previous, so every one opens what any
 * seals throughout; once this has run, the previous key opens nothing in the store any more and can
 * be taken away (another rolling restart, at leisure).
 */
import { GatehouseError } from '../protocol/errors.ts';
import type { Store } from '../storage/types.ts';
import type { SecretsKeys } from './key-watch.ts';
import { keyId, LocalSecretStore } from './local-store.ts';
import { SharedSecretStore } from './shared-store.ts';
import { type ResealTally, UpstreamOAuth } from './upstream-oauth.ts';

/** Passes over the token rows: a gateway refreshing a token meanwhile seals it under its current key. */
const MAX_PASSES = 4;

export interface EnvRotationOutcome {
  keyId: string;
  previousKeyId: string;
  /** The `local:` secrets: sealed again now, under the new key already, opened by neither key. */
  secrets: ResealTally;
  upstreamTokens: number;
  pendingVerifiers: number;
  /** Token sets and verifiers neither key opens (another key's, damaged): left as they are. */
  unreadable: number;
}

/** Re-seal what `store` (and, with SQLite, `secretsFile`) holds under `keys.current`; `keys` holds exactly two. */
export async function rotateEnvKey(store: Store, secretsFile: string, keys: SecretsKeys): Promise<EnvRotationOutcome> {
  const [current, previous] = keys.all;
  if (!previous)
    throw new GatehouseError(
      'E_CREDENTIAL_UNAVAILABLE',
      'GATEHOUSE_SECRETS_KEY_PREVIOUS is not set (or is the same key): there is no old key to re-seal from',
    );
  const secrets =
    store.driver === 'postgres'
      ? await new SharedSecretStore(store.localSecrets, keys).resealAll()
      : await resealFile(secretsFile, keys);
  const oauth = new UpstreamOAuth(store.upstreamTokens, keys);
  const out = { upstreamTokens: 0, pendingVerifiers: 0, unreadable: 0 };
  for (let pass = 1; pass <= MAX_PASSES; pass++) {
    const r = await oauth.resealAll();
    out.upstreamTokens += r.tokens.resealed;
    out.pendingVerifiers += r.pending.resealed;
    out.unreadable = r.tokens.unreadable + r.pending.unreadable;
    if (r.tokens.resealed + r.pending.resealed === 0) break;
  }
  return { keyId: keyId(current), previousKeyId: keyId(previous), secrets, ...out };
}

/** SQLite: the state directory's file under the current key (one atomic write), when it is under the previous one. */
async function resealFile(file: string, keys: SecretsKeys): Promise<ResealTally> {
  const held = keys.all;
  const local = new LocalSecretStore(file, keys.current, async (wanted) => held.find((k) => keyId(k) === wanted));
  const count = (await local.list()).length; // a file under the previous key is opened with it
  if (local.keyId === keyId(keys.current)) return { resealed: 0, current: count, unreadable: 0 };
  await local.rotateKey(keys.current);
  return { resealed: count, current: 0, unreadable: 0 };
}
