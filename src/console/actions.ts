/**
 * What the console changes, with the same rules and the same records as the CLI: accepting and
 * classifying through `src/inventory/review.ts` and the inventory store, modes through the mode
 * store, keys through the key store; each an `admin.action` audit record naming the person and
 * `via: console`. Authority is checked here, not in the pages: a tenant admin switches its own tenant
 * and manages its own tenant's keys (never with a platform admin role); inventory reviews and modes
 * of tools, servers or the gateway serve every tenant, so they need a platform admin.
 */
import { personSubject } from '../identity/principal.ts';
import type { Config } from '../config/schema.ts';
import type { FanoutMessage } from '../sessions/fanout.ts';
import type { Store, ModeRecord, ApiKeyRecord } from '../storage/types.ts';
import type { AdminScope } from '../identity/authenticator.ts';
import type { AuditInput } from '../audit/log.ts';
import { API_KEY_ISSUER, type Principal } from '../identity/principal.ts';
import { accept, classify } from '../inventory/review.ts';
import { TOOL_CLASSES, type ToolClass } from '../model/tool-class.ts';
import { MODES } from '../policy/model.ts';
import { TENANT_KEY_MAX_DAYS, newApiKey, parseDuration } from '../identity/api-keys.ts';
import {
  checkTarget,
  closeIncident,
  getIncident,
  IncidentError,
  openIncident,
  type Actor as IncidentActor,
} from '../incident/incident.ts';
import type { IncidentRecord } from '../storage/types.ts';
import { mayUndo, setterName } from '../incident/authority.ts';

export interface ActionDeps {
  config: Config;
  store: Store;
  record: (input: AuditInput) => Promise<unknown>;
  /** An incident's containment or lift: in force on this gateway first, then fanned out. */
  announce?: (msg: FanoutMessage) => Promise<unknown>;
}

export interface Actor {
  principal: Principal;
  scope: AdminScope;
}

export type Outcome =
  | { ok: true; message: string; created?: { key: string; name: string } }
  | { ok: false; message: string };

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function by(a: Actor): string {
  return `${a.principal.subject}@${a.principal.tenant}`;
}

async function recordAction(
  deps: ActionDeps,
  a: Actor,
  action: string,
  detail: Record<string, unknown>,
): Promise<void> {
  const p = a.principal;
  await deps.record({
    kind: 'admin.action',
    actor: { subject: p.subject, tenant: p.tenant, via: p.via, issuer: p.issuer },
    detail: { action, via: 'console', ...detail },
  });
}

function splitName(config: Config, name: string): { server: string; tool: string | null } | undefined {
  const sep = config.gateway.namespaceSeparator;
  const i = name.indexOf(sep);
  const server = i < 0 ? name : name.slice(0, i);
  if (!config.servers.some((s) => s.name === server)) return undefined;
  return { server, tool: i < 0 ? null : name.slice(i + sep.length) };
}

const PLATFORM = 'this needs a platform admin: the inventory serves every tenant';

/**
 * `gatehouse inventory accept <tool>`: accept a quarantined tool's current definition (or a server's
 * instructions); one the poisoning scan flagged only with `findingsConfirmed`.
 */
export async function acceptItem(
  deps: ActionDeps,
  a: Actor,
  name: string,
  findingsConfirmed = false,
): Promise<Outcome> {
  if (!a.scope.platform) return { ok: false, message: PLATFORM };
  const t = splitName(deps.config, name);
  if (!t) return { ok: false, message: `unknown server in \`${name}\`` };
  const who = by(a);
  // A definition the poisoning scan flagged needs the box under its findings ticked (the CLI's --confirm-findings).
  const confirm = { confirmed: findingsConfirmed, how: 'the box "I have read the findings" under them' };
  const r = await deps.store.inventory.update(t.server, (state) => accept(state, t.tool, who, Date.now(), confirm));
  if (!r.ok) return { ok: false, message: `cannot accept \`${name}\`: ${r.message}` };
  if (r.unchanged) return { ok: true, message: `${name}: ${r.message}` };
  await recordAction(deps, a, 'inventory.accept', {
    server: t.server,
    tool: t.tool,
    result: r.message,
    ...(findingsConfirmed ? { findingsConfirmed: true } : {}),
  });
  return { ok: true, message: `${name}: ${r.message} by ${who}` };
}

