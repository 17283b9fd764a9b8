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

export interface AdminDeps {
  config: Config;
  store: Store;
  identity: Authenticator;
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

export async function handleAdmin(req: IncomingMessage, res: ServerResponse, deps: AdminDeps, send: (status: number, body: unknown) => void): Promise<void> {
  const principal = await deps.identity.authenticate(req);
  if (deps.identity.enabled && !deps.identity.isAdmin(principal)) throw new GatehouseError('E_FORBIDDEN', 'forbidden: the admin api needs an admin role');
  const url = new URL(req.url ?? '/', 'http://gatehouse.invalid');
  const body = await resource(url.pathname.slice(ADMIN_PREFIX.length), url.searchParams, deps);
  if (body === undefined) return send(404, { error: 'not found' });
  res.setHeader('x-content-type-options', 'nosniff');
  send(200, body);
}
