/**
 * The admin HTTP API: the inventory, what waits for review, its history, the readiness report, the
 * audit trail, credential revocation and (with two people) audit pruning, as JSON, the same data the
 * CLI prints. With identity configured it needs an admin credential, and what it shows follows the
 * admin's scope: a tenant admin (an admin role from its tenant's issuer, or an admin API key) sees
 * its own tenant's audit records only and none of the gateway-wide operations; a platform admin
 * (`identity.platformAdminRoles` from a platform issuer or an API key, or an admin role from a
 * platform issuer) sees everything. An agent's credential gets 403. Without identity, it answers
 * loopback callers only (local development), like the MCP endpoint.
 */
import { gatherState } from '../readiness/state.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatehouseError } from '../protocol/errors.ts';
import { inventoryRows, reviewChanges } from '../inventory/report.ts';
import { inventoryEventsFor, inventoryFor } from '../inventory/tenant-view.ts';
import { readiness, summary } from '../readiness/check.ts';
import { verifyAudit } from '../audit/verify.ts';
import { parseTime, timeline } from '../audit/timeline.ts';
import { runRecords } from '../audit/runs.ts';
import type { AdminScope } from '../identity/authenticator.ts';
import { confirmDual, requestDual } from '../identity/dual-control.ts';
import type { Principal } from '../identity/principal.ts';
import { countParam, positionParam, readBody, timeParam } from './guards.ts';
import { unknownKind } from '../model/audit-event.ts';
import { handleIncidents } from './admin-incidents.ts';
import { adminError } from './admin-errors.ts';
import type { AdminDeps } from './admin-deps.ts';
import { decodeSegment } from '../util/path-segment.ts';
import { confirmedDetail, LIVE_MS } from '../incident/acks.ts';
import { withIsoTimes } from '../util/iso-times.ts';

export const ADMIN_PREFIX = '/admin/v1/';

// The readiness report is the deployment's: its items count every tenant's audit records, approval
// decisions, revocations and modes (0007, "Two kinds of admin").
const PLATFORM_ONLY = new Set(['audit/verify', 'credentials', 'check']);

/**
 * Answers given as they were written, times included: audit records (their `time` is ISO 8601
 * already, and the hash chain covers every field) and an incident's evidence bundle (its manifest
 * describes the files beside it). Every other answer says each moment in ISO 8601 (withIsoTimes).
 */
const AS_WRITTEN = /^(?:audit\/search|audit\/runs\/.*|incidents\/[^/]+\/export)$/;

/** The most records one page of `inventory/events` or `audit/search` answers (`?limit=`, default 200). */
const MAX_PAGE = 5000;

function requirePlatform(scope: AdminScope, what = 'this'): void {
  if (!scope.platform)
    throw new GatehouseError(
      'E_FORBIDDEN',
      `forbidden: ${what} needs a platform admin; your admin role covers tenant \`${scope.tenant}\` only`,
    );
}

