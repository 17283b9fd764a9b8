/**
 * The incidents, incident_actions and apply_acks tables: the only code that reads or writes them, the
 * same for both drivers (apply_acks is pruned with the other acknowledgements by
 * `revocations.forgetStale`, repos.ts). An incident's actions are rows of their own (appended, never
 * rewritten), so two operators acting on one incident at once never lose each other's entries.
 */
import type { Kysely, Selectable } from 'kysely';
import type { Database, IncidentsTable } from './schema.ts';
import type { ApplyAckStore, IncidentRecord, IncidentStore } from './types.ts';

function incident(r: Selectable<IncidentsTable>): Omit<IncidentRecord, 'actions'> {
  return {
    id: r.id,
    title: r.title,
    scope: { kind: r.scope_kind as IncidentRecord['scope']['kind'], value: r.scope_value },
    tenant: r.tenant,
    reason: r.reason,
    status: r.status as IncidentRecord['status'],
    openedBy: r.opened_by,
    openedAt: Number(r.opened_at),
    windowStart: Number(r.window_start),
    closedBy: r.closed_by,
    closedAt: r.closed_at === null ? null : Number(r.closed_at),
  };
}

export function incidentRepo(db: Kysely<Database>): IncidentStore {
  const actionsOf = async (id: string) =>
    (await db.selectFrom('incident_actions').selectAll().where('incident_id', '=', id).orderBy('seq').execute()).map(
      (a) => ({
        at: Number(a.at),
        by: a.actor,
        action: a.action,
        detail: JSON.parse(a.detail) as Record<string, unknown>,
      }),
    );
  return {
    async create(r) {
      await db
        .insertInto('incidents')
        .values({
          id: r.id,
          title: r.title,
          scope_kind: r.scope.kind,
          scope_value: r.scope.value,
          tenant: r.tenant,
          reason: r.reason,
          status: r.status,
          opened_by: r.openedBy,
          opened_at: r.openedAt,
          window_start: r.windowStart,
          closed_by: r.closedBy,
          closed_at: r.closedAt,
        })
        .execute();
      for (const a of r.actions) await this.addAction(r.id, a);
    },
    async get(id) {
      const r = await db.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? { ...incident(r), actions: await actionsOf(id) } : undefined;
    },
    async list(q = {}) {
      let query = db.selectFrom('incidents').selectAll().orderBy('opened_at', 'desc').orderBy('id');
      if (q.status) query = query.where('status', '=', q.status);
      if (q.tenant !== undefined) query = query.where('tenant', '=', q.tenant);
      return (await query.limit(q.limit ?? 1000).execute()).map(incident);
    },
    async addAction(id, a) {
      await db
        .insertInto('incident_actions')
        .values({ incident_id: id, at: a.at, actor: a.by, action: a.action, detail: JSON.stringify(a.detail) })
        .execute();
    },
    async close(id, by, at) {
      const r = await db
        .updateTable('incidents')
        .set({ status: 'closed', closed_by: by, closed_at: at })
        .where('id', '=', id)
        .where('status', '=', 'open')
        .executeTakeFirst();
      return r.numUpdatedRows > 0n;
    },
  };
}

export function applyAckRepo(db: Kysely<Database>): ApplyAckStore {
  return {
    async ack(key, instance, version, at) {
      const row = { version, acked_at: at };
      await db
        .insertInto('apply_acks')
        .values({ key, instance, ...row })
        .onConflict((oc) => oc.columns(['key', 'instance']).doUpdateSet(row))
        .execute();
    },
    async acks(key) {
      const rows = await db.selectFrom('apply_acks').selectAll().where('key', '=', key).execute();
      return rows.map((r) => ({ instance: r.instance, version: Number(r.version), ackedAt: Number(r.acked_at) }));
    },
  };
}
