/**
 * A running gateway's own secrets key: scrubbed with the config's own secrets from what its servers
 * print (at start, each reload, each rotation), its id (never the key) recorded beside the gateway's
 * heartbeat for `gatehouse check` 2.7, and `gatehouse secrets rotate-key` followed without a restart
 * (key-watch.ts): from the rotation on, new values are sealed under the new key, and what this gateway
 * sealed under the old one before it noticed is sealed again, the store's log of the old versions
 * emptied (rotate-key re-sealed the rest).
 */
import type { Config } from '../config/schema.ts';
import { gatewaySecretValues } from '../config/gateway-secrets.ts';
import type { Logger } from '../observability/logger.ts';
import type { Store } from '../storage/types.ts';
import type { UpstreamOAuth } from './upstream-oauth.ts';
import type { SecretScrubber } from './scrub.ts';
import { type KeyFileWatch, type SecretsKeys, watchKeyFile } from './key-watch.ts';
import { KEY_ENV, keyId } from './local-store.ts';
import { rotateSecretsKey } from './key-rotation.ts';

/** How long a gateway that re-sealed tokens after a key rotation tries to empty the store's log. */
const KEY_LOG_MS = 30_000;

/**
 * At start, before the key is read: a `gatehouse secrets rotate-key` that was interrupted (its new key
 * still beside the key file) is finished here, so the gateway starts on the new key with every sealed
 * value under it. One that cannot be finished is logged, and the gateway starts on the key file's key
 * (what is under the new one still opens through it, key-watch.ts).
 */
export async function finishInterruptedRotation(
  p: {
    keyFile: string;
    secretsFile: string;
    store: Pick<Store, 'driver' | 'upstreamTokens' | 'localSecrets' | 'emptyLog'>;
  },
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  if (env[KEY_ENV]) return; // rotate-key never rotates that key
  try {
    const r = await rotateSecretsKey(
      {
        keyFile: p.keyFile,
        secretsFile: p.secretsFile,
        tokens: p.store.upstreamTokens,
        secrets: p.store.driver === 'postgres' ? p.store.localSecrets : undefined,
        onStep: (text) => log.warn(`secrets key: ${text}`),
      },
      true,
    );
    if (!r) return;
    log.warn(
      { keyId: r.keyId, upstreamTokens: r.upstreamTokens, alreadyUnderNewKey: r.upstreamTokensUnderNewKeyAlready },
      'secrets key: the interrupted rotation is finished',
    );
    // The store log's earlier versions of the rows re-sealed go too, as after rotate-key (not waited for).
    void p.store
      .emptyLog?.(KEY_LOG_MS)
      .then((emptied) => {
        if (!emptied)
          log.warn(
            'the store log still holds upstream tokens sealed under the old key: it is emptied at the next rotation or stop',
          );
      })
      .catch((err: Error) => log.warn({ err: err.message }, 'the store log was not emptied after the key rotation'));
  } catch (err) {
    log.error(
      { err: (err as Error).message },
      'secrets key: an interrupted rotation could not be finished: run `gatehouse secrets rotate-key` to finish it',
    );
  }
}

export interface OwnKeyParts {
  keys: SecretsKeys;
  scrubber: SecretScrubber;
  store: Pick<Store, 'revocations' | 'emptyLog'>;
  /** The gateway's audit stream: the heartbeat's name, beside which the key's id is recorded. */
  stream: string;
  /** The upstream OAuth tokens sealed under the key, when any server uses upstream OAuth. */
  oauth: () => UpstreamOAuth | undefined;
  config: () => Config;
  log: Logger;
}

export class OwnKey {
  readonly #p: OwnKeyParts;
  #watch: KeyFileWatch | undefined;

  constructor(p: OwnKeyParts) {
    this.#p = p;
  }

  /** The gateway's own secrets (those of `config`, and every key held) are scrubbed from now on. */
  scrub(config: Config): void {
    this.#p.scrubber.own(this.#p.keys.all.flatMap((k) => gatewaySecretValues(config, process.env, k)));
  }

  /**
   * The id of the key in force, and of the one held beside it (GATEHOUSE_SECRETS_KEY_PREVIOUS, or the
   * key a rotation replaced), recorded in the store beside this gateway's heartbeat: check 2.7 takes a
   * key roll where every gateway opens what any seals.
   */
  record(): Promise<void> {
    const [current, other] = this.#p.keys.all;
    return this.#p.store.revocations.recordKeyId(this.#p.stream, keyId(current), Date.now(), other && keyId(other));
  }

  /** Follow the key file (none when the key comes from the environment). */
  watch(keyFile: string): void {
    this.#watch = watchKeyFile(keyFile, this.#p.keys, (k) => this.#rotated(k));
    this.#watch?.start();
  }

  stop(): void {
    this.#watch?.stop();
  }

  /** `gatehouse secrets rotate-key` moved a new key in: scrubbed, recorded, sealed with from now on. */
  #rotated(key: Buffer): void {
    const { log, store } = this.#p;
    this.scrub(this.#p.config());
    log.info({ keyId: keyId(key) }, 'secrets key rotated: sealing under the new key');
    void this.record().catch((err: Error) =>
      log.warn({ err: err.message }, 'the new secrets key id is recorded at the next rotation or start'),
    );
    // What this gateway sealed under the old key before it noticed (rotate-key re-sealed the rest).
    void this.#p
      .oauth()
      ?.resealStale()
      .then(async (n) => {
        // What it replaced is zeroed in the file; the log's earlier versions of those rows go too.
        if (n > 0 && (await store.emptyLog?.(KEY_LOG_MS)) === false)
          log.warn(
            'the store log still holds upstream tokens sealed under the old key: it is emptied at the next rotation or stop',
          );
      })
      .catch((err: Error) => log.warn({ err: err.message }, 'upstream tokens not re-sealed under the new key'));
  }
}
