/**
 * The local secret store of a test gateway's state directory, opened as the gateway opens it
 * (secrets.enc.json under the key in secrets.key, made on first use): a test sets secrets in it
 * before the gateway starts (startGateway's `before`) or while it runs (a rotation). Gateways on
 * PostgreSQL read `local:` secrets from the database instead (ADR 0016): `setSharedSecrets`.
 */
import { join } from 'node:path';
import { LocalSecretStore, loadKey } from '../../src/credentials/local-store.ts';
import { loadKeys } from '../../src/credentials/held-keys.ts';
import { SharedSecretStore } from '../../src/credentials/shared-store.ts';
import { openStore } from '../../src/storage/index.ts';

export async function localSecrets(stateDir: string): Promise<LocalSecretStore> {
  return new LocalSecretStore(
    join(stateDir, 'secrets.enc.json'),
    await loadKey({ keyFile: join(stateDir, 'secrets.key') }),
  );
}

/**
 * Set `entries` (name: value) in the `local:` secrets of the PostgreSQL store at `postgresUrl`, sealed
 * with the key a gateway on `stateDir` reads (GATEHOUSE_SECRETS_KEY, else its key file), as
 * `gatehouse secrets set` does. Replicas must share that key to open them.
 */
export async function setSharedSecrets(
  stateDir: string,
  postgresUrl: string,
  entries: Record<string, string>,
): Promise<void> {
  const store = await openStore({ driver: 'postgres', postgresUrl, sqlitePath: '' });
  try {
    const secrets = new SharedSecretStore(store.localSecrets, await loadKeys(join(stateDir, 'secrets.key')));
    for (const [name, value] of Object.entries(entries)) await secrets.set(name, value);
  } finally {
    await store.close();
  }
}
