// The embedded secret store behind `local:<name>`: one JSON file, each entry AES-256-GCM encrypted.
//
//   { "version": 1, "keyId": "<16 hex>", "entries": { "<name>": { iv, tag, ciphertext, updatedAt } } }
//
// - Key: 32 random bytes, base64 — from env GATEHOUSE_SECRETS_KEY if set, else a key file (mode 0600,
//   created if missing). `keyId` is a fingerprint of the key (a hash, which reveals nothing about a
//   random 256-bit key), so a wrong key is reported as such before any decryption is attempted.
// - AAD = the entry name: a ciphertext moved to another name fails authentication, so entries cannot be
//   swapped or renamed by editing the file.
// - Writes are atomic (temp file 0600 + fsync + rename) and serialised within the process. Two
//   processes writing at once (two CLI invocations) can still lose one update: there is no file lock.
// - Reads re-read the file, so a change made by the CLI is seen by a running gateway (through the
//   resolver's cache TTL).
import { createHash, randomBytes } from 'node:crypto';
import { openParts, sealParts } from '../util/seal.ts';
import { link, lstat, mkdir, open, rename, unlink } from 'node:fs/promises';
import { constants } from 'node:fs';
import { dirname } from 'node:path';
import { CredentialError } from './types.ts';
import { inWords, missingLocal } from './secret-fixes.ts';
import { notPrivate, notPrivateDir } from '../util/private-path.ts';

export const KEY_ENV = 'GATEHOUSE_SECRETS_KEY';
const KEY_BYTES = 32;
const FORMAT_VERSION = 1;
const PROVIDER = 'local';
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/;

interface Entry {
  iv: string;
  tag: string;
  ciphertext: string;
  updatedAt: string;
}

interface StoreFile {
  version: number;
  keyId: string;
  entries: Record<string, Entry>;
}

export function generateKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/**
 * Why `base64` is not a key (exactly 32 bytes of base64), saying how to make one, or undefined. The
 * key is never echoed. `gatehouse check` asks this too, so a bad key is found before a start.
 */
export function keyProblem(base64: string, source = 'key'): string | undefined {
  const text = base64.trim();
  const key = Buffer.from(text, 'base64');
  // Node's decoder skips garbage silently: require that the text is exactly the key's encoding.
  if (key.length === KEY_BYTES && key.toString('base64').replace(/=+$/, '') === text.replace(/=+$/, ''))
    return undefined;
  // `openssl rand -hex 32` is the likeliest mistake: 64 hex digits decode as 48 bytes of base64.
  const hex = /^[0-9a-f]{64}$/i.test(text) ? ' (this one is hex)' : '';
  return `${source} is not ${KEY_BYTES} bytes of base64${hex}: make one with \`openssl rand -base64 32\``;
}

/** Decode a base64 key; exactly 32 bytes. The key is never echoed. */
export function parseKey(base64: string, source = 'key'): Buffer {
  const why = keyProblem(base64, source);
  if (why) throw new CredentialError('E_PROVIDER_AUTH', why, { provider: PROVIDER });
  return Buffer.from(base64.trim(), 'base64');
}

export function keyId(key: Buffer): string {
  return createHash('sha256').update('gatehouse-secrets-key-id\0').update(key).digest('hex').slice(0, 16);
}

/**
 * The store key: GATEHOUSE_SECRETS_KEY if set, else the key file, created (0600, parent 0700) when
 * missing. A key file that group or others can read is refused.
 */
