/**
 * The console's pages by path: what each shows of the store for this viewer (a tenant admin its own
 * tenant, a platform admin everything), and the hash-chain proof of one audit record.
 */
import type { Store } from '../storage/types.ts';
import type { ConsoleCookies } from '../console/session.ts';
import { positionParam, timeParam } from './guards.ts';
import { maySee } from '../approvals/lifecycle.ts';
import { inventoryRows, reviewChanges } from '../inventory/report.ts';
import { inventoryFor } from '../inventory/tenant-view.ts';
import { readiness, summary } from '../readiness/check.ts';
import { gatherState } from '../readiness/state.ts';
import { timeline } from '../audit/timeline.ts';
import { runRecords } from '../audit/runs.ts';
import { getIncident, IncidentError } from '../incident/incident.ts';
import * as actions from '../console/actions.ts';
import {
  approvalsPage,
  auditPage,
  chainPage,
  incidentPage,
  incidentsPage,
  inventoryPage,
  keysPage,
  modesPage,
  readinessPage,
  runPage,
  type AuditFilters,
  type ChainProof,
  type View,
} from '../console/pages.ts';
import { chainHash, type AuditEvent } from '../model/audit-event.ts';
import { decodeSegment } from '../util/path-segment.ts';
import type { ConsoleDeps, Viewer } from './console-viewer.ts';

const PAGE_SIZE = 50;

function view(v: Viewer, cookies: ConsoleCookies, flash?: View['flash']): View {
  const p = v.principal;
  return {
    who: p.authenticated ? p.subject : 'local (loopback, no identity configured)',
    role: v.scope.platform ? 'platform admin' : `tenant admin of ${v.scope.tenant}`,
    platform: v.scope.platform,
    tenant: v.scope.platform ? p.tenant : v.scope.tenant,
    csrf: cookies.csrf(v.session.sid),
    flash,
  };
}

/** The requests this person may decide, as the approval page lists them: its tenant, a person its rule names, not the requester. */
async function pendingFor(v: Viewer, deps: ConsoleDeps) {
  const p = v.principal;
  const all = await deps.approvals.store.list({
    status: 'pending',
    tenant: deps.identity.enabled ? p.tenant : undefined,
  });
  if (!deps.identity.enabled) return all;
  const person = deps.identity.isPerson(p);
  return all.filter((r) => maySee(r, { ...p, person }));
}

