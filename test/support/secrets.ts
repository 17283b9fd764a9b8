/**
 * The local secret store of a test gateway's state directory, opened as the gateway opens it
 * (secrets.enc.json under the key in secrets.key, made on first use): a test sets secrets in it
 * before the gateway starts (startGateway's `before`) or while it runs (a rotation).
 */
import { join } from 'node:path';
import { LocalSecretStore, loadKey } from '../../src/credentials/local-store.ts';

export async function localSecrets(stateDir: string): Promise<LocalSecretStore> {
  return new LocalSecretStore(
    join(stateDir, 'secrets.enc.json'),
    await loadKey({ keyFile: join(stateDir, 'secrets.key') }),
  );
}
