/**
 * What `gatehouse check` reads from the running system besides the config and the inventory, so that
 * no readiness item is a constant: the audit trail (records, calls left without an outcome, export
 * lag), the modes in force and those ever set, revocations and which live gateways confirmed them,
 * recorded approval decisions, whether every catalogued tool's input schema can be enforced, the
 * secrets key, and which `local:` and `env:` references name nothing. Each part is read on
 * its own; a part that cannot be read is `undefined`, and the items that need it fail.
 */
import { exportBacklog } from '../audit/exports.ts';
import { approvedRetention } from '../identity/dual-control.ts';
// The same window `gatehouse incident revoke` waits on: a gateway is live while it heartbeats.
import { LIVE_MS } from '../incident/acks.ts';
import type { Store } from '../storage/types.ts';
import type { Config } from '../config/schema.ts';
import type { InventoryData } from '../inventory/report.ts';
import { isItemName } from '../catalog/names.ts';
import { SchemaValidators } from '../policy/arguments.ts';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LOCAL_KEY_FILE, LOCAL_SECRETS_FILE } from '../credentials/broker.ts';
import { KEY_ENV, keyId, keyProblem, storedNames } from '../credentials/local-store.ts';
import { missingSecrets, type MissingSecret } from '../credentials/missing-secrets.ts';
import { PREVIOUS_KEY_ENV, previousKeyProblem } from '../credentials/held-keys.ts';
import { notPrivate } from '../util/private-path.ts';

/** What one audit export has left to send. */
export interface ExportState {
  /** Records after its cursor (src/audit/exports.ts, exportBacklog). */
  lag: number;
  /** Its cursor ever moved: some replica delivered at least one batch. */
  delivered: boolean;
  /** How long the oldest record it has not sent has waited (0 when none waits). */
  waitingMs: number;
}

export interface ReadinessState {
  audit?: {
    records: number;
    /** Call intents older than STALE_MS without an outcome (or `unknown`) record. */
    unclosed: number;
    /** Each configured export's backlog in the store every replica shares (exportState in audit-items.ts judges it). */
    exports: Record<string, ExportState>;
  };
  modes?: Array<{ scope: string; mode: string }>;
  revocations?: { refs: string[]; unconfirmed: string[]; liveGateways: number };
  /**
   * Revocations ever confirmed by the live gateways (`credentials.confirmed` in the audit trail, by the
   * CLI, the admin API or an incident), oldest first: a drill counts after its revocation was lifted.
   */
  revocationsConfirmed?: Array<{ ref: string; gateways: number; by: string; time: string }>;
  /**
   * Approvals a person decided (approved, denied, used, or expired after a decision), of the newest
   * APPROVALS_READ of each status (`capped`: there may be more).
   */
  approvals?: { decided: number; unrecorded: number; capped: boolean };
  /** Run-time modes ever set (`mode.set` in the audit trail, by the CLI, console or an incident), oldest first. */
  modeSets?: Array<{ mode: string; scope: string; by: string; time: string }>;
  /**
   * The last audit retention two people approved (`gatehouse audit retention`), or the baseline the
   * first gateway recorded; absent before either, undefined when it cannot be read.
   */
  retention?: { days: number; baseline: boolean; requestedBy: string; confirmedBy: string; confirmedAt: number } | null;
  /** Catalogued tools whose input schema cannot be compiled (so no call to them is let through). */
  uncheckable?: string[];
  /**
   * Where the secrets key comes from, and why it cannot be used when it cannot (never the key); its id
   * (local-store.ts keyId) when it can be read, and the ids the live gateways recorded in the store
   * (`gateways` undefined: they cannot be read; `keyId` undefined: that gateway recorded none).
   */
  secretsKey?: {
    source: 'environment' | 'file' | 'none';
    problem?: string;
    keyId?: string;
    /** The id of GATEHOUSE_SECRETS_KEY_PREVIOUS, when set and usable (a key roll: opened with, never sealed with). */
    previousKeyId?: string;
    gateways?: Array<{ instance: string; keyId: string | undefined; previousKeyId?: string }>;
    /** A `gatehouse secrets rotate-key` was interrupted: its new key is still beside the key file. */
    rotating?: boolean;
  };
  /**
   * The enabled servers' `local:` references the local store does not hold (names read, never values;
   * not judged when the store cannot be read) and `env:` references to variables unset here.
   */
  missingSecrets?: MissingSecret[];
}

