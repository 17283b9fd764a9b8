/**
 * Signed audit checkpoints. The hash chain shows an edit, a gap or a reordering, but not a cut: a
 * stream whose tail was removed, or a stream deleted whole, still verifies. So every writer signs,
 * every N records or T seconds, (stream, seq, hash) of its last record with an Ed25519 key kept in
 * the state directory, and writes the signature into its own stream as an `audit.checkpoint` record.
 * An operator exports the latest checkpoint of every stream (`gatehouse audit checkpoints`) and keeps
 * the file elsewhere; `gatehouse audit verify --checkpoints <file>` then reports a stream that no
 * longer reaches a checkpointed seq (truncated), one that is gone (deleted), and a record that no
 * longer carries the checkpointed hash (rewritten). Each checkpoint carries its public key; trust
 * comes from the exported file (or a pinned key), never from the store.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditStore } from '../storage/types.ts';
import type { Problem } from '../model/audit-event.ts';
import { notPrivateKey } from '../util/private-path.ts';

export const SIGNING_KEY_FILE = 'audit-signing-key.pem';

export interface CheckpointDetail {
  /** The record signed: its seq and hash in this stream. */
  seq: number;
  hash: string;
  keyId: string;
  /** SPKI DER, base64. */
  publicKey: string;
  /** Ed25519 over checkpointPayload(stream, seq, hash), base64. */
  signature: string;
}

export interface SignedCheckpoint extends CheckpointDetail {
  stream: string;
  /** When it was written (the checkpoint record's time). */
  time: string;
}

export interface CheckpointExport {
  format: 'gatehouse-audit-checkpoints/1';
  exportedAt: string;
  checkpoints: SignedCheckpoint[];
}

export interface CheckpointSigner {
  keyId: string;
  sign(stream: string, seq: number, hash: string): CheckpointDetail;
}

function checkpointPayload(stream: string, seq: number, hash: string): Buffer {
  return Buffer.from(`gatehouse-audit-checkpoint/1\n${stream}\n${seq}\n${hash}`, 'utf8');
}

function keyIdOf(spki: Buffer): string {
  return createHash('sha256').update(spki).digest('hex').slice(0, 16);
}

function signerOf(privateKey: KeyObject): CheckpointSigner {
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const keyId = keyIdOf(spki);
  const publicKey = spki.toString('base64');
  return {
    keyId,
    sign: (stream, seq, hash) => ({
      seq,
      hash,
      keyId,
      publicKey,
      signature: sign(null, checkpointPayload(stream, seq, hash), privateKey).toString('base64'),
    }),
  };
}