/** `gatehouse inventory classify <tool> <class>`. */
export async function classifyTool(deps: ActionDeps, a: Actor, name: string, cls: string): Promise<Outcome> {
  if (!a.scope.platform) return { ok: false, message: PLATFORM };
  const upper = cls.toUpperCase();
  if (!(TOOL_CLASSES as readonly string[]).includes(upper))
    return { ok: false, message: `unknown class \`${cls}\`: use ${TOOL_CLASSES.join(', ')}` };
  const t = splitName(deps.config, name);
  if (!t || t.tool === null)
    return {
      ok: false,
      message: `\`${name}\` is not a tool (<server>${deps.config.gateway.namespaceSeparator}<tool>)`,
    };
  const tool = t.tool;
  const who = by(a);
  const r = await deps.store.inventory.update(t.server, (state) =>
    classify(state, tool, upper as ToolClass, who, Date.now()),
  );
  if (!r.ok) return { ok: false, message: `cannot classify \`${name}\`: ${r.message}` };
  await recordAction(deps, a, 'inventory.classify', { server: t.server, tool, class: upper });
  const configured = deps.config.servers.find((s) => s.name === t.server)?.tools?.[tool]?.class;
  return {
    ok: true,
    message: `${name}: ${r.message} by ${who}${configured && configured !== upper ? ` (the config says ${configured}, and the config wins)` : ''}`,
  };
}

/** The scope key a form names, if this admin may switch it. */
export function modeScope(a: Actor, kind: string, name: string): { scope: string } | { error: string } {
  if (kind === 'gateway')
    return a.scope.platform ? { scope: 'gateway' } : { error: 'switching the gateway needs a platform admin' };
  if (!['tool', 'server', 'tenant'].includes(kind)) return { error: 'choose tool, server, tenant or gateway' };
  if (!name || name.length > 200 || /[\s\p{Cc}]/u.test(name)) return { error: `give the ${kind}'s name` };
  if (!a.scope.platform && (kind !== 'tenant' || name !== a.scope.tenant))
    return { error: `your admin role covers tenant \`${a.scope.tenant}\` only` };
  return { scope: `${kind}:${name}` };
}

function mayTouchScope(a: Actor, scope: string): boolean {
  return a.scope.platform || scope === `tenant:${a.scope.tenant}`;
}

/** `gatehouse mode set`. */
export async function setMode(
  deps: ActionDeps,
  a: Actor,
  mode: string,
  kind: string,
  name: string,
  reason: string,
  unseen = false,
): Promise<Outcome> {
  if (!(MODES as readonly string[]).includes(mode))
    return { ok: false, message: `unknown mode \`${mode}\`: use ${MODES.join(', ')}` };
  const s = modeScope(a, kind, name.trim());
  if ('error' in s) return { ok: false, message: s.error };
  if (!reason.trim()) return { ok: false, message: 'give a reason (it is recorded)' };
  // A misspelt name would be reported set while nothing was switched. A tenant admin's is its own.
  if (kind === 'tool' || kind === 'server' || (kind === 'tenant' && a.scope.platform)) {
    try {
      await checkTarget(deps.store, deps.config, kind, name.trim(), { unseen, howToAllowUnseen: UNSEEN_HOW });
    } catch (err) {
      if (err instanceof IncidentError) return { ok: false, message: err.message };
      throw err;
    }
  }
  // A tenant admin makes its tenant stricter; `enforce` at the tenant's scope would lift a platform's gateway-wide mode.
  if (!a.scope.platform && mode === 'enforce')
    return {
      ok: false,
      message:
        'a tenant admin can make its tenant stricter (disabled, read_only, shadow), not lift a mode: clear one it set instead',
    };
  const current = (await deps.store.modes.list()).find((m) => m.scope === s.scope);
  if (current && !mayClear(a, current))
    return { ok: false, message: `${s.scope} was set by ${current.setBy}: only a platform admin changes it` };
  const rec: ModeRecord = {
    scope: s.scope,
    mode: mode as ModeRecord['mode'],
    reason: reason.trim().slice(0, 500),
    setBy: modeSetter(a),
    setAt: Date.now(),
  };
  await deps.store.modes.set(rec);
  await recordAction(deps, a, 'mode.set', { scope: rec.scope, mode: rec.mode, reason: rec.reason });
  return { ok: true, message: `${rec.scope}: ${rec.mode} (gateways apply it within a second)` };
}

