/** The audit records of an incident's window, and what in them the incident's scope touched. */
import type { AuditEvent } from '../model/audit-event.ts';
import type { AuditStore, IncidentRecord } from '../storage/types.ts';
import { windowOf } from './incident.ts';

const PAGE = 1000;
/** An export holds at most this many records; a longer window says so instead of growing without bound. */
const MAX_WINDOW_RECORDS = 500_000;

export async function windowRecords(
  audit: AuditStore,
  r: Pick<IncidentRecord, 'windowStart' | 'closedAt'>,
  now = Date.now(),
  onProgress?: (records: number) => void,
): Promise<{ records: Array<{ position: number; event: AuditEvent }>; truncated: boolean }> {
  const { since, until } = windowOf(r, now);
  const records: Array<{ position: number; event: AuditEvent }> = [];
  for (let after = 0; ; ) {
    const page = await audit.read({ since, until, afterPosition: after || undefined, limit: PAGE });
    records.push(...page);
    onProgress?.(Math.min(records.length, MAX_WINDOW_RECORDS));
    if (records.length >= MAX_WINDOW_RECORDS) return { records: records.slice(0, MAX_WINDOW_RECORDS), truncated: true };
    if (page.length < PAGE) return { records, truncated: false };
    after = page[page.length - 1].position;
  }
}

/** Whether a record is about the incident's scope (a call of its tool, server, tenant or principal). */
function inScope(scope: IncidentRecord['scope'], e: AuditEvent): boolean {
  switch (scope.kind) {
    case 'tool':
      return e.tool === scope.value;
    case 'server':
      return e.server === scope.value;
    case 'tenant':
      return e.actor?.tenant === scope.value;
    case 'principal':
      return e.actor?.subject === scope.value;
  }
}

export interface Touched {
  servers: string[];
  tenants: string[];
  subjects: string[];
  runs: string[];
}

/** What the scope's records name: the servers it used, whose calls they were, the runs (sessions) they belong to. */
export function touched(scope: IncidentRecord['scope'], events: readonly AuditEvent[]): Touched {
  const servers = new Set<string>();
  const tenants = new Set<string>();
  const subjects = new Set<string>();
  const runs = new Set<string>();
  for (const e of events) {
    if (!inScope(scope, e) || e.kind === 'admin.action') continue;
    if (e.server) servers.add(e.server);
    if (e.actor?.tenant && e.actor.tenant !== '*') tenants.add(e.actor.tenant);
    if (e.actor?.subject) subjects.add(e.actor.subject);
    if (e.runId) runs.add(e.runId);
  }
  const sorted = (s: Set<string>) => [...s].sort();
  return { servers: sorted(servers), tenants: sorted(tenants), subjects: sorted(subjects), runs: sorted(runs) };
}
