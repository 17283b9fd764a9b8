/**
 * `incident verify`: an incident bundle (bundle.ts) checked offline.
 *
 * `verifyBundle` needs nothing but the directory: each file's digest, the manifest's signature, the
 * hash chain of the window's records (each full record's own hash, and each link between records of
 * one stream, stubs included), and every checkpoint's signature and (where the bundle holds its
 * record) hash. A stub's own hash cannot be recomputed: the next record's `prev` (whose hash is
 * recomputed) or a checkpoint binds it, and the report counts the stubs and says so. Changing any
 * byte of any file fails it; so does rewriting a file and its manifest entry, since the signature
 * covers the whole manifest.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseCheckpointExport, signatureValid, type CheckpointDetail } from '../audit/checkpoint.ts';
import {
  BUNDLE_FORMAT,
  BUNDLE_FORMAT_1,
  bundleCheckpoints,
  type BundleProblem,
  type BundleRecord,
  checkChain,
  FILES,
  filesDigest,
  isStub,
  type Manifest,
  manifestDigest,
  sha256,
  signedName,
  signedName1,
  type SigningKey,
  signingKeys,
} from './bundle-format.ts';

/** Why a signature by `keyId` does not count: its key is not among those trusted. */
const untrusted = (keyId: string) =>
  `signed by key ${keyId}, which is not among the trusted keys (--trust-key): trust it only if it is one of your gateways' (\`gatehouse audit key\` on each)`;

/** Checkpoints (exported, and those recorded in the window): signatures, and hashes where the bundle holds the record. */
function checkCheckpoints(
  events: readonly BundleRecord[],
  exported: Array<CheckpointDetail & { stream: string }>,
  trusted?: ReadonlySet<string>,
): BundleProblem[] {
  const problems: BundleProblem[] = [];
  const byRecord = new Map(events.map((e) => [`${e.stream}\n${e.seq}`, e.hash]));
  for (const cp of bundleCheckpoints(events, exported)) {
    const what = `checkpoint of stream ${cp.stream} seq ${cp.seq}`;
    if (trusted && !trusted.has(cp.keyId)) {
      problems.push({ file: cp.file, problem: `${what}: ${untrusted(cp.keyId)}` });
      continue;
    }
    if (!signatureValid(cp.stream, cp, trusted)) {
      problems.push({ file: cp.file, problem: `${what}: the signature does not verify` });
      continue;
    }
    const hash = byRecord.get(`${cp.stream}\n${cp.seq}`);
    if (hash !== undefined && hash !== cp.hash)
      problems.push({ file: cp.file, problem: `${what}: the record in the bundle is not the one signed` });
  }
  return problems;
}

export interface BundleReport {
  ok: boolean;
  incident: string | null;
  keyId: string | null;
  records: number;
  /** Of those, stubs: another tenant's record, its links checked, its own hash not recomputable. */
  stubs: number;
  problems: BundleProblem[];
  /** What the checks could not cover, though nothing failed (an older format's unsigned fields). */
  notes: string[];
  /** Every key that signed the manifest or a checkpoint; `trusted`: among `trustedKeys` (null: none were given). */
  keys: Array<SigningKey & { trusted: boolean | null }>;
}

/** The manifest's signature: over the whole manifest (format 2) or its entries (format 1, with a note). */
function checkSignature(
  manifest: Manifest,
  trustedKeys: ReadonlySet<string> | undefined,
  problems: BundleProblem[],
  notes: string[],
): void {
  const v1 = manifest.format === BUNDLE_FORMAT_1;
  if (v1)
    notes.push(
      `format 1 (exported before 2026-12-06): the signature covers the files and the incident id only; the manifest's window (${manifest.window?.since} to ${manifest.window?.until}) and createdAt (${manifest.createdAt}) are not signed`,
    );
  if (trustedKeys && !trustedKeys.has(manifest.signature.keyId))
    problems.push({ file: 'manifest.json', problem: `the manifest is ${untrusted(manifest.signature.keyId)}` });
  else if (
    manifest.signature.hash !== (v1 ? filesDigest(manifest.files) : manifestDigest(manifest)) ||
    manifest.signature.seq !== 0 ||
    !signatureValid((v1 ? signedName1 : signedName)(manifest.incident), manifest.signature, trustedKeys)
  ) {
    problems.push({
      file: 'manifest.json',
      problem: `the signature does not cover these entries${v1 ? '' : ', window and time'} (the manifest was altered)`,
    });
  }
}