/** Who set a mode or opened an incident, as recorded, with the kind of admin (src/incident/authority.ts). */
function modeSetter(a: Actor): string {
  return setterName({ subject: a.principal.subject, tenant: a.principal.tenant, platform: a.scope.platform });
}

/** A platform admin clears anything; a tenant admin only its tenant's modes that its tenant's admins set. */
export function mayClear(a: Actor, m: ModeRecord): boolean {
  const tenant = m.scope.startsWith('tenant:') ? m.scope.slice('tenant:'.length) : null;
  return mayUndo(callerOf(a), tenant, m.setBy);
}

function callerOf(a: Actor): { tenant: string; platform: boolean } {
  return { tenant: a.scope.platform ? a.principal.tenant : a.scope.tenant, platform: a.scope.platform };
}

/** `gatehouse mode clear`. */
export async function clearMode(deps: ActionDeps, a: Actor, scope: string): Promise<Outcome> {
  if (!mayTouchScope(a, scope))
    return { ok: false, message: `your admin role covers tenant \`${(a.scope as { tenant: string }).tenant}\` only` };
  const current = (await deps.store.modes.list()).find((m) => m.scope === scope);
  if (current && !mayClear(a, current))
    return { ok: false, message: `${scope} was set by ${current.setBy}: only a platform admin clears it` };
  if (!(await deps.store.modes.clear(scope))) return { ok: false, message: `no run-time mode is set for ${scope}` };
  await recordAction(deps, a, 'mode.clear', { scope });
  return { ok: true, message: `${scope}: cleared` };
}

/** The modes this admin sees: everything (platform), or what applies to its tenant's calls. */
export function visibleModes(a: Actor, modes: ModeRecord[]): ModeRecord[] {
  return a.scope.platform
    ? modes
    : modes.filter(
        (m) => !m.scope.startsWith('tenant:') || m.scope === `tenant:${(a.scope as { tenant: string }).tenant}`,
      );
}

export function visibleKeys(a: Actor, keys: ApiKeyRecord[]): ApiKeyRecord[] {
  return keys.filter((k) => a.scope.platform || k.tenant === (a.scope as { tenant: string }).tenant);
}

const list = (v: string | null) => (v ?? '').split(/[\s,]+/).filter(Boolean);

/**
 * Whom a tenant admin's key may act for: nobody (a service key), or the admin. A key's person is a
 * subject of issuer `gatehouse`; with several issuers, an admin signed in with a token is a subject of
 * one of them, and the same name at `gatehouse` may be someone else (the person an operator made keys
 * for, whom a rule names `{ issuer: gatehouse, subject }`): only an admin using a key names itself.
 */
function personRefusal(deps: ActionDeps, a: Actor, person: string): string | undefined {
  if (a.scope.platform || !person) return undefined;
  if (person !== a.principal.subject)
    return `a tenant admin makes keys that act for nobody (a service key) or for you (\`${a.principal.subject}\`)`;
  const issuers = deps.config.identity?.issuers.length ?? 0;
  if (issuers > 1 && a.principal.issuer !== API_KEY_ISSUER)
    return `identity names ${issuers} issuers, so a key's person \`${person}\` would not say whose: a tenant admin makes a service key here; a platform admin makes keys that act for a person`;
  return undefined;
}

/**
 * `gatehouse keys create`: the key is shown once. A tenant admin makes keys of its own tenant only,
 * that expire, act for nobody or for the admin, and carry only roles the admin holds (never a
 * platform admin role).
 */
