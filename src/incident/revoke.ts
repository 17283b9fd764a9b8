/**
 * `incident revoke`: revoke what the incident's scope used, and confirm it.
 *
 * - brokered secret references of the affected servers (for a tool or server: every reference as
 *   configured, which covers every tenant's expansion; for a tenant: that tenant's expansions of
 *   `{tenant}` references; a reference shared by every tenant is reported, not revoked, since
 *   revoking it would cut every tenant off);
 * - upstream OAuth authorizations (`oauth:<server>`, or `oauth:<server>:<tenant>`, or a person's own
 *   `oauth:<server>:<tenant>/<subject>` for per-user authorizations);
 * - API keys of the tenant, or acting for the principal;
 * - legacy sessions of the tenant or the principal (every gateway ends them within seconds).
 *
 * "Affected servers" are the scope's own (a tool's server, the server) and every server the scope's
 * calls reached in the incident's window. Credential revocations are confirmed by every live gateway
 * (the broker's acknowledgements); API keys and sessions are read from the store on every request,
 * so they take effect when written.
 */
import type { Config, ServerConfig } from '../config/schema.ts';
import { expandReference } from '../credentials/types.ts';
import type { ApiKeyRecord, IncidentRecord, Store } from '../storage/types.ts';
import { confirmed, confirmedDetail, LIVE_MS, liveNow, type Confirmation } from './acks.ts';
import { addAction, getIncident, scopeServer, type Actor } from './incident.ts';
import { touched, windowRecords } from './window.ts';
import { serviceKeySubject } from '../model/approval.ts';

interface PlannedRef {
  ref: string;
  server: string;
  kind: 'secret' | 'oauth';
}

export interface Plan {
  servers: string[];
  refs: PlannedRef[];
  /** Shared references left alone, with why. */
  skipped: Array<{ ref: string; server: string; why: string }>;
  apiKeys: Array<{ id: string; name: string; roles: string[] }>;
  sessions: { tenant?: string; subject?: string } | undefined;
}

function refsOf(s: ServerConfig): string[] {
  const c = s.credentials;
  return [
    ...Object.values(c?.env ?? {}),
    ...Object.values(c?.headers ?? {}).map((h) => (typeof h === 'string' ? h : h.ref)),
  ];
}

export async function plan(store: Store, config: Config, incident: IncidentRecord): Promise<Plan> {
  const { scope } = incident;
  const { records } = await windowRecords(store.audit, incident);
  const t = touched(
    scope,
    records.map((r) => r.event),
  );
  const own = scopeServer(config, scope);
  const servers = [...new Set([...(own ? [own] : []), ...t.servers])]
    .filter((n) => config.servers.some((s) => s.name === n))
    .sort();
  const refs: PlannedRef[] = [];
  const skipped: Plan['skipped'] = [];
  const add = (p: PlannedRef) => {
    if (!refs.some((r) => r.ref === p.ref)) refs.push(p);
  };
  for (const name of servers) {
    const s = config.servers.find((x) => x.name === name);
    if (!s) continue; // not reached: only configured servers are listed
    const oauth = s.transport !== 'stdio' ? s.oauth : undefined;
    if (scope.kind === 'tool' || scope.kind === 'server') {
      for (const ref of refsOf(s)) add({ ref, server: name, kind: 'secret' });
      if (oauth) add({ ref: `oauth:${name}`, server: name, kind: 'oauth' });
      continue;
    }
    const tenants = scope.kind === 'tenant' ? [scope.value] : t.tenants;
    for (const ref of refsOf(s)) {
      if (scope.kind === 'principal') {
        skipped.push({ ref, server: name, why: "shared by the principal's tenant; the principal never saw it" });
        continue;
      }
      if (!ref.includes('{tenant}')) {
        skipped.push({
          ref,
          server: name,
          why: 'shared by every tenant: revoke it with `gatehouse credentials revoke` if it must go',
        });
        continue;
      }
      for (const tenant of tenants) {
        try {
          add({
            ref: expandReference(ref, { tenant, environment: s.environment ?? 'default' }),
            server: name,
            kind: 'secret',
          });
        } catch {
          skipped.push({ ref, server: name, why: `cannot be expanded for tenant \`${tenant}\`` });
        }
      }
    }
    if (oauth) {
      for (const tenant of tenants) {
        if (scope.kind === 'tenant') add({ ref: `oauth:${name}:${tenant}`, server: name, kind: 'oauth' });
        else if (oauth.per === 'user')
          add({ ref: `oauth:${name}:${tenant}/${scope.value}`, server: name, kind: 'oauth' });
      }
    }
  }
  const keys = (await store.apiKeys.list()).filter((k) => k.revokedAt === null && keyInScope(k, scope));
  return {
    servers,
    refs,
    skipped,
    apiKeys: keys.map((k) => ({ id: k.id, name: k.name, roles: k.roles })),
    sessions: sessionsOf(scope),
  };
}