/** The JSON body for an admin path, or undefined when there is no such resource. */
async function resource(path: string, query: URLSearchParams, deps: AdminDeps, scope: AdminScope): Promise<unknown> {
  const { config, store } = deps;
  if (PLATFORM_ONLY.has(path))
    requirePlatform(scope, path === 'check' ? 'the readiness report covers every tenant and' : undefined);
  switch (path) {
    case 'inventory':
      return { rows: inventoryRows(config, await inventoryFor(store, config, scope.platform)) };
    case 'inventory/diff':
      return {
        changes: reviewChanges(await inventoryFor(store, config, scope.platform), config.gateway.namespaceSeparator),
      };
    case 'inventory/events': {
      const limit = countParam(query, 'limit', 200, MAX_PAGE);
      const afterSeq = positionParam(query, 'after') ?? 0;
      const server = query.get('server') ?? undefined;
      return { events: await inventoryEventsFor(store, config, scope.platform, { server, afterSeq, limit }) };
    }
    case 'audit/search': {
      const num = (k: string) => timeParam(k, query.get(k));
      const str = (k: string) => query.get(k) ?? undefined;
      const limit = countParam(query, 'limit', 200, MAX_PAGE);
      // A tenant admin searches its own tenant, whatever it asks for.
      const asked = str('tenant');
      if (!scope.platform && asked !== undefined && asked !== scope.tenant)
        throw new GatehouseError('E_FORBIDDEN', `forbidden: your admin role covers tenant \`${scope.tenant}\` only`);
      const kind = str('kind');
      const kindWhy = kind === undefined ? undefined : unknownKind(kind);
      if (kindWhy) throw new GatehouseError('E_INVALID_PARAMS', `invalid params: ${kindWhy}`);
      // Searched a window at a time: `next` says where to go on when the search stopped before the end.
      const { rows, next } = await store.audit.search({
        subject: str('subject'),
        tenant: scope.platform ? asked : scope.tenant,
        tool: str('tool'),
        outcome: str('outcome'),
        kind,
        since: num('since'),
        until: num('until'),
        afterPosition: positionParam(query, 'after'),
        limit,
      });
      return { records: rows.map((r) => ({ position: r.position, ...r.event })), ...(next ? { next } : {}) };
    }
    case 'audit/verify':
      // This gateway's stream and every other running gateway's are still being written.
      return verifyAudit(store.audit, {
        liveStreams: new Set([deps.auditStream, ...(await store.revocations.live(LIVE_MS))]),
      });
    case 'credentials':
      return { revoked: await store.revocations.list() };
    case 'check': {
      const inv = await inventoryFor(store, config, scope.platform);
      const items = readiness(config, inv, undefined, await gatherState(store, config, inv));
      const totals = summary(items);
      return { ready: totals.fail === 0, summary: totals, items };
    }
    default: {
      const run = /^audit\/runs\/([^/]{1,300})$/.exec(path);
      if (!run) return undefined;
      const id = decodeSegment(run[1]);
      if (id === undefined) return undefined;
      const after = positionParam(query, 'after');
      const { rows, next } = await runRecords(store.audit, id, {
        tenant: scope.platform ? undefined : scope.tenant,
        after,
      });
      // A run this admin sees nothing of does not exist; past its first page, an empty page is an answer.
      if (!rows.length && after === undefined) return undefined;
      return { run: id, entries: timeline(rows.map((r) => r.event)), ...(next ? { next } : {}) };
    }
  }
}

/**
 * POST /admin/v1/credentials/revoke {"ref", "reason"}: the same as `gatehouse credentials revoke`,
 * confirmed by every live gateway (waits up to 30 s), recorded with the admin's identity.
 */
async function revoke(req: IncomingMessage, admin: Principal, deps: AdminDeps): Promise<unknown> {
  let input: { ref?: unknown; reason?: unknown };
  try {
    input = JSON.parse(await readBody(req, 16 * 1024)) as typeof input;
  } catch {
    throw new GatehouseError('E_INVALID_PARAMS', 'invalid params: send {"ref": "...", "reason": "..."}');
  }
  if (typeof input.ref !== 'string' || !input.ref || typeof input.reason !== 'string' || !input.reason)
    throw new GatehouseError('E_INVALID_PARAMS', 'invalid params: `ref` and `reason` are required strings');
  const s = deps.store;
  const at = Date.now();
  const by = `${admin.subject}@${admin.tenant}`;
  await s.revocations.revoke({ ref: input.ref, reason: input.reason.slice(0, 500), revokedBy: by, revokedAt: at });
  await deps.record({
    kind: 'admin.action',
    actor: { subject: admin.subject, tenant: admin.tenant, via: admin.via, issuer: admin.issuer },
    detail: { action: 'credentials.revoke', ref: input.ref, reason: input.reason },
  });
  const live = await s.revocations.live(LIVE_MS);
  for (const deadline = at + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    const acks = await s.revocations.acks(input.ref);
    const missing = live.filter((i) => !acks.some((a) => a.instance === i));
    if (!missing.length) {
      const timeToEffectMs = acks.length ? Math.max(...acks.map((a) => a.ackedAt)) - at : 0;
      const detail = confirmedDetail(input.ref, {
        confirmed: true,
        gateways: live.length,
        stopped: [],
        timeToEffectMs,
      });
      if (detail)
        await deps.record({
          kind: 'admin.action',
          actor: { subject: admin.subject, tenant: admin.tenant, via: admin.via, issuer: admin.issuer },
          detail: { action: 'credentials.confirmed', ...detail },
        });
      return {
        ref: input.ref,
        revokedAt: new Date(at).toISOString(),
        gateways: live.length,
        confirmed: true,
        timeToEffectMs,
      };
    }
  }
  return { ref: input.ref, revokedAt: new Date(at).toISOString(), gateways: live.length, confirmed: false };
}

