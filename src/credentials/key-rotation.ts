/**
 * Rotating the gateway's own secrets key (`gatehouse secrets rotate-key`), crash-safe and resumable.
 *
 * The new key is written beside the key file first (`secrets.key.next`, created whole and only where
 * none is: never replaced while it exists), then the embedded secrets file is re-encrypted under it
 * (one atomic write), then every upstream token set and pending verifier is re-sealed under it, row by
 * row, and only once a pass over the rows finds none left under the old key is it moved over the key
 * file, which removes the old key. A `.next` found at the start is a rotation that was interrupted (a
 * process killed, a power loss): it is finished with that key, never a new one, by the next
 * rotate-key or the next gateway start. At every point each sealed value opens under exactly one of
 * the key file's key and `.next`'s; what is under the new key already is not sealed again; two
 * processes finishing the same rotation at once do the same work, and the second move finds it done.
 * `.next` is only ever a regular file this command linked in: one that is a symbolic link (dangling
 * or not) or anything else is refused, naming it, before it is read (walk Z: a dangling link made
 * rotate-key loop for ever, a new key written and fsynced each round, since linking over it failed
 * while following it found nothing); and beginning is tried a bounded number of times.
 */
import { constants } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { GatehouseError } from '../protocol/errors.ts';
import type { LocalSecretRows, UpstreamTokenStore } from '../storage/types.ts';
import { notPrivate } from '../util/private-path.ts';
import { SecretsKeys } from './key-watch.ts';
import { createKeyFile, generateKey, keyId, LocalSecretStore, loadKey, parseKey } from './local-store.ts';
import { type ResealTally, UpstreamOAuth } from './upstream-oauth.ts';
import { SharedSecretStore } from './shared-store.ts';

/** Passes over the rows before the old key is removed: the last must find none under it. */
const MAX_PASSES = 4;

/** A rotation found unfinished: the id of the key it was rotating to, and when it began. */
interface Interrupted {
  keyId: string;
  startedAt: string;
}

export interface RotationOutcome {
  keyId: string;
  /** Secrets in the embedded store (all under the new key now). */
  secrets: number;
  /** The embedded store was under the new key already (an interrupted rotation had re-encrypted it). */
  secretsUnderNewKeyAlready: boolean;
  /** Upstream token sets sealed again under the new key by this run. */
  upstreamTokens: number;
  /** Upstream token sets found under the new key already (re-sealed before an interruption): left as they are. */
  upstreamTokensUnderNewKeyAlready: number;
  /** Pending authorizations' verifiers sealed again by this run. */
  pendingVerifiers: number;
  /** Token sets and verifiers neither key opens (another key's, damaged): left as they are, as before. */
  unreadable: number;
  /** The interrupted rotation this run finished, if it did. */
  resumed?: Interrupted;
}

export interface RotationParts {
  keyFile: string;
  secretsFile: string;
  tokens: UpstreamTokenStore;
  /** With PostgreSQL, the `local:` secrets in the database (ADR 0016): re-sealed with the token sets. */
  secrets?: LocalSecretRows;
  /** Each step as it begins ("the secrets re-encrypted..."), for an operator watching. */
  onStep?: (text: string) => void;
  /** Upstream token sets re-sealed so far, of how many. */
  onRow?: (done: number, of: number) => void;
}

const nextFile = (keyFile: string): string => `${keyFile}.next`;

/** Times `begin` tries to write a new key aside or find the one another process wrote, before giving up. */
const MAX_BEGINS = 5;

const WHAT_NEXT = 'the new key of an interrupted rotation,';

/**
 * The unfinished rotation `.next` beside `keyFile` holds, if any; a `.next` that is not a private
 * regular file (a symbolic link, dangling or not, is refused without being followed) throws, saying why.
 */
async function interruptedRotation(keyFile: string): Promise<{ key: Buffer; found: Interrupted } | undefined> {
  const file = nextFile(keyFile);
  let text: string;
  let startedAt: Date;
  try {
    // O_NOFOLLOW: a link is refused by the open itself (ELOOP), so nothing can be swapped in after a check.
    const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw notRegular(file);
      const why = notPrivate(file, st, WHAT_NEXT, 0o077);
      if (why) throw new GatehouseError('E_CREDENTIAL_UNAVAILABLE', why);
      startedAt = st.mtime;
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw notRegular(file, 'a symbolic link');
    throw err;
  }
  const key = parseKey(text, `the new key of an interrupted rotation, ${file},`);
  return { key, found: { keyId: keyId(key), startedAt: startedAt.toISOString() } };
}

/**
 * Rotate the key of `keyFile` (never one from the environment: the caller refuses that), or finish
 * the rotation that was interrupted; with `resumeOnly`, only finish one (undefined when there is none).
 */
export async function rotateSecretsKey(p: RotationParts, resumeOnly = false): Promise<RotationOutcome | undefined> {
  const old = await loadKey({ keyFile: p.keyFile, env: {} });
  const begun = await begin(p, resumeOnly);
  if (!begun) return undefined;
  const next = begun.key;
  const secrets = await reencryptSecrets(p, old, next);
  const { shared, ...sealed } = await resealRows(p, old, next);
  await moveKey(p.keyFile, next);
  p.onStep?.(`the key file holds the new key (id ${keyId(next)}); the old key is removed`);
  return {
    keyId: keyId(next),
    secrets: secrets.count + shared,
    secretsUnderNewKeyAlready: secrets.already,
    ...sealed,
    ...(begun.resumed && { resumed: begun.resumed }),
  };
}

