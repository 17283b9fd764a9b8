/**
 * The secrets keys a gateway (or a command) holds: the one it seals with (GATEHOUSE_SECRETS_KEY, else
 * the key file) and, while an environment key is rolled across replicas, GATEHOUSE_SECRETS_KEY_PREVIOUS:
 * a second key it opens with and never seals with (ADR 0016). Replicas restarted one by one then
 * each open what any other seals, whichever of the two keys it seals with.
 */
import { CredentialError } from './types.ts';
import { SecretsKeys } from './key-watch.ts';
import { KEY_ENV, keyProblem, loadKey, parseKey } from './local-store.ts';

export const PREVIOUS_KEY_ENV = 'GATEHOUSE_SECRETS_KEY_PREVIOUS';

/** Why GATEHOUSE_SECRETS_KEY_PREVIOUS cannot be used as set, or undefined (unset counts as usable). */
export function previousKeyProblem(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const previous = env[PREVIOUS_KEY_ENV];
  if (!previous) return undefined;
  if (!env[KEY_ENV])
    return `${PREVIOUS_KEY_ENV} is set but ${KEY_ENV} is not: the previous key is held beside a key from the environment (a key file is rotated with \`gatehouse secrets rotate-key\`)`;
  return keyProblem(previous, PREVIOUS_KEY_ENV);
}

/** The keys held: the current one first (sealed with), then the previous one when it is set and another key. */
export async function loadKeys(keyFile: string, env: NodeJS.ProcessEnv = process.env): Promise<SecretsKeys> {
  const current = await loadKey({ keyFile, env });
  const previous = env[PREVIOUS_KEY_ENV];
  if (!previous) return new SecretsKeys(current);
  const why = previousKeyProblem(env);
  if (why) throw new CredentialError('E_PROVIDER_AUTH', why, { provider: 'local' });
  const keys = new SecretsKeys(parseKey(previous, PREVIOUS_KEY_ENV));
  keys.adopt(current);
  return keys;
}