export async function loadKey(opts: { keyFile: string; env?: NodeJS.ProcessEnv }): Promise<Buffer> {
  const fromEnv = (opts.env ?? process.env)[KEY_ENV];
  if (fromEnv) return parseKey(fromEnv, KEY_ENV);
  try {
    return await readKeyFile(opts.keyFile, true);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = generateKey();
  await privateDir(dirname(opts.keyFile));
  try {
    // 'wx': if another process created it meanwhile, use theirs.
    const fh = await open(opts.keyFile, 'wx', 0o600);
    try {
      await fh.writeFile(`${key.toString('base64')}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return await readKeyFile(opts.keyFile, true);
    throw err;
  }
}

/**
 * A key file's key, read from what was checked (walk CC: the file was checked by path, then read by
 * path again, following links): its folder private (notPrivateDir), then the file opened once and
 * judged by that open file (this user's, 0600; a regular file). `links`: a symbolic link is followed
 * only when this user or root owns it (in a private folder no one else can change it); else none is.
 */
async function readKeyFile(path: string, links: boolean): Promise<Buffer> {
  const refuse = (why: string) => new CredentialError('E_PROVIDER_AUTH', why, { provider: PROVIDER });
  const l = await lstat(path); // a missing file: ENOENT, as before
  const folder = notPrivateDir(dirname(path), 'the folder of the key file');
  if (folder) throw refuse(folder);
  const uid = process.getuid?.();
  if (l.isSymbolicLink() && (!links || (uid !== undefined && l.uid !== uid && l.uid !== 0)))
    throw refuse(
      `key file ${path} is a symbolic link${links ? ` of user ${l.uid}: whoever owns it can point it elsewhere` : ''}`,
    );
  const fh = await open(path, constants.O_RDONLY | (links ? 0 : constants.O_NOFOLLOW));
  try {
    const st = await fh.stat();
    const why = st.isFile() ? notPrivate(path, st, 'key file', 0o077) : `key file ${path} is not a file`;
    if (why) throw refuse(why);
    return parseKey(await fh.readFile('utf8'), `key file ${path}`);
  } finally {
    await fh.close();
  }
}

/** Write a key file atomically (0600), replacing any. (A rotation writes its new key with createKeyFile: never replaced.) */
export async function writeKeyFile(path: string, key: Buffer): Promise<void> {
  await atomicWrite(path, `${key.toString('base64')}\n`);
}

/**
 * Write a key file (0600) only where none is: whole or not at all (a temporary file linked into
 * place); false when `path` exists already, which is then left as it is.
 */
export async function createKeyFile(path: string, key: Buffer): Promise<boolean> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  await atomicWrite(tmp, `${key.toString('base64')}\n`);
  try {
    await link(tmp, path);
    await syncDir(dirname(path));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

/**
 * For a running gateway: the key `gatehouse secrets rotate-key` put in place (the key file, or the
 * `.next` file it writes first), when its id is the one the store now names. Either is taken only
 * when private to this user, by owner and mode as loadKey and the rotation take them (walk Z: only
 * the mode was checked, so a key another user planted there was taken); `.next`, which rotate-key
 * only ever writes as a regular file, not through a symbolic link.
 */
export function keyFileReloader(keyFile: string): (wanted: string) => Promise<Buffer | undefined> {
  return async (wanted) => {
    for (const f of [keyFile, `${keyFile}.next`]) {
      try {
        const k = await readKeyFile(f, f === keyFile);
        if (keyId(k) === wanted) return k;
      } catch {
        // missing or unreadable: the next candidate
      }
    }
    return undefined;
  };
}

/**
 * The names the store file holds, read without its key (names are not secret; values stay sealed):
 * what `gatehouse check` compares `local:` references with. No file: no names. A file that cannot be
 * read or is not a store throws.
 */
export async function storedNames(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readPrivate(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const d = JSON.parse(text) as Partial<StoreFile> | null;
  if (!d || d.version !== FORMAT_VERSION || typeof d.entries !== 'object' || !d.entries || Array.isArray(d.entries))
    throw new Error('the secret store file is not a version 1 store');
  return Object.keys(d.entries);
}

export class LocalSecretStore {
  readonly file: string;
  #key: Buffer;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #reloadKey: ((wanted: string) => Promise<Buffer | undefined>) | undefined;

  /** `reloadKey`: where to find the key the store names when it is no longer ours (rotated by another process). */
  constructor(file: string, key: Buffer, reloadKey?: (wanted: string) => Promise<Buffer | undefined>) {
    if (key.length !== KEY_BYTES)
      throw new CredentialError('E_PROVIDER_AUTH', `key must be ${KEY_BYTES} bytes`, { provider: PROVIDER });
    this.file = file;
    this.#key = Buffer.from(key);
    this.#reloadKey = reloadKey;
  }

  get keyId(): string {
    return keyId(this.#key);
  }

  async get(name: string): Promise<string> {
    return (await this.getEntry(name)).value;
  }

  async getEntry(name: string): Promise<{ value: string; updatedAt: string }> {
    checkName(name);
    const doc = await this.#read();
    const entry = Object.hasOwn(doc.entries, name) ? doc.entries[name] : undefined;
    if (!entry)
      throw new CredentialError('E_SECRET_NOT_FOUND', inWords(missingLocal(name)), {
        provider: PROVIDER,
        ref: `local:${name}`,
      });
    return { value: decrypt(this.#key, name, entry), updatedAt: entry.updatedAt };
  }

  async list(): Promise<{ name: string; updatedAt: string }[]> {
    const doc = await this.#read();
    return Object.entries(doc.entries)
      .map(([name, e]) => ({ name, updatedAt: e.updatedAt }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  set(name: string, value: string): Promise<void> {
    checkName(name);
    return this.#mutate((doc) => {
      doc.entries[name] = encrypt(this.#key, name, value);
    });
  }

  /** true if the entry existed */
  delete(name: string): Promise<boolean> {
    checkName(name);
    return this.#mutate((doc) => {
      if (!Object.hasOwn(doc.entries, name)) return false;
      delete doc.entries[name];
      return true;
    });
  }

  /** Re-encrypt every entry under `newKey` and record its keyId; all or nothing (one atomic write). */
  rotateKey(newKey: Buffer): Promise<void> {
    if (newKey.length !== KEY_BYTES)
      throw new CredentialError('E_PROVIDER_AUTH', `key must be ${KEY_BYTES} bytes`, { provider: PROVIDER });
    const next = Buffer.from(newKey);
    return this.#mutate(
      (doc) => {
        const entries: Record<string, Entry> = {};
        for (const [name, e] of Object.entries(doc.entries))
          entries[name] = { ...encrypt(next, name, decrypt(this.#key, name, e)), updatedAt: e.updatedAt };
        doc.entries = entries;
        doc.keyId = keyId(next);
      },
      () => (this.#key = next), // switch keys only once the file is written
    );
  }

  /** Read-modify-write under the in-process queue; `after` runs once the file is written. */
  #mutate<T>(change: (doc: StoreFile) => T, after?: () => void): Promise<T> {
    const run = this.#queue.then(async () => {
      const doc = await this.#read();
      const result = change(doc);
      await atomicWrite(this.file, `${JSON.stringify(doc, null, 2)}\n`);
      after?.();
      return result;
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  async #read(): Promise<StoreFile> {
    let text: string;
    try {
      text = await readPrivate(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        return { version: FORMAT_VERSION, keyId: this.keyId, entries: {} };
      if (err instanceof CredentialError) throw err;
      throw new CredentialError(
        'E_PROVIDER_UNAVAILABLE',
        `cannot read the secret store (${(err as NodeJS.ErrnoException).code === 'ELOOP' ? 'it is a symbolic link: the store writes a file of its own, never a link' : ((err as NodeJS.ErrnoException).code ?? 'error')})`,
        { provider: PROVIDER },
      );
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      doc = undefined;
    }
    const d = doc as StoreFile | undefined;
    if (
      !d ||
      d.version !== FORMAT_VERSION ||
      typeof d.keyId !== 'string' ||
      typeof d.entries !== 'object' ||
      d.entries === null ||
      Array.isArray(d.entries)
    ) {
      throw new CredentialError('E_PROVIDER_UNAVAILABLE', 'the secret store file is not a version 1 store', {
        provider: PROVIDER,
      });
    }
    if (d.keyId !== this.keyId) {
      const rotated = await this.#reloadKey?.(d.keyId);
      if (rotated) {
        this.#key = rotated;
        return d;
      }
      throw new CredentialError(
        'E_PROVIDER_AUTH',
        `the key (id ${this.keyId}) is not this store's key (id ${d.keyId})`,
        { provider: PROVIDER },
      );
    }
    return d;
  }
}

/**
 * The store file's text, opened without following a link (the store only ever writes a regular file
 * of its own by rename): a link planted in its place is not read, nor is a file another user owns or
 * can write (walk AA).
 */
async function readPrivate(file: string): Promise<string> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = await fh.stat();
    const why = st.isFile() ? notPrivate(file, st, 'the secret store file', 0o022) : `${file} is not a file`;
    if (why) throw new CredentialError('E_PROVIDER_AUTH', why, { provider: PROVIDER });
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

export function checkName(name: string): void {
  if (!NAME.test(name))
    throw new CredentialError('E_REF_INVALID', 'invalid local secret name (letters, digits, _ . @ -; at most 128)', {
      provider: PROVIDER,
    });
}

function encrypt(key: Buffer, name: string, value: string): Entry {
  const s = sealParts(key, name, value); // bound to its name: an entry moved to another name does not open
  return {
    iv: s.iv.toString('base64'),
    tag: s.tag.toString('base64'),
    ciphertext: s.ciphertext.toString('base64'),
    updatedAt: new Date().toISOString(),
  };
}

function decrypt(key: Buffer, name: string, e: Entry): string {
  try {
    return openParts(key, name, {
      iv: Buffer.from(e.iv, 'base64'),
      tag: Buffer.from(e.tag, 'base64'),
      ciphertext: Buffer.from(e.ciphertext, 'base64'),
    });
  } catch {
    throw new CredentialError('E_PROVIDER_AUTH', 'entry failed authentication (tampered, moved, or wrong key)', {
      provider: PROVIDER,
      ref: `local:${name}`,
    });
  }
}

/**
 * Made (0700) when missing; refused, before anything is written in it, when another user owns it or
 * can write in it, as the store refuses such a state directory: a key or sealed values written there
 * could be swapped or removed by its owner (walk AA: `secrets set` wrote both, then the store refused).
 */
async function privateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const why = notPrivateDir(dir, 'the directory of the secret store');
  if (why) throw new CredentialError('E_PROVIDER_AUTH', why, { provider: PROVIDER });
}

/** temp file (0600, same directory) + fsync + rename + directory fsync. */
async function atomicWrite(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  await privateDir(dir);
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await syncDir(dir);
}

async function syncDir(dir: string): Promise<void> {
  try {
    const d = await open(dir, 'r');
    await d.sync().finally(() => d.close());
  } catch {
    // directory fsync is not supported everywhere (Windows)
  }
}
