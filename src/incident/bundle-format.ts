/**
 * The incident bundle's format, shared by its export (bundle.ts) and its check (bundle-verify.ts): the
 * files and their manifest, the digests and the names the manifest's signature is made over, a stub
 * (another tenant's record, its content left out), the chain check of the window's records, and the
 * keys that signed something in a bundle.
 */
import { createHash } from 'node:crypto';
import { chainHash, type AuditEvent } from '../model/audit-event.ts';
import type { CheckpointDetail } from '../audit/checkpoint.ts';
import { canonicalJson } from '../util/canonical-json.ts';

/** Format 2 signs the whole manifest; format 1 (before 2026-12-06) signed only `files` and still verifies, with a note. */
export const BUNDLE_FORMAT = 'gatehouse-incident-bundle/2';
export const BUNDLE_FORMAT_1 = 'gatehouse-incident-bundle/1';
export const FILES = [
  'incident.json',
  'audit.jsonl',
  'checkpoints.json',
  'verification.json',
  'timelines.json',
  'inventory.json',
  'policy.json',
  'config.json',
] as const;

export interface Manifest {
  format: typeof BUNDLE_FORMAT | typeof BUNDLE_FORMAT_1;
  incident: string;
  createdAt: string;
  window: { since: string; until: string };
  files: Record<string, string>;
  /**
   * Ed25519 over (`incident-bundle/2:<id>`, 0, SHA-256 of the canonical manifest without `signature`):
   * every other field, the window and the time of export included. (Format 1: over
   * (`incident-bundle:<id>`, 0, SHA-256 of the canonical `files`) alone.)
   */
  signature: CheckpointDetail;
}

export interface BundleProblem {
  file: string;
  problem: string;
}

export const sha256 = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
export const filesDigest = (files: Record<string, string>) => sha256(canonicalJson(files));
/** What a format-2 signature covers: the whole manifest but the signature itself. */
export function manifestDigest(m: Omit<Manifest, 'signature'> & { signature?: unknown }): string {
  const { signature: _signature, ...signed } = m;
  return sha256(canonicalJson(signed));
}
export const signedName = (id: string) => `incident-bundle/2:${id}`;
export const signedName1 = (id: string) => `incident-bundle:${id}`;

/** Another tenant's record in a tenant's bundle: what the chain needs, none of its content. */
export interface Stub {
  stream: string;
  seq: number;
  prev: string;
  hash: string;
  stub: true;
}
export type BundleRecord = AuditEvent | Stub;
export const isStub = (e: BundleRecord): e is Stub => (e as Stub).stub === true;

/** Records ordered by stream name, then by sequence number within a stream. */
function byStreamThenSeq(a: BundleRecord, b: BundleRecord): number {
  if (a.stream === b.stream) return a.seq - b.seq;
  return a.stream < b.stream ? -1 : 1;
}

/** Check the window's records on their own: each hash (but a stub's), and each link within a stream. */
export function checkChain(events: readonly BundleRecord[]): BundleProblem[] {
  const problems: BundleProblem[] = [];
  const last = new Map<string, BundleRecord>();
  for (const e of [...events].sort(byStreamThenSeq)) {
    // A stub's own hash cannot be recomputed (its content is not there); its links are checked below.
    if (!isStub(e) && chainHash(e) !== e.hash)
      problems.push({
        file: 'audit.jsonl',
        problem: `stream ${e.stream} seq ${e.seq}: the record does not match its hash (edited)`,
      });
    const before = last.get(e.stream);
    if (before) {
      if (e.seq !== before.seq + 1)
        problems.push({
          file: 'audit.jsonl',
          problem: `stream ${e.stream}: seq ${before.seq + 1}${e.seq - 1 > before.seq + 1 ? ` to ${e.seq - 1}` : ''} absent`,
        });
      else if (e.prev !== before.hash)
        problems.push({
          file: 'audit.jsonl',
          problem: `stream ${e.stream} seq ${e.seq}: does not link to seq ${before.seq}`,
        });
    }
    last.set(e.stream, e);
  }
  return problems;
}

/** Checkpoints in the bundle: those exported (`checkpoints.json`) and those recorded in the window (`audit.jsonl`). */
export function bundleCheckpoints(
  events: readonly BundleRecord[],
  exported: ReadonlyArray<CheckpointDetail & { stream: string }>,
): Array<CheckpointDetail & { stream: string; file: string }> {
  const inWindow = events
    .filter((e): e is AuditEvent => !isStub(e))
    .filter((e) => e.kind === 'audit.checkpoint' && e.detail && typeof e.detail.seq === 'number')
    .map((e) => ({ ...(e.detail as unknown as CheckpointDetail), stream: e.stream, file: 'audit.jsonl' }));
  return [...exported.map((c) => ({ ...c, file: 'checkpoints.json' })), ...inWindow];
}

/** A key that signed something in a bundle: the manifest, checkpoints of these streams, or both. */
export interface SigningKey {
  keyId: string;
  manifest: boolean;
  streams: string[];
}

/** Every key id that signed the manifest or a checkpoint of the bundle (as the bundle says; `verify` checks each signature). */
export function signingKeys(
  manifestKey: string | undefined,
  checkpoints: ReadonlyArray<CheckpointDetail & { stream: string }>,
): SigningKey[] {
  const keys = new Map<string, { manifest: boolean; streams: Set<string> }>();
  const of = (keyId: string) => {
    const k = keys.get(keyId) ?? { manifest: false, streams: new Set<string>() };
    keys.set(keyId, k);
    return k;
  };
  if (typeof manifestKey === 'string') of(manifestKey).manifest = true;
  for (const cp of checkpoints) if (typeof cp.keyId === 'string') of(cp.keyId).streams.add(cp.stream);
  return [...keys]
    .map(([keyId, k]) => ({ keyId, manifest: k.manifest, streams: [...k.streams].sort() }))
    .sort((a, b) => Number(b.manifest) - Number(a.manifest) || a.keyId.localeCompare(b.keyId));
}
