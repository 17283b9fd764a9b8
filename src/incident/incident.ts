/**
 * Opening and closing an incident. Opening contains in one step: a run-time mode `disabled` for a
 * tool, a server or a tenant (the kill switch every gateway follows), or a revocation of every token
 * and API key of a principal (a subject, at every issuer). It then waits until every live gateway has
 * acknowledged the change, and records the incident with the time that took. Every later step
 * (revoke, export, notify, close) appends to the incident's action log and to the audit trail.
 *
 * Audit records are linked to an incident by its time window (from `windowStart`, by default an hour
 * before it was opened, to its close), not by a field stamped on each record: the records that
 * matter most were written before anyone knew there was an incident.
 */
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/schema.ts';
import type { IncidentAction, IncidentRecord, ModeRecord, PrincipalRevocation, Store } from '../storage/types.ts';
import { confirmed, LIVE_MS, liveNow, modeKey, principalKey, type Confirmation } from './acks.ts';
import { isItemName } from '../catalog/names.ts';
import { suggest } from '../util/suggest.ts';
import { unknownName } from './known.ts';

export type ScopeKind = IncidentRecord['scope']['kind'];
export const SCOPE_KINDS: readonly ScopeKind[] = ['tool', 'server', 'tenant', 'principal'];
const DEFAULT_LOOKBACK_MS = 60 * 60_000;
const ID = /^inc_[0-9a-f]{12}$/;

