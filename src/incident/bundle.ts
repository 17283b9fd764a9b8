/**
 * `incident export`: a self-contained evidence bundle, checkable offline (`incident verify`: bundle-verify.ts).
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
 * Whose records are whole: a tool's or a server's incident is the platform's, and keeps every
 * record. A tenant's incident keeps that tenant's records, a person's those of the tenants the
 * person's calls were made in; both keep the writers' own records (a stream opened or closed, a
 * checkpoint), which name no tenant. Every other record (another tenant's call, an operator's
 * action) is a stub. Bundles are shared with the tenant and with server owners.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import type { AuditEvent } from '../model/audit-event.ts';
import { exportCheckpoints, latestCheckpoints, loadOrCreateSigner } from '../audit/checkpoint.ts';
import { timeline } from '../audit/timeline.ts';
import { verifyAudit } from '../audit/verify.ts';
import type { IncidentRecord, Store } from '../storage/types.ts';
import { addAction, getIncident, IncidentError, windowOf, type Actor } from './incident.ts';
import { touched, windowRecords, type Touched } from './window.ts';
import { LIVE_MS } from './acks.ts';
import {
  BUNDLE_FORMAT,
  bundleCheckpoints,
  type BundleRecord,
  checkChain,
  FILES,
  isStub,
  type Manifest,
  manifestDigest,
  sha256,
  signedName,
  type SigningKey,
  signingKeys,
  type Stub,
} from './bundle-format.ts';

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
  opts: {
    tenant?: string;
    now?: number;
    /** Where a long export stands, in words (a window holds up to 500,000 records): the CLI shows it. */
    onProgress?: (text: string) => void;
  } = {},
): Promise<ExportResult> {
  const now = opts.now ?? Date.now();
  const incident = await getIncident(store, id, opts.tenant);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if ((await readdir(dir)).length)
    throw new IncidentError('invalid', `\`${dir}\` is not empty: export into a new directory`);
  const { since, until } = windowOf(incident, now);
  const said = opts.onProgress;
  const { records, truncated } = await windowRecords(
    store.audit,
    incident,
    now,
    said && ((n) => said(`read ${n} audit record(s) of the window`)),
  );
  const events = records.map((r) => r.event);
  const t = touched(incident.scope, events);
  const tenants = bundleTenants(incident.scope, t);
  const whole = (e: AuditEvent) => !tenants || wholeIn(e, tenants);
  const shown: BundleRecord[] = events.map((e) => (whole(e) ? e : stubOf(e)));
  const stubs = shown.filter(isStub).length;
  const runs = [];
  for (const run of t.runs) {
    said?.(`read ${runs.length} of ${t.runs.length} run timeline(s)`);
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
          liveStreams: new Set(await store.revocations.live(LIVE_MS)),
          onProgress: said && ((n) => said(`verified ${n} records of the store's chain`)),
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