export async function createKey(deps: ActionDeps, a: Actor, f: URLSearchParams): Promise<Outcome> {
  const name = f.get('name') ?? '';
  const tenant = a.scope.platform ? (f.get('tenant') ?? '') : a.scope.tenant;
  const given = personSubject(f.get('person') ?? '');
  // An empty field makes a service key; anything else is a person's subject by the rule the CLI applies too.
  const person = 'subject' in given ? given.subject : '';
  const roles = list(f.get('roles'));
  const expires = (f.get('expires') ?? '90d').trim() || '90d';
  if (!NAME.test(name)) return { ok: false, message: 'the name must be 1-64 letters, digits, `_`, `.` or `-`' };
  if (!NAME.test(tenant)) return { ok: false, message: 'the tenant must be 1-64 letters, digits, `_`, `.` or `-`' };
  if ('refused' in given && (f.get('person') ?? '').trim())
    return { ok: false, message: `the person ${given.refused}` };
  const platformRoles = deps.config.identity?.platformAdminRoles ?? [];
  if (!a.scope.platform && roles.some((r) => platformRoles.includes(r)))
    return { ok: false, message: 'a tenant admin cannot make a key with a platform admin role' };
  // No key stronger than its maker: a tenant admin's key acts for nobody (a service key, which never
  // approves) or for the admin, and carries only roles the admin holds, so it cannot mint an approver.
  const notFor = personRefusal(deps, a, person);
  if (notFor) return { ok: false, message: notFor };
  const foreign = a.scope.platform ? [] : roles.filter((r) => !a.principal.roles.includes(r));
  if (foreign.length)
    return {
      ok: false,
      message: `a tenant admin gives keys only roles it holds: not ${foreign.map((r) => `\`${r}\``).join(', ')}`,
    };
  const ttl = expires === 'never' ? null : parseDuration(expires);
  if (ttl === undefined)
    return { ok: false, message: `\`${expires}\` is not a duration like 90d, 12h or 30m (or \`never\`)` };
  if (ttl === null && !a.scope.platform) return { ok: false, message: 'a tenant admin makes keys that expire' };
  if (ttl !== null && !a.scope.platform && ttl > TENANT_KEY_MAX_DAYS * 86_400_000)
    return {
      ok: false,
      message: `a tenant admin makes keys that expire within ${TENANT_KEY_MAX_DAYS} days: not \`${expires}\``,
    };
  const req = deps.config.identity?.requiredScopes ?? {};
  const asked = f.get('scopes')?.trim() ? list(f.get('scopes')) : undefined;
  // Scopes too: a tenant admin names only scopes its own token carries (the default, the operator's
  // scopes for reading, is the operator's to give).
  const notHeld = asked && !a.scope.platform ? asked.filter((s) => !a.principal.scopes.includes(s)) : [];
  if (notHeld.length)
    return {
      ok: false,
      message: `a tenant admin gives keys only scopes it holds: not ${notHeld.map((s) => `\`${s}\``).join(', ')}`,
    };
  const scopes = asked ?? [...new Set([...(req.mcp ?? []), ...(req.READ ?? [])])];
  const now = Date.now();
  // Key names are one namespace across the gateway (a service key's subject is `apikey:<name>`, so two
  // tenants' `bot` would be one subject to a rule), but whose key holds a name is not a tenant admin's
  // to learn: the same answer whether it is its own tenant's or another's.
  const taken = (await deps.store.apiKeys.list()).find((k) => k.name === name);
  if (taken && a.scope.platform)
    return { ok: false, message: `a key named \`${name}\` exists; revoke it or choose another name` };
  if (taken)
    return {
      ok: false,
      message: `the name \`${name}\` is taken (key names are shared by every tenant of the gateway): choose another name`,
    };
  const { key, record } = newApiKey({
    name,
    tenant,
    subject: person || null,
    roles,
    scopes,
    createdAt: now,
    createdBy: by(a),
    expiresAt: ttl === null ? null : now + ttl,
  });
  await deps.store.apiKeys.create(record);
  await recordAction(deps, a, 'keys.create', {
    id: record.id,
    name,
    tenant,
    person: record.subject,
    roles,
    scopes,
    expiresAt: record.expiresAt,
  });
  return { ok: true, message: `key ${record.id} (${name}) created for tenant ${tenant}`, created: { key, name } };
}

/** `gatehouse keys revoke`: refused from the next request on, on every gateway. */
export async function revokeKey(deps: ActionDeps, a: Actor, id: string): Promise<Outcome> {
  const rec = await deps.store.apiKeys.get(id);
  // Another tenant's key looks exactly like one that does not exist.
  if (!rec || !visibleKeys(a, [rec]).length) return { ok: false, message: 'no such key' };
  if (!a.scope.platform && rec.roles.some((r) => (deps.config.identity?.platformAdminRoles ?? []).includes(r)))
    return { ok: false, message: `key ${rec.name} holds a platform admin role: only a platform admin revokes it` };
  const r = await deps.store.apiKeys.revoke(rec.id, by(a), Date.now());
  if (!r) return { ok: false, message: 'no such key' };
  await recordAction(deps, a, 'keys.revoke', { id: r.id, name: r.name, revokedAt: r.revokedAt });
  return { ok: true, message: `key ${r.id} (${r.name}) revoked` };
}

