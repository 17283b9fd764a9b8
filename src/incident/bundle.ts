/**
 * `incident export` and `incident verify`: a self-contained evidence bundle, checkable offline.
 *
 *   incident.json      the incident record and its action log
 *   audit.jsonl        every audit record of the incident's window, in commit order, as stored
 *   checkpoints.json   the latest signed checkpoint of every stream (as `gatehouse audit checkpoints`)
 *   verification.json  the store's own verification at export time, and the window's chain check
 *   timelines.json     the runs (sessions) the scope's calls belong to, each reconstructed in order
 *   inventory.json     the inventory in force (servers, tools, classes, pins) and its revision
 *   policy.json        the policy revision and files, the run-time modes and revocations in force
 *   config.json        the configuration file's path and SHA-256
 *   manifest.json      SHA-256 of every file above, signed (Ed25519) with the gateway's audit key
 *
 * `verifyBundle` needs nothing but the directory: each file's digest, the manifest's signature, the
 * hash chain of the window's records (each record's own hash, and each link between records of one
 * stream), and every checkpoint's signature and (where the bundle holds its record) hash. Changing
 * any byte of any file fails it; so does rewriting a file and its manifest entry, since the
 * signature covers the entries.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { chainHash, type AuditEvent } from '../model/audit-event.ts';
import {
  exportCheckpoints,
  latestCheckpoints,
  loadOrCreateSigner,
  parseCheckpointExport,
  signatureValid,
  type CheckpointDetail,
} from '../audit/checkpoint.ts';
import { timeline } from '../audit/timeline.ts';
import { verifyAudit } from '../audit/verify.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import type { Store } from '../storage/types.ts';
import { addAction, getIncident, windowOf, type Actor } from './incident.ts';
import { touched, windowRecords } from './window.ts';
import { LIVE_MS } from './acks.ts';

/** Format 2 signs the whole manifest; format 1 (before 2026-12-06) signed only `files` and still verifies, with a note. */
const BUNDLE_FORMAT = 'gatehouse-incident-bundle/2';
const BUNDLE_FORMAT_1 = 'gatehouse-incident-bundle/1';
const FILES = [
  'incident.json',
  'audit.jsonl',
  'checkpoints.json',
  'verification.json',
  'timelines.json',
  'inventory.json',
  'policy.json',
  'config.json',
] as const;