export class IncidentError extends Error {
  readonly code: 'invalid' | 'not_found' | 'forbidden' | 'conflict';
  constructor(code: IncidentError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

/** Who acts, and how that is written into the audit trail. */
export interface Actor {
  name: string;
  /** Append an admin action to the audit trail (the CLI's own stream, or the admin API's gateway). */
  record(action: string, detail: Record<string, unknown>): Promise<void>;
}

export function validId(id: string): boolean {
  return ID.test(id);
}

/** The server a namespaced tool belongs to, by the config's servers and separator. */
export function serverOfTool(config: Config, tool: string): string | undefined {
  const sep = config.gateway.namespaceSeparator;
  return config.servers
    .map((s) => s.name)
    .filter((n) => tool.startsWith(`${n}${sep}`) && tool.length > n.length + sep.length)
    .sort((a, b) => b.length - a.length)[0];
}

/** The server an incident's scope names: the server itself, or the one a tool belongs to. */
export function scopeServer(config: Config, scope: IncidentRecord['scope']): string | undefined {
  if (scope.kind === 'tool') return serverOfTool(config, scope.value);
  if (scope.kind === 'server') return scope.value;
  return undefined;
}

export function checkScope(config: Config, kind: string, value: string): IncidentRecord['scope'] {
  if (!(SCOPE_KINDS as readonly string[]).includes(kind))
    throw new IncidentError('invalid', `unknown scope \`${kind}\`: use ${SCOPE_KINDS.join(', ')}`);
  if (!value || value.length > 1024) throw new IncidentError('invalid', `the ${kind} is empty or too long`);
  if (kind === 'server' && !config.servers.some((s) => s.name === value)) {
    const near = suggest(
      value,
      config.servers.map((s) => s.name),
    );
    throw new IncidentError('invalid', `unknown server \`${value}\`${near ? `: did you mean \`${near}\`?` : ''}`);
  }
  if (kind === 'tool' && !serverOfTool(config, value))
    throw new IncidentError(
      'invalid',
      `\`${value}\` names no configured server (tools are namespaced: <server>${config.gateway.namespaceSeparator}<tool>)`,
    );
  return { kind: kind as ScopeKind, value };
}

/**
 * `checkScope`, and the scope must name what exists: a tool the inventory knows (one its server has
 * listed), a tenant or principal the gateway knows (./known.ts); a misspelt name would be reported
 * contained while nothing was. `allowUnknown` for a tool the server has not listed yet (switched off
 * before it appears), `unseen` for a tenant or principal not seen yet; `howToAllow` and
 * `howToAllowUnseen` say how. Tenants and principals are checked where the caller can say `unseen`
 * (given `howToAllowUnseen`). `tenant`: a tenant admin's, whose "did you mean" names nothing of
 * another tenant's.
 */
export async function checkTarget(
  store: Pick<Store, 'inventory' | 'apiKeys' | 'audit'>,
  config: Config,
  kind: string,
  value: string,
  opts: {
    allowUnknown?: boolean;
    howToAllow?: string;
    unseen?: boolean;
    howToAllowUnseen?: string;
    tenant?: string;
    budgetMs?: number;
  } = {},
): Promise<IncidentRecord['scope']> {
  const scope = checkScope(config, kind, value);
  if (scope.kind === 'tenant' || scope.kind === 'principal') {
    if (opts.howToAllowUnseen === undefined) return scope;
    const why = await unknownName(store, config, scope.kind, value, {
      unseen: opts.unseen,
      howToAllow: opts.howToAllowUnseen,
      tenant: opts.tenant,
      budgetMs: opts.budgetMs,
    });
    if (why) throw new IncidentError('invalid', why);
    return scope;
  }
  if (scope.kind !== 'tool' || opts.allowUnknown) return scope;
  const server = serverOfTool(config, value) as string;
  const sep = config.gateway.namespaceSeparator;
  const name = value.slice(server.length + sep.length);
  const known = (await store.inventory.tools(server)).filter((t) => !isItemName(t.tool)).map((t) => t.tool);
  if (known.includes(name)) return scope;
  const near = suggest(name, known);
  throw new IncidentError(
    'invalid',
    `server \`${server}\` has listed no tool \`${name}\`${near ? `: did you mean \`${server}${sep}${near}\`?` : ''}${opts.howToAllow ? ` (a tool it has not listed yet: ${opts.howToAllow})` : ''}`,
  );
}

export interface OpenInput {
  title: string;
  scope: IncidentRecord['scope'];
  reason: string;
  /** Where the window of audit records starts; default an hour before now. */
  windowStart?: number;
  timeoutMs?: number;
  onWait?: (missing: number, of: number) => void;
  /** Tell replicas to re-read now rather than at their next poll (Redis fan-out; best effort). */
  announce?: (msg: { kind: 'revocations.changed' | 'modes.changed' }) => Promise<unknown>;
}

export interface OpenResult {
  incident: IncidentRecord;
  containment: { kind: 'mode' | 'principal'; target: string; at: number } & Confirmation;
}

export async function openIncident(
  store: Store,
  actor: Actor,
  input: OpenInput,
  now = Date.now(),
): Promise<OpenResult> {
  const title = input.title.trim().slice(0, 300);
  if (!title) throw new IncidentError('invalid', 'an incident needs a title');
  const reason = input.reason.trim().slice(0, 500);
  if (!reason) throw new IncidentError('invalid', 'an incident needs a reason');
  const id = `inc_${randomBytes(6).toString('hex')}`;
  const { kind, value } = input.scope;
  const live = await store.revocations.live(LIVE_MS);
  let containment: OpenResult['containment'];
  const timeoutMs = input.timeoutMs ?? 30_000;
  if (kind === 'principal') {
    const r: PrincipalRevocation = {
      kind: 'subject',
      value,
      issuer: '',
      reason: `incident ${id}: ${reason}`,
      revokedBy: actor.name,
      revokedAt: now,
    };
    await store.principalRevocations.revoke(r);
    // Revoking again keeps the first record: its time is the version gateways acknowledge.
    const inForce =
      (await store.principalRevocations.list()).find(
        (x) => x.kind === 'subject' && x.value === value && x.issuer === '',
      ) ?? r;
    await actor.record('principals.revoke', { kind: 'subject', value, issuer: '*', reason: r.reason, incident: id });
    await input.announce?.({ kind: 'revocations.changed' });
    const c = await confirmed(live, () => store.applyAcks.acks(principalKey(inForce)), {
      at: now,
      version: inForce.revokedAt,
      timeoutMs,
      onWait: input.onWait,
      stillLive: liveNow(store.revocations),
    });
    containment = { kind: 'principal', target: `subject ${value}`, at: now, ...c };
  } else {
    const rec: ModeRecord = {
      scope: `${kind}:${value}`,
      mode: 'disabled',
      reason: `incident ${id}: ${reason}`,
      setBy: actor.name,
      setAt: now,
    };
    await store.modes.set(rec);
    await actor.record('mode.set', { scope: rec.scope, mode: rec.mode, reason: rec.reason, incident: id });
    await input.announce?.({ kind: 'modes.changed' });
    const c = await confirmed(live, () => store.applyAcks.acks(modeKey(rec.scope)), {
      at: now,
      version: rec.setAt,
      timeoutMs,
      onWait: input.onWait,
      stillLive: liveNow(store.revocations),
    });
    containment = { kind: 'mode', target: `${rec.scope}=disabled`, at: now, ...c };
  }
  const action: IncidentAction = { at: now, by: actor.name, action: 'contained', detail: { ...containment } };
  const incident: IncidentRecord = {
    id,
    title,
    scope: input.scope,
    tenant: kind === 'tenant' ? value : null,
    reason,
    status: 'open',
    openedBy: actor.name,
    openedAt: now,
    windowStart: Math.min(input.windowStart ?? now - DEFAULT_LOOKBACK_MS, now),
    closedBy: null,
    closedAt: null,
    actions: [action],
  };
  await store.incidents.create(incident);
  await actor.record('incident.open', {
    incident: id,
    title,
    scope: `${kind}:${value}`,
    reason,
    confirmed: containment.confirmed,
    timeToEffectMs: containment.timeToEffectMs,
  });
  return { incident, containment };
}

export async function getIncident(store: Store, id: string, tenant?: string): Promise<IncidentRecord> {
  const r = validId(id) ? await store.incidents.get(id) : undefined;
  // A tenant admin's view: another tenant's incident (or a gateway-wide one) looks like none at all.
  if (!r || (tenant !== undefined && r.tenant !== tenant))
    throw new IncidentError('not_found', `no incident \`${id}\``);
  return r;
}

export async function addAction(
  store: Store,
  id: string,
  actor: Actor,
  action: string,
  detail: Record<string, unknown>,
  at = Date.now(),
): Promise<void> {
  await store.incidents.addAction(id, { at, by: actor.name, action, detail });
  await actor.record(`incident.${action}`, { incident: id, ...detail });
}

/**
 * Close an incident. The containment stays unless `lift` is set: then the mode is cleared (or the
 * principal restored), giving the decision back to the policy files, and the change is announced as
 * the containment was (gateways sharing a Redis apply it at once; the others at their next poll).
 */
export async function closeIncident(
  store: Store,
  actor: Actor,
  id: string,
  opts: { note?: string; lift?: boolean; tenant?: string; announce?: OpenInput['announce'] },
  now = Date.now(),
): Promise<IncidentRecord> {
  const r = await getIncident(store, id, opts.tenant);
  if (r.status === 'closed' || !(await store.incidents.close(id, actor.name, now)))
    throw new IncidentError('conflict', `incident \`${id}\` is already closed`);
  const lifted: string[] = [];
  if (opts.lift) {
    if (r.scope.kind === 'principal') {
      if (await store.principalRevocations.restore('subject', r.scope.value, '')) {
        lifted.push(`subject ${r.scope.value}`);
        await opts.announce?.({ kind: 'revocations.changed' });
      }
    } else if (await store.modes.clear(`${r.scope.kind}:${r.scope.value}`)) {
      lifted.push(`${r.scope.kind}:${r.scope.value}`);
      await opts.announce?.({ kind: 'modes.changed' });
    }
  }
  await addAction(store, id, actor, 'closed', { note: opts.note?.slice(0, 500) ?? '', lifted }, now);
  return getIncident(store, id);
}

/** The window of audit records an incident covers. */
export function windowOf(
  r: Pick<IncidentRecord, 'windowStart' | 'closedAt'>,
  now = Date.now(),
): { since: number; until: number } {
  return { since: r.windowStart, until: r.closedAt ?? now };
}