const STALE_MS = 5 * 60_000;
const APPROVALS_READ = 200;
/** Pages of admin actions searched for mode switches and confirmed revocations (each bounded in time by the store's search). */
const MODE_PAGES = 20;

/** Mode switches and confirmed revocations, read from the admin actions of the audit trail (oldest first). */
async function adminHistory(
  store: Store,
): Promise<Required<Pick<ReadinessState, 'modeSets' | 'revocationsConfirmed'>>> {
  const modeSets: NonNullable<ReadinessState['modeSets']> = [];
  const revocationsConfirmed: NonNullable<ReadinessState['revocationsConfirmed']> = [];
  let afterPosition: number | undefined;
  for (let page = 0; page < MODE_PAGES; page++) {
    const { rows, next } = await store.audit.search({ kind: 'admin.action', afterPosition, limit: 1000 });
    for (const { event } of rows) {
      const d = event.detail ?? {};
      const by = event.actor?.subject ?? '';
      if (d.action === 'mode.set' && typeof d.mode === 'string')
        modeSets.push({ mode: d.mode, scope: String(d.scope ?? ''), by, time: event.time });
      if (d.action === 'credentials.confirmed' && typeof d.ref === 'string' && Number(d.gateways) > 0)
        revocationsConfirmed.push({ ref: d.ref, gateways: Number(d.gateways), by, time: event.time });
    }
    if (next === undefined) break;
    afterPosition = next;
  }
  return { modeSets, revocationsConfirmed };
}

async function part<T>(f: () => Promise<T>): Promise<T | undefined> {
  try {
    return await f();
  } catch {
    return undefined;
  }
}

/**
 * The secrets key as a start would read it (GATEHOUSE_SECRETS_KEY, else the key file in the state
 * directory), only looked at: a missing key file is made by the gateway's first start, not here.
 */