interface Manifest {
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

const sha256 = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const filesDigest = (files: Record<string, string>) => sha256(canonicalJson(files));
/** What a format-2 signature covers: the whole manifest but the signature itself. */
function manifestDigest(m: Omit<Manifest, 'signature'> & { signature?: unknown }): string {
  const { signature: _signature, ...signed } = m;
  return sha256(canonicalJson(signed));
}
const signedName = (id: string) => `incident-bundle/2:${id}`;
const signedName1 = (id: string) => `incident-bundle:${id}`;

/** Records ordered by stream name, then by sequence number within a stream. */
function byStreamThenSeq(a: AuditEvent, b: AuditEvent): number {
  if (a.stream === b.stream) return a.seq - b.seq;
  return a.stream < b.stream ? -1 : 1;
}

/** Check the window's records on their own: each hash, and each link within a stream. */
export function checkChain(events: readonly AuditEvent[]): BundleProblem[] {
  const problems: BundleProblem[] = [];
  const last = new Map<string, AuditEvent>();
  for (const e of [...events].sort(byStreamThenSeq)) {
    if (chainHash(e) !== e.hash)
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
function bundleCheckpoints(
  events: readonly AuditEvent[],
  exported: ReadonlyArray<CheckpointDetail & { stream: string }>,
): Array<CheckpointDetail & { stream: string; file: string }> {
  const inWindow = events
    .filter((e) => e.kind === 'audit.checkpoint' && e.detail && typeof e.detail.seq === 'number')
    .map((e) => ({ ...(e.detail as unknown as CheckpointDetail), stream: e.stream, file: 'audit.jsonl' }));
  return [...exported.map((c) => ({ ...c, file: 'checkpoints.json' })), ...inWindow];
}

/** A key that signed something in a bundle: the manifest, checkpoints of these streams, or both. */
interface SigningKey {
  keyId: string;
  manifest: boolean;
  streams: string[];
}

/** Every key id that signed the manifest or a checkpoint of the bundle (as the bundle says; `verify` checks each signature). */
function signingKeys(
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

/** Why a signature by `keyId` does not count: its key is not among those trusted. */
const untrusted = (keyId: string) =>
  `signed by key ${keyId}, which is not among the trusted keys (--trust-key): trust it only if it is one of your gateways' (\`gatehouse audit key\` on each)`;

/** Checkpoints (exported, and those recorded in the window): signatures, and hashes where the bundle holds the record. */
function checkCheckpoints(
  events: readonly AuditEvent[],
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

export interface ExportResult {
  dir: string;
  incident: string;
  records: number;
  truncated: boolean;
  runs: number;
  manifest: Manifest;
  /** Every key that signed the manifest or a checkpoint in the bundle; `own`: this gateway's (its state directory's). */
  keys: Array<SigningKey & { own: boolean }>;
}

export async function exportBundle(
  store: Store,
  config: Config,
  actor: Actor,
  id: string,
  dir: string,
  opts: { tenant?: string; now?: number } = {},
): Promise<ExportResult> {
  const now = opts.now ?? Date.now();
  const incident = await getIncident(store, id, opts.tenant);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if ((await readdir(dir)).length) throw new Error(`\`${dir}\` is not empty: export into a new directory`);
  const { since, until } = windowOf(incident, now);
  const { records, truncated } = await windowRecords(store.audit, incident, now);
  const events = records.map((r) => r.event);
  const t = touched(incident.scope, events);
  const runs = [];
  for (const run of t.runs)
    runs.push({ run, entries: timeline((await store.audit.read({ runId: run, limit: 100_000 })).map((r) => r.event)) });
  const policyFiles = [];
  for (const f of config.policy?.files ?? [])
    policyFiles.push({ file: f, sha256: await readFile(f).then(sha256, () => null) });
  const checkpoints = exportCheckpoints(await latestCheckpoints(store.audit), new Date(now));
  const content: Record<(typeof FILES)[number], string> = {
    'incident.json': JSON.stringify(incident, null, 2),
    'audit.jsonl': events.map((e) => JSON.stringify(e)).join('\n') + (events.length ? '\n' : ''),
    'checkpoints.json': JSON.stringify(checkpoints, null, 2),
    'verification.json': JSON.stringify(
      {
        store: await verifyAudit(store.audit, {
          liveStreams: new Set(await store.revocations.live(Date.now() - LIVE_MS)),
        }),
        window: { records: events.length, truncated, problems: checkChain(events) },
      },
      null,
      2,
    ),
    'timelines.json': JSON.stringify({ scope: incident.scope, touched: t, runs }, null, 2),
    'inventory.json': JSON.stringify(
      {
        revision: await store.inventory.revision(),
        servers: await store.inventory.servers(),
        tools: await store.inventory.tools(),
      },
      null,
      2,
    ),
    'policy.json': JSON.stringify(
      {
        revision: config.policy?.compiled.revision ?? null,
        files: policyFiles,
        runtimeModes: await store.modes.list(),
        principalRevocations: await store.principalRevocations.list(),
        credentialRevocations: await store.revocations.list(),
      },
      null,
      2,
    ),
    'config.json': JSON.stringify(
      {
        source: config.source,
        sha256: await readFile(config.source).then(sha256, () => null),
        servers: config.servers.map((s) => ({
          name: s.name,
          owner: s.owner ?? null,
          environment: s.environment ?? null,
        })),
      },
      null,
      2,
    ),
  };
  const files: Record<string, string> = {};
  for (const name of FILES) {
    await writeFile(join(dir, name), content[name], { mode: 0o600 });
    files[name] = sha256(content[name]);
  }
  const unsigned = {
    format: BUNDLE_FORMAT,
    incident: id,
    createdAt: new Date(now).toISOString(),
    window: { since: new Date(since).toISOString(), until: new Date(until).toISOString() },
    files,
  } as const;
  const signer = loadOrCreateSigner(config.gateway.stateDir);
  const signature = signer.sign(signedName(id), 0, manifestDigest(unsigned));
  const manifest: Manifest = { ...unsigned, signature };
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2), { mode: 0o600 });
  await addAction(store, id, actor, 'exported', {
    dir,
    records: events.length,
    truncated,
    runs: runs.length,
    manifest: sha256(JSON.stringify(manifest, null, 2)),
    keyId: signature.keyId,
  });
  const keys = signingKeys(signature.keyId, bundleCheckpoints(events, checkpoints.checkpoints)).map((k) => ({
    ...k,
    own: k.keyId === signer.keyId,
  }));
  return { dir, incident: id, records: events.length, truncated, runs: runs.length, manifest, keys };
}

export interface BundleReport {
  ok: boolean;
  incident: string | null;
  keyId: string | null;
  records: number;
  problems: BundleProblem[];
  /** What the checks could not cover, though nothing failed (an older format's unsigned fields). */
  notes: string[];
  /** Every key that signed the manifest or a checkpoint; `trusted`: among `trustedKeys` (null: none were given). */
  keys: Array<SigningKey & { trusted: boolean | null }>;
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
    problems: [...problems, { file, problem }],
    notes,
    keys: [],
  });
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  } catch (err) {
    return fail('manifest.json', `unreadable: ${(err as NodeJS.ErrnoException).code ?? 'not json'}`);
  }
  if (
    (manifest?.format !== BUNDLE_FORMAT && manifest?.format !== BUNDLE_FORMAT_1) ||
    typeof manifest.files !== 'object' ||
    !manifest.files ||
    typeof manifest.incident !== 'string' ||
    !manifest.signature
  )
    return fail('manifest.json', 'not a gatehouse incident bundle');
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
  let events: AuditEvent[] = [];
  try {
    events = (text.get('audit.jsonl') ?? '')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AuditEvent);
    problems.push(...checkChain(events));
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
    problems,
    notes,
    keys: signingKeys(manifest.signature.keyId, bundleCheckpoints(events, cps)).map((k) => ({
      ...k,
      trusted: trustedKeys ? trustedKeys.has(k.keyId) : null,
    })),
  };
}
