/**
 * `incident export` and `incident verify`: a self-contained evidence bundle, checkable offline.
 *
 *   incident.json      the incident record and its action log
 *   audit.jsonl        every audit record of the incident's window, in commit order, as stored; in the
 *                      bundle of a tenant's (or a person's) incident, another tenant's record is a stub
 *                      `{stream, seq, prev, hash, stub: true}`: the chain stays checkable, its content is not there
 *   checkpoints.json   the latest signed checkpoint of every stream (as `gatehouse audit checkpoints`)
 *   verification.json  the store's own verification at export time, and the window's chain check
 *   timelines.json     the runs (sessions) the scope's calls belong to, each reconstructed in order
 *   inventory.json     the inventory in force (servers, tools, classes, pins) and its revision
 *   policy.json        the policy revision and files, the run-time modes and revocations in force (for a
 *                      tenant's or a person's incident: the tenants' own only, and it says what was left out)
 *   config.json        the configuration file's path and SHA-256
 *   manifest.json      SHA-256 of every file above, the window and the time, signed (Ed25519) whole with the
 *                      gateway's audit key; every key that signed something in the bundle is listed by export
 *
 * `verifyBundle` needs nothing but the directory: each file's digest, the manifest's signature, the
 * hash chain of the window's records (each full record's own hash, and each link between records of
 * one stream, stubs included), and every checkpoint's signature and (where the bundle holds its
 * record) hash. A stub's own hash cannot be recomputed: the next record's `prev` (whose hash is
 * recomputed) or a checkpoint binds it, and the report counts the stubs and says so. Changing any
 * byte of any file fails it; so does rewriting a file and its manifest entry, since the signature
 * covers the whole manifest.
 *
 * Whose records are whole: a tool's or a server's incident is the platform's, and keeps every
 * record. A tenant's incident keeps that tenant's records, a person's those of the tenants the
 * person's calls were made in; both keep the writers' own records (a stream opened or closed, a
 * checkpoint), which name no tenant. Every other record (another tenant's call, an operator's
 * action) is a stub. Bundles are shared with the tenant and with server owners.
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
import type { IncidentRecord, Store } from '../storage/types.ts';
import { addAction, getIncident, windowOf, type Actor } from './incident.ts';
import { touched, windowRecords, type Touched } from './window.ts';
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

/** Another tenant's record in a tenant's bundle: what the chain needs, none of its content. */
interface Stub {
  stream: string;
  seq: number;
  prev: string;
  hash: string;
  stub: true;
}
type BundleRecord = AuditEvent | Stub;
const isStub = (e: BundleRecord): e is Stub => (e as Stub).stub === true;
const stubOf = (e: AuditEvent): Stub => ({ stream: e.stream, seq: e.seq, prev: e.prev, hash: e.hash, stub: true });

/** Records of the writers themselves, which name no tenant: whole in every bundle. */
const WRITER_KINDS: ReadonlySet<string> = new Set(['stream.opened', 'stream.closed', 'audit.checkpoint']);

/**
 * The tenants whose records a bundle holds whole: a tenant's incident, that tenant; a person's, the
 * tenants of the person's calls in the window; undefined for a tool's or a server's (everyone's).
 */
function bundleTenants(scope: IncidentRecord['scope'], t: Touched): ReadonlySet<string> | undefined {
  if (scope.kind === 'tenant') return new Set([scope.value]);
  if (scope.kind === 'principal') return new Set(t.tenants);
  return undefined;
}