async function secretsKey(
  config: Config,
  env: NodeJS.ProcessEnv,
): Promise<Omit<NonNullable<ReadinessState['secretsKey']>, 'gateways'>> {
  const idOf = (base64: string) => keyId(Buffer.from(base64.trim(), 'base64'));
  const fromEnv = env[KEY_ENV];
  if (fromEnv) {
    const problem = keyProblem(fromEnv, KEY_ENV) ?? previousKeyProblem(env);
    const previous = env[PREVIOUS_KEY_ENV];
    return {
      source: 'environment',
      problem,
      keyId: problem ? undefined : idOf(fromEnv),
      ...(!problem && previous && { previousKeyId: idOf(previous) }),
    };
  }
  const file = join(config.gateway.stateDir, LOCAL_KEY_FILE);
  try {
    const why = notPrivate(file, await stat(file), 'the key file', 0o077);
    const text = why ? '' : await readFile(file, 'utf8');
    const problem = why ?? keyProblem(text, `the key file ${LOCAL_KEY_FILE}`) ?? previousKeyProblem(env);
    const rotating = await stat(`${file}.next`).then(
      () => true,
      () => false,
    );
    return { source: 'file', problem, keyId: problem ? undefined : idOf(text), ...(rotating && { rotating }) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      return { source: 'none', ...(previousKeyProblem(env) && { problem: previousKeyProblem(env) }) };
    return { source: 'file', problem: `the key file ${LOCAL_KEY_FILE} cannot be read (${code ?? 'error'})` };
  }
}

/** The `local:` names a start would find: in the shared database with PostgreSQL, the state directory's file with SQLite (ADR 0016). */
async function localNames(store: Store, config: Config): Promise<Set<string>> {
  if (store.driver === 'postgres') return new Set((await store.localSecrets.list()).map((r) => r.name));
  return new Set(await storedNames(join(config.gateway.stateDir, LOCAL_SECRETS_FILE)));
}

export async function gatherState(
  store: Store,
  config: Config,
  inv: InventoryData,
  now = Date.now(),
  env: NodeJS.ProcessEnv = process.env,
): Promise<ReadinessState> {
  const [audit, modes, revocations, approvals, history] = await Promise.all([
    part(async () => {
      const records = await store.audit.count();
      const open = await store.audit.openIntents([]);
      const exports: Record<string, ExportState> = {};
      for (const e of config.audit.exports) {
        const b = await exportBacklog(store.audit, e.name);
        const waitingMs = b.oldest ? Math.max(0, now - Date.parse(b.oldest)) : 0;
        exports[e.name] = { lag: b.lag, delivered: b.cursor > 0, waitingMs };
      }
      const unclosed = open.filter((r) => now - Date.parse(r.time) > STALE_MS).length;
      return { records, unclosed, exports };
    }),
    part(async () => (await store.modes.list()).map((m) => ({ scope: m.scope, mode: m.mode }))),
    part(async () => {
      const list = await store.revocations.list();
      const live = await store.revocations.live(LIVE_MS);
      const unconfirmed: string[] = [];
      for (const r of list) {
        const acked = new Set((await store.revocations.acks(r.ref)).map((a) => a.instance));
        if (live.some((g) => !acked.has(g))) unconfirmed.push(r.ref);
      }
      return { refs: list.map((r) => r.ref), unconfirmed, liveGateways: live.length };
    }),
    part(async () => {
      // Approved, denied and used requests were decided by a person; an expired one only if someone
      // decided before it expired (an approval left unused, or one of two approvers).
      const lists = await Promise.all(
        (['approved', 'denied', 'used', 'expired'] as const).map((status) =>
          store.approvals.list({ status, limit: APPROVALS_READ }),
        ),
      );
      const decided = lists.flat().filter((r) => r.status !== 'expired' || r.decisions.length > 0);
      const unrecorded = decided.filter(
        (r) => !r.decisions.length || r.decisions.some((d) => !d.by?.subject || !Number.isFinite(d.at)),
      ).length;
      return { decided: decided.length, unrecorded, capped: lists.some((l) => l.length >= APPROVALS_READ) };
    }),
    part(() => adminHistory(store)),
  ]);
  const validators = new SchemaValidators();
  const uncheckable = inv.tools
    .filter((t) => t.present && !isItemName(t.tool))
    .filter((t) => validators.check(t.pin, (t.def as { inputSchema?: unknown }).inputSchema, {})?.path === '(schema)')
    .map((t) => `${t.server}/${t.tool}`);
  // The live gateways' key ids, to compare with this one's and with each other's.
  const gateways = await part(() => store.revocations.keyIds(LIVE_MS));
  const key = { ...(await secretsKey(config, env)), gateways };
  const local = await part(() => localNames(store, config));
  // With PostgreSQL, names still in the file are reported with what moves them.
  const inFile =
    store.driver === 'postgres'
      ? await part(async () => new Set(await storedNames(join(config.gateway.stateDir, LOCAL_SECRETS_FILE))))
      : undefined;
  const missing = missingSecrets(
    config.servers.filter((s) => !s.disabled),
    { local, env, inFile },
  );
  const retention = await part(async () => {
    const r = await approvedRetention(store.dualControl);
    if (!r) return null;
    return {
      days: Number(r.params.days),
      baseline: r.params.baseline === true,
      requestedBy: r.requestedBy,
      confirmedBy: r.confirmedBy ?? '',
      confirmedAt: r.confirmedAt ?? 0,
    };
  });
  return {
    audit,
    modes,
    revocations,
    approvals,
    modeSets: history?.modeSets,
    revocationsConfirmed: history?.revocationsConfirmed,
    retention,
    uncheckable,
    secretsKey: key,
    missingSecrets: missing,
  };
}