/**
 * Whether an API key is the scope's: the tenant's keys, or the keys acting for the principal (a
 * person's keys by their subject; a service key by its own subject, `apikey:<name>`). A service key
 * that merely bears the person's name is another principal's, often another tenant's: not taken.
 */
function keyInScope(k: ApiKeyRecord, scope: IncidentRecord['scope']): boolean {
  if (scope.kind === 'tenant') return k.tenant === scope.value;
  if (scope.kind === 'principal') return (k.subject ?? serviceKeySubject(k.name)) === scope.value;
  return false;
}

/** The sessions the scope ends: a tenant's or a principal's; none for a tool or a server. */
function sessionsOf(scope: IncidentRecord['scope']): Plan['sessions'] {
  if (scope.kind === 'tenant') return { tenant: scope.value };
  if (scope.kind === 'principal') return { subject: scope.value };
  return undefined;
}

export interface RevokeResult {
  incident: string;
  servers: string[];
  credentials: Array<PlannedRef & { revokedAt: string } & Confirmation>;
  skipped: Plan['skipped'];
  apiKeys: Array<{ id: string; name: string; revokedAt: string }>;
  sessions: { ended: number; at: string } | null;
  confirmed: boolean;
}

export async function revokeIncident(
  store: Store,
  config: Config,
  actor: Actor,
  id: string,
  opts: {
    /** The caller is that tenant's admin (else a platform admin or the operator). */
    tenant?: string;
    timeoutMs?: number;
    onWait?: (missing: number, of: number) => void;
    spareKey?: string;
  } = {},
): Promise<RevokeResult> {
  const incident = await getIncident(store, id, opts.tenant);
  const p = await plan(store, config, incident);
  const at = Date.now();
  const live = await store.revocations.live(LIVE_MS);
  const reason = `incident ${id}: ${incident.title}`.slice(0, 500);
  for (const r of p.refs) {
    await store.revocations.revoke({ ref: r.ref, reason, revokedBy: actor.name, revokedAt: at });
    await actor.record('credentials.revoke', { ref: r.ref, reason, incident: id });
  }
  const credentials = await Promise.all(
    p.refs.map(async (r) => ({
      ...r,
      revokedAt: new Date(at).toISOString(),
      ...(await confirmed(live, () => store.revocations.acks(r.ref), {
        at,
        timeoutMs: opts.timeoutMs ?? 30_000,
        onWait: opts.onWait,
        stillLive: liveNow(store.revocations),
      })),
    })),
  );
  for (const c of credentials) {
    const detail = confirmedDetail(c.ref, c);
    if (detail) await actor.record('credentials.confirmed', { ...detail, incident: id });
  }
  const apiKeys: RevokeResult['apiKeys'] = [];
  const platformRoles = config.identity?.platformAdminRoles ?? [];
  for (const k of p.apiKeys) {
    // A tenant admin does not lock a platform operator out (as `keys revoke` in the console refuses).
    if (opts.tenant !== undefined && k.roles.some((r) => platformRoles.includes(r))) {
      p.skipped.push({
        ref: `api key ${k.name}`,
        server: '',
        why: 'holds a platform admin role: only a platform admin revokes it',
      });
      continue;
    }
    // The key the admin acts with stays: revoking it would lock them out of the rest of the playbook.
    if (k.name === opts.spareKey) {
      p.skipped.push({
        ref: `api key ${k.name}`,
        server: '',
        why: 'the key this request came with (revoke it with `gatehouse keys revoke` when done)',
      });
      continue;
    }
    const after = await store.apiKeys.revoke(k.id, actor.name, Date.now());
    if (after?.revokedAt) {
      apiKeys.push({ id: k.id, name: k.name, revokedAt: new Date(after.revokedAt).toISOString() });
      await actor.record('keys.revoke', { id: k.id, name: k.name, incident: id });
    }
  }
  const sessions = p.sessions
    ? { ended: await store.sessions.deleteMatching(p.sessions), at: new Date().toISOString() }
    : null;
  const result: RevokeResult = {
    incident: id,
    servers: p.servers,
    credentials,
    skipped: p.skipped,
    apiKeys,
    sessions,
    confirmed: credentials.every((c) => c.confirmed),
  };
  await addAction(store, id, actor, 'revoked', {
    credentials: credentials.map((c) => ({ ref: c.ref, confirmed: c.confirmed, timeToEffectMs: c.timeToEffectMs })),
    apiKeys: apiKeys.map((k) => k.name),
    sessionsEnded: sessions?.ended ?? 0,
    confirmed: result.confirmed,
  });
  return result;
}