export async function render(
  page: string,
  v: Viewer,
  deps: ConsoleDeps,
  cookies: ConsoleCookies,
  query: URLSearchParams,
  flash?: View['flash'],
  created?: { key: string; name: string },
): Promise<string | undefined> {
  const vw = view(v, cookies, flash);
  const a: actions.Actor = { principal: v.principal, scope: v.scope };
  const { config, store } = deps;
  switch (page) {
    case 'inventory': {
      const inv = await inventoryFor(store, config, v.scope.platform);
      return inventoryPage(
        vw,
        inventoryRows(config, inv),
        reviewChanges(inv, config.gateway.namespaceSeparator),
        v.scope.platform,
      );
    }
    case 'approvals':
      return approvalsPage(vw, await pendingFor(v, deps), !deps.identity.enabled);
    case 'modes':
      return modesPage(vw, actions.visibleModes(a, await store.modes.list()), (m) => actions.mayClear(a, m));
    case 'incidents':
      return incidentsPage(
        vw,
        await store.incidents.list({ tenant: v.scope.platform ? undefined : v.scope.tenant, limit: 200 }),
      );
    case 'keys':
      return keysPage(vw, actions.visibleKeys(a, await store.apiKeys.list()), created);
    case 'readiness': {
      // The deployment's report: it counts every tenant's records, decisions and revocations.
      if (!v.scope.platform) return readinessPage(vw, undefined, {});
      const inv = await inventoryFor(store, config, v.scope.platform);
      const items = readiness(config, inv, undefined, await gatherState(store, config, inv));
      return readinessPage(vw, items, summary(items));
    }
    case 'audit': {
      const str = (k: string) => query.get(k)?.trim().slice(0, 300) || undefined;
      const f: AuditFilters = {
        run: str('run'),
        tenant: v.scope.platform ? str('tenant') : undefined,
        tool: str('tool'),
        outcome: str('outcome'),
        kind: str('kind'),
        since: str('since'),
        until: str('until'),
        after: positionParam(query, 'after'),
      };
      const tenant = v.scope.platform ? f.tenant : v.scope.tenant;
      const { rows, next } = await store.audit.search({
        runId: f.run,
        tenant,
        tool: f.tool,
        outcome: f.outcome,
        kind: f.kind,
        since: timeParam('since', f.since),
        until: timeParam('until', f.until),
        afterPosition: f.after,
        limit: PAGE_SIZE,
      });
      return auditPage(vw, f, rows, next);
    }
    default: {
      const inc = /^incidents\/([^/]{1,64})$/.exec(page);
      const incId = inc ? decodeSegment(inc[1]) : undefined;
      if (inc && incId === undefined) return undefined;
      if (inc && incId !== undefined) {
        const r = await getIncident(store, incId, v.scope.platform ? undefined : v.scope.tenant).catch(
          (err: unknown) => {
            if (err instanceof IncidentError) return undefined;
            throw err;
          },
        );
        return r ? incidentPage(vw, r, actions.mayCloseIncident(a, r)) : undefined;
      }
      const chain = /^audit\/chain\/([^/]{1,300})\/(\d{1,15})$/.exec(page);
      if (chain) {
        const stream = decodeSegment(chain[1]);
        if (stream === undefined) return undefined;
        const proof = await chainProof(store, stream, Number(chain[2]));
        // Another tenant's record does not exist for a tenant admin.
        return proof && (v.scope.platform || proof.record.actor?.tenant === (v.scope as { tenant: string }).tenant)
          ? chainPage(vw, proof)
          : undefined;
      }
      const run = /^audit\/runs\/([^/]{1,300})$/.exec(page);
      if (!run) return undefined;
      const id = decodeSegment(run[1]);
      if (id === undefined) return undefined;
      const after = positionParam(query, 'after');
      // Another tenant's run does not exist for a tenant admin.
      const { rows, next } = await runRecords(store.audit, id, {
        tenant: v.scope.platform ? undefined : v.scope.tenant,
        after,
      });
      if (!rows.length && after === undefined) return undefined;
      return runPage(vw, id, timeline(rows.map((r) => r.event)), next);
    }
  }
}

/** One record's place in its hash chain: its own hash, and its links to the records on either side (or the pruning checkpoint). */
async function chainProof(store: Store, stream: string, seq: number): Promise<ChainProof | undefined> {
  const rows = await store.audit.streamRecords(stream, Math.max(0, seq - 1), 3);
  const parse = (seqOf: number): AuditEvent | undefined => {
    const r = rows.find((x) => x.seq === seqOf);
    try {
      return r ? (JSON.parse(r.body) as AuditEvent) : undefined;
    } catch {
      return undefined;
    }
  };
  const record = parse(seq);
  if (!record) return undefined;
  const before = parse(seq - 1);
  const after = parse(seq + 1);
  const cp = before ? undefined : await store.audit.checkpoint(stream);
  return {
    record,
    hashOk: chainHash(record) === record.hash,
    ...(before ? { before: { seq: before.seq, hash: before.hash, linked: before.hash === record.prev } } : {}),
    ...(cp && cp.seq === seq - 1
      ? { checkpoint: { seq: cp.seq, hash: cp.hash, linked: cp.hash === record.prev } }
      : {}),
    ...(after ? { after: { seq: after.seq, prev: after.prev, linked: after.prev === record.hash } } : {}),
  };
}
