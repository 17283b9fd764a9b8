/**
 * Reading the trail for people, without holding up the gateway: a run's timeline (runRecords) and a
 * whole search (searchAll).
 *
 * A run's records for the views that reconstruct it (admin API, console, CLI): through the run index,
 * a page of the store at a time with a turn of the event loop between pages, a tenant admin's own
 * tenant only, at most `limit` records per view with `next` to go on. One query for all of a run's
 * records parsed every one of them on the event loop (JSON of about 2 KB each): an agent's session of
 * 100,000 calls, opened in the console, held every call of every tenant for seconds, and a tenant
 * admin asking for another tenant's run made the gateway read all of it to show nothing.
 */
import type { AuditEvent } from '../model/audit-event.ts';
import type { AuditQuery, AuditStore } from '../storage/types.ts';
import { setImmediate as nextTurn } from 'node:timers/promises';

/** Records a view shows at most; `next` goes on from there. */
const RUN_VIEW_LIMIT = 5000;
/** Records read per query. */
const RUN_READ = 1000;

export async function runRecords(
  store: AuditStore,
  runId: string,
  opts: { tenant?: string; after?: number; limit?: number; budgetMs?: number } = {},
): Promise<{ rows: Array<{ position: number; event: AuditEvent }>; next?: number }> {
  const limit = opts.limit ?? RUN_VIEW_LIMIT;
  const deadline = performance.now() + (opts.budgetMs ?? 250);
  const rows: Array<{ position: number; event: AuditEvent }> = [];
  let after = opts.after ?? 0;
  for (;;) {
    const page = await store.read({ runId, afterPosition: after, limit: RUN_READ });
    for (const r of page) {
      if (opts.tenant !== undefined && r.event.actor?.tenant !== opts.tenant) continue;
      rows.push(r);
      if (rows.length >= limit) return { rows, next: r.position };
    }
    if (page.length < RUN_READ) return { rows };
    after = page[page.length - 1].position;
    // Out of time. For a tenant, only with records of its own in hand: `next` after nothing but other
    // tenants' records would tell that someone else's long run has this id.
    if (performance.now() >= deadline)
      return opts.tenant !== undefined && !rows.length ? { rows } : { rows, next: after };
    await nextTurn();
  }
}

/**
 * A search to its end or `limit` records, however many rounds the store's search takes
 * (AuditStore.search stops after a while and says where to go on); `progress` hears where each round
 * stopped. For the CLI, where nothing else waits.
 */
export async function searchAll(
  store: AuditStore,
  q: AuditQuery & { limit: number },
  progress: (searchedThrough: number, found: number) => void = () => {},
  opts?: { window?: number; budgetMs?: number },
): Promise<Array<{ position: number; event: AuditEvent }>> {
  const found: Array<{ position: number; event: AuditEvent }> = [];
  for (let after: number | undefined = q.afterPosition ?? 0; after !== undefined && found.length < q.limit; ) {
    const page = await store.search({ ...q, afterPosition: after, limit: q.limit - found.length }, opts);
    found.push(...page.rows);
    after = page.next;
    if (after !== undefined && found.length < q.limit) progress(after, found.length);
  }
  return found;
}
