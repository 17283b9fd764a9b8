/**
 * The admin HTTP API (read-only for now): the inventory, what waits for review, its history, and
 * the readiness report, as JSON, the same data the CLI prints. With identity configured it needs a
 * credential carrying one of `identity.adminRoles` (from the IdP's roles claim, or an admin API key):
 * an agent's credential gets 403. Without identity, it answers loopback callers only (local
 * development), like the MCP endpoint.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/schema.ts';
import type { Store } from '../storage/types.ts';
import { GatehouseError } from '../protocol/errors.ts';
import { inventoryRows, reviewChanges, type InventoryData } from '../inventory/report.ts';
import { readiness, summary } from '../readiness/check.ts';
import { verifyAudit } from '../audit/verify.ts';
import { parseTime, timeline } from '../audit/timeline.ts';
import type { Authenticator } from '../identity/authenticator.ts';
import type { Principal } from '../gateway/context.ts';
import type { AuditInput } from '../audit/log.ts';
import { readBody } from './guards.ts';

export interface AdminDeps {
  config: Config;
  store: Store;
  identity: Authenticator;
  /** Append to this gateway's audit stream. */
  record: (input: AuditInput) => Promise<unknown>;
  /** This process's audit stream (still being written: not expected to be closed). */
  auditStream: string;
}

export const ADMIN_PREFIX = '/admin/v1/';

async function inventory(store: Store): Promise<InventoryData> {
  const [servers, tools] = await Promise.all([store.inventory.servers(), store.inventory.tools()]);
  return { servers, tools };
}

/** The JSON body for an admin path, or undefined when there is no such resource. */
async function resource(path: string, query: URLSearchParams, deps: AdminDeps): Promise<unknown> {
  const { config, store } = deps;
  switch (path) {
    case 'inventory':
      return { rows: inventoryRows(config, await inventory(store)) };
    case 'inventory/diff':
      return { changes: reviewChanges(await inventory(store), config.gateway.namespaceSeparator) };
    case 'inventory/events': {
      const limit = Math.min(Math.max(Number(query.get('limit') ?? 200) || 200, 1), 5000);
      const afterSeq = Number(query.get('after') ?? 0) || 0;
      return { events: await store.inventory.events({ server: query.get('server') ?? undefined, afterSeq, limit }) };
    }
    case 'audit/search': {
      const num = (k: string) => (query.get(k) === null ? undefined : parseTime(query.get(k)!));
      const str = (k: string) => query.get(k) ?? undefined;
      const limit = Math.min(Math.max(Number(query.get('limit') ?? 200) || 200, 1), 5000);
      const rows = await store.audit.read({ subject: str('subject'), tenant: str('tenant'), tool: str('tool'), outcome: str('outcome'), kind: str('kind'), since: num('since'), until: num('until'), afterPosition: Number(query.get('after') ?? 0) || undefined, limit });
      return { records: rows.map((r) => ({ position: r.position, ...r.event })) };
    }
    case 'audit/verify':
      return verifyAudit(store.audit, { liveStreams: new Set([deps.auditStream]) });
    case 'credentials':
      return { revoked: await store.revocations.list() };
    case 'check': {
      const items = readiness(config, await inventory(store));
      const totals = summary(items);
      return { ready: totals.fail === 0, summary: totals, items };
    }
    default: {
      const run = /^audit\/runs\/([^/]{1,300})$/.exec(path);
      if (!run) return undefined;
      const id = decodeURIComponent(run[1]);
      const rows = await store.audit.read({ runId: id, limit: 100_000 });
      return rows.length ? { run: id, entries: timeline(rows.map((r) => r.event)) } : undefined;
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
  if (typeof input.ref !== 'string' || !input.ref || typeof input.reason !== 'string' || !input.reason) throw new GatehouseError('E_INVALID_PARAMS', 'invalid params: `ref` and `reason` are required strings');
  const s = deps.store;
  const at = Date.now();
  const by = `${admin.subject}@${admin.tenant}`;
  await s.revocations.revoke({ ref: input.ref, reason: input.reason.slice(0, 500), revokedBy: by, revokedAt: at });
  await deps.record({ kind: 'admin.action', actor: { subject: admin.subject, tenant: admin.tenant, via: admin.via, issuer: admin.issuer }, detail: { action: 'credentials.revoke', ref: input.ref, reason: input.reason } });
  const live = await s.revocations.live(at - 5000);
  for (const deadline = at + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    const acks = await s.revocations.acks(input.ref);
    const missing = live.filter((i) => !acks.some((a) => a.instance === i));
    if (!missing.length) return { ref: input.ref, revokedAt: new Date(at).toISOString(), gateways: live.length, confirmed: true, timeToEffectMs: acks.length ? Math.max(...acks.map((a) => a.ackedAt)) - at : 0 };
  }
  return { ref: input.ref, revokedAt: new Date(at).toISOString(), gateways: live.length, confirmed: false };
}

export async function handleAdmin(req: IncomingMessage, res: ServerResponse, deps: AdminDeps, send: (status: number, body: unknown) => void): Promise<void> {
  const principal = await deps.identity.authenticate(req);
  if (deps.identity.enabled && !deps.identity.isAdmin(principal)) throw new GatehouseError('E_FORBIDDEN', 'forbidden: the admin api needs an admin role');
  const url = new URL(req.url ?? '/', 'http://gatehouse.invalid');
  if (req.method === 'POST') return send(200, await revoke(req, principal, deps));
  const body = await resource(url.pathname.slice(ADMIN_PREFIX.length), url.searchParams, deps);
  if (body === undefined) return send(404, { error: 'not found' });
  res.setHeader('x-content-type-options', 'nosniff');
  send(200, body);
}