/** The state directory's signing key, created (mode 0600) on first use. */
export function loadOrCreateSigner(stateDir: string): CheckpointSigner {
  const file = join(stateDir, SIGNING_KEY_FILE);
  if (!existsSync(file)) {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ed25519');
    try {
      writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      // Another process of this state directory created it first: use theirs.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  // Whoever can read the key signs checkpoints and bundles as this gateway; whoever owns it chose it.
  const why = notPrivateKey(file, statSync(file), 'audit signing key');
  if (why) throw new Error(why);
  return signerOf(createPrivateKey(readFileSync(file)));
}

/**
 * The key id of the state directory's signing key, or undefined when it has none yet (nothing is
 * created). What an operator lists to trust a replica: `gatehouse audit key` on each one.
 */
export function signingKeyId(stateDir: string): string | undefined {
  const file = join(stateDir, SIGNING_KEY_FILE);
  if (!existsSync(file)) return undefined;
  return signerOf(createPrivateKey(readFileSync(file))).keyId;
}

/** Whether the checkpoint's signature is valid for its own key (and, when given, that key is a trusted one). */
export function signatureValid(stream: string, d: CheckpointDetail, trusted?: ReadonlySet<string>): boolean {
  try {
    const spki = Buffer.from(d.publicKey, 'base64');
    if (keyIdOf(spki) !== d.keyId) return false;
    if (trusted && !trusted.has(d.keyId)) return false;
    const key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    return verify(null, checkpointPayload(stream, d.seq, d.hash), key, Buffer.from(d.signature, 'base64'));
  } catch {
    return false;
  }
}

/** The latest checkpoint record of every stream in the store, for export. */
export async function latestCheckpoints(store: AuditStore): Promise<SignedCheckpoint[]> {
  const latest = new Map<string, SignedCheckpoint>();
  for (let after = 0; ; ) {
    const page = await store.read({ kind: 'audit.checkpoint', afterPosition: after, limit: 1000 });
    for (const { event } of page) {
      const d = event.detail as unknown as CheckpointDetail | undefined;
      if (!d || typeof d.seq !== 'number') continue;
      const cur = latest.get(event.stream);
      if (!cur || d.seq > cur.seq)
        latest.set(event.stream, {
          stream: event.stream,
          time: event.time,
          seq: d.seq,
          hash: d.hash,
          keyId: d.keyId,
          publicKey: d.publicKey,
          signature: d.signature,
        });
    }
    if (page.length < 1000) break;
    after = page[page.length - 1].position;
  }
  return [...latest.values()].sort((a, b) => a.stream.localeCompare(b.stream));
}

export function exportCheckpoints(checkpoints: SignedCheckpoint[], now = new Date()): CheckpointExport {
  return { format: 'gatehouse-audit-checkpoints/1', exportedAt: now.toISOString(), checkpoints };
}

export function parseCheckpointExport(text: string): CheckpointExport {
  const v = JSON.parse(text) as CheckpointExport;
  if (v?.format !== 'gatehouse-audit-checkpoints/1' || !Array.isArray(v.checkpoints))
    throw new Error('not a gatehouse audit checkpoint export');
  return v;
}

/** What an export of checkpoints held: how many, of how many streams, and the key ids of those whose signature verifies. */
export interface CheckpointsChecked {
  checked: number;
  streams: number;
  /** Key ids of the checkpoints whose signature verifies (and is trusted, when keys were given). */
  keyIds: string[];
  /** Whether only keys given by the operator (`--trust-key`) counted. */
  trusted: boolean;
}

export function checkpointsChecked(exported: CheckpointExport, trusted?: ReadonlySet<string>): CheckpointsChecked {
  const keyIds = new Set<string>();
  for (const cp of exported.checkpoints) if (signatureValid(cp.stream, cp, trusted)) keyIds.add(cp.keyId);
  return {
    checked: exported.checkpoints.length,
    streams: new Set(exported.checkpoints.map((c) => c.stream)).size,
    keyIds: [...keyIds].sort(),
    trusted: trusted !== undefined,
  };
}

/**
 * Compare the store with exported checkpoints: each one's stream must still reach its seq with its
 * hash (or have been pruned past it, which leaves a retention checkpoint). A checkpoint whose
 * signature does not verify is itself a problem: the file was altered.
 */
export async function checkAgainstCheckpoints(
  store: AuditStore,
  exported: CheckpointExport,
  trusted?: ReadonlySet<string>,
): Promise<Problem[]> {
  const problems: Problem[] = [];
  const streams = new Map((await store.streams()).map((s) => [s.stream, s]));
  for (const cp of exported.checkpoints) {
    const at = { stream: cp.stream, seq: cp.seq, position: null };
    if (!signatureValid(cp.stream, cp, trusted)) {
      problems.push({
        ...at,
        problem: 'edited',
        detail: "the exported checkpoint's signature does not verify (or its key is not trusted)",
      });
      continue;
    }
    const pruned = await store.checkpoint(cp.stream);
    if (pruned && pruned.seq >= cp.seq) continue; // retention removed it, and kept its own checkpoint
    const s = streams.get(cp.stream);
    if (!s) {
      problems.push({
        ...at,
        problem: 'deleted',
        detail: `the stream is gone; it had reached seq ${cp.seq} when checkpointed at ${cp.time}`,
      });
      continue;
    }
    if (s.lastSeq < cp.seq) {
      problems.push({
        ...at,
        problem: 'truncated',
        detail: `the stream ends at seq ${s.lastSeq}; it had reached seq ${cp.seq} when checkpointed at ${cp.time}`,
      });
      continue;
    }
    const [r] = await store.streamRecords(cp.stream, cp.seq, 1);
    let hash: string | undefined;
    try {
      hash = r && r.seq === cp.seq ? (JSON.parse(r.body) as { hash?: string }).hash : undefined;
    } catch {
      hash = undefined;
    }
    if (hash === undefined)
      problems.push({ ...at, problem: 'missing', detail: `the checkpointed record seq ${cp.seq} is absent` });
    else if (hash !== cp.hash)
      problems.push({
        ...at,
        problem: 'edited',
        detail: `the record at seq ${cp.seq} is not the one checkpointed (its hash differs)`,
      });
  }
  return problems;
}