function notRegular(file: string, is = 'not a regular file'): GatehouseError {
  return new GatehouseError(
    'E_CREDENTIAL_UNAVAILABLE',
    `${WHAT_NEXT} ${file} is ${is}; rotate-key only ever writes a regular file there: remove it (after checking what put it there) and run \`gatehouse secrets rotate-key\` again`,
  );
}

/** What a rotation found unfinished, in words. */
function foundText(f: Interrupted): string {
  return `found an interrupted key rotation (the new key, id ${f.keyId}, written aside at ${f.startedAt}): finishing it with that key`;
}

/** The key to rotate to: the interrupted rotation's, or (unless `resumeOnly`) a new one written aside. */
async function begin(
  p: RotationParts,
  resumeOnly: boolean,
): Promise<{ key: Buffer; resumed?: Interrupted } | undefined> {
  for (let attempt = 1; attempt <= MAX_BEGINS; attempt++) {
    const found = await interruptedRotation(p.keyFile);
    if (found) {
      p.onStep?.(foundText(found.found));
      return { key: found.key, resumed: found.found };
    }
    if (resumeOnly) return undefined;
    const key = generateKey();
    if (await createKeyFile(nextFile(p.keyFile), key)) {
      p.onStep?.(`the new key (id ${keyId(key)}) written aside (${nextFile(p.keyFile)})`);
      return { key };
    }
    // Another process began one this very moment: that one is finished instead (the next round finds
    // it), or finished it already (the next round writes a new one).
  }
  throw new GatehouseError(
    'E_CREDENTIAL_UNAVAILABLE',
    `could not write the new key aside (${nextFile(p.keyFile)}) in ${MAX_BEGINS} tries: something there exists when written and is gone when read; nothing was rotated`,
  );
}

/** The embedded secrets file under `next` (unless it is already: then it is not written again). */
async function reencryptSecrets(
  p: RotationParts,
  old: Buffer,
  next: Buffer,
): Promise<{ count: number; already: boolean }> {
  const nextId = keyId(next);
  // Opened with whichever of the two keys it names; any other key is an error that names both ids.
  const store = new LocalSecretStore(p.secretsFile, old, async (wanted) => (wanted === nextId ? next : undefined));
  const count = (await store.list()).length;
  const already = store.keyId === nextId;
  if (!already) {
    p.onStep?.(`re-encrypting ${count} secret(s) of the embedded store`);
    await store.rotateKey(next);
  }
  return { count, already };
}

type Sealed = Pick<
  RotationOutcome,
  'upstreamTokens' | 'upstreamTokensUnderNewKeyAlready' | 'pendingVerifiers' | 'unreadable'
>;

/**
 * Every upstream token set and pending verifier under the old key sealed again under `next`, pass
 * after pass until one finds none left under the old key (a gateway refreshing a token meanwhile
 * seals it under the key file's key, still the old one): only then may the old key go.
 */
async function resealRows(p: RotationParts, old: Buffer, next: Buffer): Promise<Sealed & { shared: number }> {
  const keys = new SecretsKeys(old);
  keys.adopt(next);
  const oauth = new UpstreamOAuth(p.tokens, keys);
  const shared = p.secrets && new SharedSecretStore(p.secrets, keys);
  const out = { upstreamTokens: 0, upstreamTokensUnderNewKeyAlready: 0, pendingVerifiers: 0, unreadable: 0, shared: 0 };
  for (let pass = 1; pass <= MAX_PASSES; pass++) {
    if (pass === 2) p.onStep?.('checking that every upstream authorization opens with the new key');
    const s = (await shared?.resealAll()) ?? { resealed: 0, current: 0, unreadable: 0 };
    if (pass === 1) out.shared = s.resealed + s.current + s.unreadable;
    const r = await oauth.resealAll(pass === 1 ? p.onRow : undefined);
    if (pass === 1) out.upstreamTokensUnderNewKeyAlready = r.tokens.current;
    out.upstreamTokens += r.tokens.resealed;
    out.pendingVerifiers += r.pending.resealed;
    out.unreadable = r.tokens.unreadable + r.pending.unreadable + s.unreadable;
    if (pass > 1 && !resealedAny(r) && s.resealed === 0) return out;
  }
  throw new GatehouseError(
    'E_CREDENTIAL_UNAVAILABLE',
    `upstream authorizations were sealed under the old key again during each of ${MAX_PASSES} passes (gateways refreshing them): the old key is kept and the rotation is not finished; run \`gatehouse secrets rotate-key\` again to finish it`,
  );
}

const resealedAny = (r: { tokens: ResealTally; pending: ResealTally }): boolean =>
  r.tokens.resealed + r.pending.resealed > 0;

/** `.next` moved over the key file; already moved (by another process finishing the same rotation) is done too. */
async function moveKey(keyFile: string, next: Buffer): Promise<void> {
  try {
    await rename(nextFile(keyFile), keyFile);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const now = await loadKey({ keyFile, env: {} });
    if (!now.equals(next))
      throw new GatehouseError(
        'E_CREDENTIAL_UNAVAILABLE',
        `the new key (id ${keyId(next)}) disappeared from beside the key file, which holds key id ${keyId(now)}: another rotation ran meanwhile; run \`gatehouse secrets rotate-key\` again`,
      );
  }
}