interface DualOp {
  action: string;
  /** The request's parameters from the body, or undefined when they are not acceptable. */
  parse(input: Record<string, unknown>): Record<string, unknown> | undefined;
  /** Run it once a second person confirmed; what the answer says. */
  run(params: Record<string, unknown>, deps: AdminDeps): Promise<Record<string, unknown>>;
  /** The parameters as the request's answer and record say them (a moment in ISO 8601, as the confirmation says it). */
  shown?(params: Record<string, unknown>): Record<string, unknown>;
  usage: string;
}

const DUAL_OPS: Record<string, DualOp> = {
  'audit/prune': {
    action: 'audit.prune',
    usage: '{"olderThan": "30d" or an ISO time, "reason": "..."}',
    parse: (i) => {
      const before = typeof i.olderThan === 'string' ? parseTime(i.olderThan) : undefined;
      return before === undefined ? undefined : { before };
    },
    run: async (p, deps) => ({
      removed: await deps.store.audit.prune(Number(p.before)),
      before: new Date(Number(p.before)).toISOString(),
    }),
    shown: (p) => ({ before: new Date(Number(p.before)).toISOString() }),
  },
  'audit/retention': {
    action: 'audit.retention',
    usage: '{"days": 0-36500 (0: forever), "reason": "..."}',
    // The approval itself is the change: pruning never goes below the last approved retention.
    parse: (i) =>
      Number.isInteger(i.days) && (i.days as number) >= 0 && (i.days as number) <= 36_500
        ? { days: i.days }
        : undefined,
    run: async (p) => ({ days: p.days }),
  },
};

/**
 * Destructive audit operations need two people: `POST audit/prune` or `POST audit/retention` asks
 * (202, with the request id); `POST <same path>/<id>/confirm` by another person runs it. Platform
 * admins only; service keys (no person) can do neither. Every step is recorded.
 */