const wholeIn = (e: AuditEvent, tenants: ReadonlySet<string>): boolean =>
  WRITER_KINDS.has(e.kind) || (!!e.actor?.tenant && tenants.has(e.actor.tenant));

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
function bundleCheckpoints(
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

/**
 * The run-time modes and revocations in force. Everyone's for a platform incident; for a tenant's
 * (or a person's), the tenants' own only: their modes, the revocations of the people whose records
 * the bundle holds whole, the credentials this incident revoked; and how many others were left out.
 */
async function stateInForce(
  store: Store,
  incident: IncidentRecord,
  tenants: ReadonlySet<string> | undefined,
  events: readonly AuditEvent[],
): Promise<Record<string, unknown>> {
  const runtimeModes = await store.modes.list();
  const principalRevocations = await store.principalRevocations.list();
  const credentialRevocations = await store.revocations.list();
  if (!tenants) return { runtimeModes, principalRevocations, credentialRevocations };
  const subjects = new Set(
    events.filter((e) => e.actor?.tenant && tenants.has(e.actor.tenant)).flatMap((e) => e.actor?.subject ?? []),
  );
  if (incident.scope.kind === 'principal') subjects.add(incident.scope.value);
  const revoked = new Set(
    incident.actions
      .filter((a) => a.action === 'revoked')
      .flatMap((a) => (a.detail.credentials as Array<{ ref?: unknown }> | undefined) ?? [])
      .map((c) => c.ref),
  );
  const modes = runtimeModes.filter((m) => [...tenants].some((t) => m.scope === `tenant:${t}`));
  const principals = principalRevocations.filter((r) => r.kind === 'subject' && subjects.has(r.value));
  const credentials = credentialRevocations.filter((r) => revoked.has(r.ref));
  return {
    runtimeModes: modes,
    principalRevocations: principals,
    credentialRevocations: credentials,
    filtered: {
      tenants: [...tenants].sort(),
      note: "a tenant's bundle: only the tenants' own run-time modes, the revocations of their people, and the credentials this incident revoked; the store-wide lists are left out",
      leftOut: {
        runtimeModes: runtimeModes.length - modes.length,
        principalRevocations: principalRevocations.length - principals.length,
        credentialRevocations: credentialRevocations.length - credentials.length,
      },
    },
  };
}

export interface ExportResult {
  dir: string;
  incident: string;
  records: number;
  /** Of those, the records of other tenants written as stubs (a tenant's or a person's incident). */
  stubs: number;
  truncated: boolean;
  runs: number;
  manifest: Manifest;
  /** Every key that signed the manifest or a checkpoint in the bundle; `own`: this gateway's (its state directory's). */
  keys: Array<SigningKey & { own: boolean }>;
}

/** The state in force: inventory, policy (with the run-time modes and revocations), configuration. */
async function stateFiles(
  store: Store,
  config: Config,
  incident: IncidentRecord,
  tenants: ReadonlySet<string> | undefined,
  events: readonly AuditEvent[],
): Promise<Record<'inventory.json' | 'policy.json' | 'config.json', string>> {
  const policyFiles = [];
  for (const f of config.policy?.files ?? [])
    policyFiles.push({ file: f, sha256: await readFile(f).then(sha256, () => null) });
  return {
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
        ...(await stateInForce(store, incident, tenants, events)),
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
  const tenants = bundleTenants(incident.scope, t);
  const whole = (e: AuditEvent) => !tenants || wholeIn(e, tenants);
  const shown: BundleRecord[] = events.map((e) => (whole(e) ? e : stubOf(e)));
  const stubs = shown.filter(isStub).length;
  const runs = [];
  for (const run of t.runs) {
    const inRun = (await store.audit.read({ runId: run, limit: 100_000 })).map((r) => r.event);
    runs.push({ run, entries: timeline(inRun.filter(whole)) });
  }
  const checkpoints = exportCheckpoints(await latestCheckpoints(store.audit), new Date(now));
  const content: Record<(typeof FILES)[number], string> = {
    'incident.json': JSON.stringify(incident, null, 2),
    'audit.jsonl': shown.map((e) => JSON.stringify(e)).join('\n') + (shown.length ? '\n' : ''),
    'checkpoints.json': JSON.stringify(checkpoints, null, 2),
    'verification.json': JSON.stringify(
      {
        store: await verifyAudit(store.audit, {
          liveStreams: new Set(await store.revocations.live(Date.now() - LIVE_MS)),
        }),
        window: {
          records: events.length,
          stubs,
          tenants: tenants ? [...tenants].sort() : null,
          truncated,
          problems: checkChain(events),
        },
      },
      null,
      2,
    ),
    'timelines.json': JSON.stringify({ scope: incident.scope, touched: t, runs }, null, 2),
    ...(await stateFiles(store, config, incident, tenants, events)),
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
    stubs,
    truncated,
    runs: runs.length,
    manifest: sha256(JSON.stringify(manifest, null, 2)),
    keyId: signature.keyId,
  });
  const keys = signingKeys(signature.keyId, bundleCheckpoints(events, checkpoints.checkpoints)).map((k) => ({
    ...k,
    own: k.keyId === signer.keyId,
  }));
  return { dir, incident: id, records: events.length, stubs, truncated, runs: runs.length, manifest, keys };
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
