/**
 * `local:` secrets left in the state directory's file when the store is PostgreSQL, where they are
 * kept in the shared database instead (ADR 0016): a start that finds some says what to run, and
 * `gatehouse secrets migrate` moves them (values opened with the key that sealed them and sealed
 * again for the database), then renames the file aside so no start reports it again.
 */
import { rename } from 'node:fs/promises';
import type { Logger } from '../observability/logger.ts';
import type { SecretsKeys } from './key-watch.ts';
import { keyId, LocalSecretStore, storedNames } from './local-store.ts';
import type { SharedSecretStore } from './shared-store.ts';

/** What a file with secrets is renamed to once they are in the database. */
const MIGRATED_SUFFIX = '.migrated';

/** Names only (never values), at most this many in a log line. */
const NAMES_SHOWN = 10;

/** Log, when the file holds secrets, that PostgreSQL does not read them and what moves them. Never throws. */
export async function reportFileSecrets(file: string, log: Logger): Promise<void> {
  let names: string[];
  try {
    names = await storedNames(file);
  } catch (err) {
    log.warn({ file, err: (err as Error).message }, 'secrets: the local secrets file cannot be read');
    return;
  }
  if (!names.length) return;
  log.error(
    { file, secrets: names.length, names: names.slice(0, NAMES_SHOWN) },
    `secrets: ${names.length} local: secret(s) are in this state directory's file, which a gateway on PostgreSQL does not read (every replica reads local: secrets from the database): run \`gatehouse secrets migrate\` once to move them`,
  );
}

export interface FileMigration {
  /** Names moved into the database. */
  moved: string[];
  /** Names the database held already: kept as they are there (the file's value is not used). */
  kept: string[];
  /** Where the file went (undefined: there was none, or it held nothing). */
  renamedTo?: string;
}

/** The file's secrets into the database (a name it holds already is left there), then the file renamed aside. */
export async function migrateFileSecrets(
  file: string,
  keys: SecretsKeys,
  db: SharedSecretStore,
): Promise<FileMigration> {
  const names = await storedNames(file);
  if (!names.length) return { moved: [], kept: [] };
  const held = keys.all;
  const local = new LocalSecretStore(file, keys.current, async (wanted) => held.find((k) => keyId(k) === wanted));
  const out: FileMigration = { moved: [], kept: [] };
  for (const name of names) {
    const value = await local.get(name);
    (await db.add(name, value)) ? out.moved.push(name) : out.kept.push(name);
  }
  out.renamedTo = `${file}${MIGRATED_SUFFIX}`;
  await rename(file, out.renamedTo);
  return out;
}
