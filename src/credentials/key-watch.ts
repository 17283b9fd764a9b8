/**
 * The secrets key of a running gateway, following `gatehouse secrets rotate-key` without a restart.
 *
 * rotate-key writes the new key beside the key file (`.next`), re-encrypts the embedded store,
 * re-seals the upstream OAuth tokens, then moves the new key over the key file. A gateway notices the
 * move by a `stat` of the key file every second (never per call): it then seals under the new key,
 * scrubs it from what its servers print, and records its id for `gatehouse check` 2.7. The keys it
 * held before stay in memory to open what was sealed under them meanwhile (a token this gateway sealed
 * before it noticed: it re-seals those rows itself), and stay scrubbed. A sealed value that no held key
 * opens is tried once with the keys on disk (the key file and `.next`): in the moments between
 * rotate-key's re-sealing and the move, or before the next look, that is the new key, and the value
 * it opened is proof enough that it is the right one; it is adopted only from the key file.
 */
import { readFile, stat } from 'node:fs/promises';
import { KEY_ENV, parseKey } from './local-store.ts';

/** Keys held: the current one and those before it (more than one rotation in the life of one process is rare). */
const KEPT = 3;
const LOOK_EVERY_MS = 1000;

export class SecretsKeys {
  #keys: Buffer[];
  /** Where to look when no held key opens a value (the key files on disk); none: nowhere. */
  lookAside: (() => Promise<Buffer[]>) | undefined;

  constructor(key: Buffer) {
    this.#keys = [key];
  }

  /** What new values are sealed with. */
  get current(): Buffer {
    return this.#keys[0];
  }

  /** Every key held, the current one first: what is scrubbed. */
  get all(): readonly Buffer[] {
    return this.#keys;
  }

  /** `next` seals from now on; the keys before it still open. false when it is the current key already. */
  adopt(next: Buffer): boolean {
    if (this.current.equals(next)) return false;
    this.#keys = [next, ...this.#keys.filter((k) => !k.equals(next))].slice(0, KEPT);
    return true;
  }

  /**
   * `open` with each held key, the current one first, then (unless `aside` is false) with the keys on
   * disk; what the last attempt threw when none opens. `stale`: a held key other than the current one
   * opened it (re-seal it).
   */
  async open<T>(open: (key: Buffer) => T, aside = true): Promise<{ value: T; stale: boolean }> {
    let failed: unknown;
    for (const [i, k] of this.#keys.entries()) {
      try {
        return { value: open(k), stale: i > 0 };
      } catch (err) {
        failed = err;
      }
    }
    for (const k of aside && this.lookAside ? await this.lookAside() : []) {
      try {
        return { value: open(k), stale: false };
      } catch (err) {
        failed = err;
      }
    }
    throw failed;
  }
}

/** A key file's key, when it is private (mode 0600) and a key; else undefined. */
async function readKeyFile(file: string): Promise<Buffer | undefined> {
  try {
    const st = await stat(file);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) return undefined;
    return parseKey(await readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Follows the key file for `keys`: `onRotated` is told of each new key adopted. */
export class KeyFileWatch {
  readonly #file: string;
  readonly #keys: SecretsKeys;
  readonly #onRotated: (key: Buffer) => void;
  /** The key file as last read (inode, size, modification time): unchanged, it is not read again. */
  #seen = '';
  #looking: Promise<boolean> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(file: string, keys: SecretsKeys, onRotated: (key: Buffer) => void) {
    this.#file = file;
    this.#keys = keys;
    this.#onRotated = onRotated;
    keys.lookAside = async () => {
      void this.check();
      const found = await Promise.all([readKeyFile(file), readKeyFile(`${file}.next`)]);
      return found.filter((k): k is Buffer => k !== undefined);
    };
  }

  /** Looks now (one `stat` when nothing changed); true when a new key was adopted. */
  check(): Promise<boolean> {
    this.#looking ??= this.#look().finally(() => (this.#looking = undefined));
    return this.#looking;
  }

  async #look(): Promise<boolean> {
    let seen: string;
    try {
      const st = await stat(this.#file);
      seen = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return false; // gone for a moment (being replaced): the next look
    }
    if (seen === this.#seen) return false;
    const key = await readKeyFile(this.#file);
    if (!key) return false; // not private, or not a key: never adopted, looked at again
    this.#seen = seen;
    if (!this.#keys.adopt(key)) return false;
    this.#onRotated(key);
    return true;
  }

  start(everyMs = LOOK_EVERY_MS): void {
    void this.check();
    this.#timer = setInterval(() => void this.check(), everyMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/**
 * The watch of a gateway's key file, or undefined when its key comes from the environment (which a
 * running process cannot be given anew, and which rotate-key does not rotate).
 */
export function watchKeyFile(
  file: string,
  keys: SecretsKeys,
  onRotated: (key: Buffer) => void,
  env: NodeJS.ProcessEnv = process.env,
): KeyFileWatch | undefined {
  return env[KEY_ENV] ? undefined : new KeyFileWatch(file, keys, onRotated);
}