/** Each file of the bundle against its manifest entry; its text. */
async function readFiles(dir: string, manifest: Manifest, problems: BundleProblem[]): Promise<Map<string, string>> {
  const text = new Map<string, string>();
  for (const name of FILES) {
    if (!(name in manifest.files)) {
      problems.push({ file: name, problem: 'not listed in the manifest' });
      continue;
    }
    let body: Buffer;
    try {
      body = await readFile(join(dir, name));
    } catch {
      problems.push({ file: name, problem: 'missing' });
      continue;
    }
    if (sha256(body) !== manifest.files[name])
      problems.push({ file: name, problem: 'its SHA-256 differs from the manifest (the file was altered)' });
    text.set(name, body.toString('utf8'));
  }
  for (const extra of (await readdir(dir)).filter(
    (f) => f !== 'manifest.json' && !(FILES as readonly string[]).includes(f),
  ))
    problems.push({ file: extra, problem: 'not part of the bundle' });
  return text;
}

/**
 * What is wrong with the path given as a bundle, before anything of a bundle is read: no such folder,
 * not a folder, or a folder that cannot be read. Undefined when it is a readable folder (whether it
 * holds a bundle is for verifyBundle). The CLI says these are bad input, not a failed verification.
 */
export function bundlePathProblem(dir: string): string | undefined {
  let folder: boolean;
  try {
    folder = statSync(dir).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR'
      ? `no such folder \`${dir}\`: give the folder \`gatehouse incident export\` wrote`
      : `\`${dir}\` cannot be read (${code ?? 'unknown error'})`;
  }
  if (!folder) return `\`${dir}\` is not a folder: give the folder \`gatehouse incident export\` wrote`;
  try {
    accessSync(dir, constants.R_OK | constants.X_OK);
  } catch (err) {
    return `the folder \`${dir}\` cannot be read (${(err as NodeJS.ErrnoException).code ?? 'unknown error'})`;
  }
  return undefined;
}

/** Why a bundle's manifest could not be read, in words: the folder is missing, or it is not a bundle. */
function manifestProblem(dir: string, err: NodeJS.ErrnoException): string {
  if (err.code === 'ENOENT' || err.code === 'ENOTDIR')
    return (
      bundlePathProblem(dir) ??
      `missing: \`${dir}\` is not an evidence bundle (\`gatehouse incident export\` writes one)`
    );
  return err.code ? `unreadable (${err.code})` : 'not JSON: the bundle was damaged';
}

/** Re-check a bundle offline. `trustedKeys`: key ids whose signatures count (default: any valid one). */

export async function verifyBundle(dir: string, trustedKeys?: ReadonlySet<string>): Promise<BundleReport> {
  const problems: BundleProblem[] = [];
  const notes: string[] = [];
  const fail = (file: string, problem: string): BundleReport => ({
    ok: false,
    incident: null,
    keyId: null,
    records: 0,
    stubs: 0,
    problems: [...problems, { file, problem }],
    notes,
    keys: [],
  });
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  } catch (err) {
    return fail('manifest.json', manifestProblem(dir, err as NodeJS.ErrnoException));
  }
  if (
    (manifest?.format !== BUNDLE_FORMAT && manifest?.format !== BUNDLE_FORMAT_1) ||
    typeof manifest.files !== 'object' ||
    !manifest.files ||
    typeof manifest.incident !== 'string' ||
    !manifest.signature
  )
    return fail('manifest.json', 'not a gatehouse incident bundle');
  checkSignature(manifest, trustedKeys, problems, notes);
  const text = await readFiles(dir, manifest, problems);
  let events: BundleRecord[] = [];
  try {
    events = (text.get('audit.jsonl') ?? '')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as BundleRecord);
    problems.push(...checkChain(events));
    const stubs = events.filter(isStub).length;
    if (stubs)
      notes.push(
        `${stubs} record(s) of other tenants are stubs (stream, seq, prev, hash): every link to and from them was checked, but their own hashes cannot be recomputed (their content is not in the bundle); a stub is bound only by the next record's prev or by a checkpoint`,
      );
  } catch {
    problems.push({ file: 'audit.jsonl', problem: 'a line is not valid json' });
  }
  let cps: Array<CheckpointDetail & { stream: string }> = [];
  try {
    const exported = text.get('checkpoints.json');
    cps = exported !== undefined ? parseCheckpointExport(exported).checkpoints : [];
  } catch {
    problems.push({ file: 'checkpoints.json', problem: 'not a checkpoint export' });
  }
  problems.push(...checkCheckpoints(events, cps, trustedKeys));
  return {
    ok: problems.length === 0,
    incident: manifest.incident,
    keyId: manifest.signature.keyId ?? null,
    records: events.length,
    stubs: events.filter(isStub).length,
    problems,
    notes,
    keys: signingKeys(manifest.signature.keyId, bundleCheckpoints(events, cps)).map((k) => ({
      ...k,
      trusted: trustedKeys ? trustedKeys.has(k.keyId) : null,
    })),
  };
}