/** The incident module's actor: named like a mode setter (a platform admin marked), recorded via the console. */
function incidentActor(deps: ActionDeps, a: Actor): IncidentActor {
  return { name: modeSetter(a), record: (action, detail) => recordAction(deps, a, action, detail) };
}

/** How long opening waits for every live gateway to acknowledge the containment before it answers. */
const INCIDENT_CONFIRM_MS = 10_000;
/** How a console form names a tenant or person not seen yet on purpose. */
const UNSEEN_HOW = 'tick "a tenant or person not seen yet"';

/**
 * `gatehouse incident open`: contain at once (disable a tool, server or tenant, or revoke a person),
 * confirmed by the live gateways, and open the incident. A tenant admin contains its own tenant only.
 */
export async function openIncidentAction(
  deps: ActionDeps,
  a: Actor,
  f: URLSearchParams,
): Promise<Outcome & { id?: string }> {
  const kind = f.get('kind') ?? '';
  const value = (f.get('value') ?? '').trim();
  if (!a.scope.platform && (kind !== 'tenant' || value !== a.scope.tenant))
    return {
      ok: false,
      message: `your admin role covers tenant \`${a.scope.tenant}\` only: contain your tenant, or ask a platform admin`,
    };
  if (!a.scope.platform) {
    // Closing with `lift` clears the tenant's mode: never one a platform admin set.
    const current = (await deps.store.modes.list()).find((m) => m.scope === `tenant:${value}`);
    if (current && !mayClear(a, current))
      return {
        ok: false,
        message: `tenant:${value} is already ${current.mode} (set by ${current.setBy}): ask a platform admin`,
      };
  }
  try {
    // A tenant admin contains its own tenant (checked above); a platform admin's tenant or person must be one the gateway knows.
    const scope = await checkTarget(
      deps.store,
      deps.config,
      kind,
      value,
      a.scope.platform ? { unseen: f.get('unseen') === 'on', howToAllowUnseen: UNSEEN_HOW } : {},
    );
    const r = await openIncident(deps.store, incidentActor(deps, a), {
      title: f.get('title') ?? '',
      scope,
      reason: f.get('reason') ?? '',
      timeoutMs: INCIDENT_CONFIRM_MS,
      announce: deps.announce,
    });
    const c = r.containment;
    return {
      ok: true,
      id: r.incident.id,
      message: `incident ${r.incident.id} opened: ${c.target} ${c.confirmed ? `confirmed by ${c.gateways} gateway(s) in ${c.timeToEffectMs} ms` : `not yet confirmed by every gateway (${c.gateways - c.missing.length} of ${c.gateways})`}`,
    };
  } catch (err) {
    if (err instanceof IncidentError) return { ok: false, message: err.message };
    throw err;
  }
}

/** May this admin close the incident (and lift its containment)? A tenant admin: its tenant's, opened by its tenant's admins. */
export function mayCloseIncident(a: Actor, r: Pick<IncidentRecord, 'tenant' | 'openedBy'>): boolean {
  return mayUndo(callerOf(a), r.tenant, r.openedBy);
}

/** `gatehouse incident close [--lift]`. */
export async function closeIncidentAction(
  deps: ActionDeps,
  a: Actor,
  id: string,
  f: URLSearchParams,
): Promise<Outcome> {
  const tenant = a.scope.platform ? undefined : a.scope.tenant;
  try {
    const r = await getIncident(deps.store, id, tenant);
    if (!mayCloseIncident(a, r))
      return { ok: false, message: `incident ${id} was opened by ${r.openedBy}: only a platform admin closes it` };
    const lift = f.get('lift') === 'yes';
    const closed = await closeIncident(deps.store, incidentActor(deps, a), id, {
      note: f.get('note') ?? '',
      lift,
      tenant,
      announce: deps.announce,
    });
    return {
      ok: true,
      message: `incident ${id} closed${lift ? ', containment lifted' : ''} at ${new Date(closed.closedAt ?? Date.now()).toISOString()}`,
    };
  } catch (err) {
    if (err instanceof IncidentError)
      return { ok: false, message: err.code === 'not_found' ? 'no such incident' : err.message };
    throw err;
  }
}