async function dualControl(
  req: IncomingMessage,
  path: string,
  admin: Principal,
  deps: AdminDeps,
): Promise<{ status: number; body: unknown }> {
  if (deps.identity.enabled && !deps.identity.isPerson(admin))
    throw new GatehouseError(
      'E_FORBIDDEN',
      'forbidden: two-person operations need a person: this credential is a service key',
    );
  const actor = { subject: admin.subject, tenant: admin.tenant, via: admin.via, issuer: admin.issuer };
  const m = /^(audit\/(?:prune|retention))(?:\/(dc_[0-9a-f]{24})\/confirm)?$/.exec(path);
  const op = m ? DUAL_OPS[m[1]] : undefined;
  if (!m || !op) throw new GatehouseError('E_METHOD_NOT_ALLOWED');
  if (m[2]) {
    const r = await confirmDual(deps.store.dualControl, m[2], op.action, admin.subject);
    if (!r.ok) {
      await deps.record({
        kind: 'admin.action',
        actor,
        detail: { action: `${op.action}.refused`, request: m[2], code: r.code },
      });
      throw new GatehouseError(
        r.code === 'not_found' ? 'E_INVALID_PARAMS' : 'E_FORBIDDEN',
        `${r.code === 'not_found' ? 'invalid params' : 'forbidden'}: ${r.message}`,
      );
    }
    const result = await op.run(r.record.params, deps);
    const detail = {
      ...result,
      request: r.record.id,
      requestedBy: r.record.requestedBy,
      confirmedBy: admin.subject,
      reason: r.record.params.reason,
    };
    await deps.record(
      op.action === 'audit.prune'
        ? { kind: 'audit.pruned', actor, detail }
        : { kind: 'admin.action', actor, detail: { action: op.action, ...detail } },
    );
    return {
      status: 200,
      body: { request: r.record.id, ...result, requestedBy: r.record.requestedBy, confirmedBy: admin.subject },
    };
  }
  let input: Record<string, unknown>;
  try {
    input = JSON.parse(await readBody(req, 16 * 1024)) as Record<string, unknown>;
  } catch {
    throw new GatehouseError('E_INVALID_PARAMS', `invalid params: send ${op.usage}`);
  }
  const params = input && typeof input === 'object' ? op.parse(input) : undefined;
  if (!params || typeof input.reason !== 'string' || !input.reason)
    throw new GatehouseError('E_INVALID_PARAMS', `invalid params: send ${op.usage}`);
  const reason = input.reason.slice(0, 500);
  const r = await requestDual(deps.store.dualControl, op.action, { ...params, reason }, admin.subject);
  const shown = op.shown ? op.shown(params) : params;
  await deps.record({
    kind: 'admin.action',
    actor,
    detail: { action: `${op.action}.requested`, request: r.id, ...shown, reason },
  });
  return {
    status: 202,
    body: {
      request: r.id,
      status: 'pending',
      ...shown,
      expiresAt: new Date(r.expiresAt).toISOString(),
      confirm: `${ADMIN_PREFIX}${m[1]}/${r.id}/confirm (by another person)`,
    },
  };
}

/**
 * An admin request. `routed` is the path the listener routed it by (under ADMIN_PREFIX, as sent):
 * the resource is named by that same string, never by a resolved form of it, so
 * `/admin/v1/inventory/../credentials` is no resource (404) rather than `credentials` reached by a
 * path that a proxy in front, guarding `/admin/v1/credentials`, would not have recognised.
 */
export async function handleAdmin(
  req: IncomingMessage,
  res: ServerResponse,
  routed: string,
  deps: AdminDeps,
  reply: (status: number, body: unknown) => void,
): Promise<void> {
  const path = routed.slice(ADMIN_PREFIX.length);
  // Every moment as ISO 8601, as the CLI's --json prints it; evidence as it was written (see AS_WRITTEN).
  const send = (status: number, body: unknown) => reply(status, AS_WRITTEN.test(path) ? body : withIsoTimes(body));
  const principal = await deps.identity.authenticate(req);
  const scope = deps.identity.adminScope(principal);
  if (!scope) throw new GatehouseError('E_FORBIDDEN', 'forbidden: the admin api needs an admin role');
  const query = new URL(req.url ?? '/', 'http://gatehouse.invalid').searchParams;
  if (path === 'incidents' || path.startsWith('incidents/')) {
    const r = await handleIncidents(req, path, query, principal, scope, deps);
    return send(r.status, r.body);
  }
  if (req.method === 'POST') {
    if (path === 'credentials/revoke') {
      requirePlatform(scope);
      return send(200, await revoke(req, principal, deps));
    }
    if (path.startsWith('audit/prune') || path.startsWith('audit/retention')) {
      requirePlatform(scope);
      const r = await dualControl(req, path, principal, deps);
      return send(r.status, r.body);
    }
    throw new GatehouseError('E_METHOD_NOT_ALLOWED');
  }
  const body = await resource(path, query, deps, scope);
  if (body === undefined) return send(404, adminError('not_found', 'not found'));
  res.setHeader('x-content-type-options', 'nosniff');
  send(200, body);
}
