/**
 * The principal_revocations, dual_control and console_signouts tables: the only code that reads or
 * writes them, the same for both drivers.
 */
import type { Kysely, Selectable } from 'kysely';
import type { Database, DualControlTable } from './schema.ts';
import type {
  ConsoleSignoutStore,
  DualControlRecord,
  DualControlStore,
  PrincipalRevocation,
  PrincipalRevocationStore,
} from './types.ts';

export function consoleSignoutRepo(db: Kysely<Database>): ConsoleSignoutStore {
  return {
    async end(sid, until) {
      await db
        .insertInto('console_signouts')
        .values({ sid, until })
        .onConflict((oc) => oc.column('sid').doNothing())
        .execute();
    },
    async ended(sid) {
      const row = await db.selectFrom('console_signouts').select('sid').where('sid', '=', sid).executeTakeFirst();
      return row !== undefined;
    },
    async purge(before) {
      const r = await db.deleteFrom('console_signouts').where('until', '<', before).executeTakeFirst();
      return Number(r.numDeletedRows);
    },
  };
}

export function principalRevocationRepo(db: Kysely<Database>): PrincipalRevocationStore {
  return {
    async revoke(r) {
      await db
        .insertInto('principal_revocations')
        .values({
          kind: r.kind,
          value: r.value,
          issuer: r.issuer,
          reason: r.reason,
          revoked_by: r.revokedBy,
          revoked_at: r.revokedAt,
        })
        .onConflict((oc) => oc.columns(['kind', 'value', 'issuer']).doNothing())
        .execute();
    },
    async restore(kind, value, issuer) {
      const r = await db
        .deleteFrom('principal_revocations')
        .where('kind', '=', kind)
        .where('value', '=', value)
        .where('issuer', '=', issuer)
        .executeTakeFirst();
      return r.numDeletedRows > 0n;
    },
    async list() {
      const rows = await db.selectFrom('principal_revocations').selectAll().orderBy('revoked_at').execute();
      return rows.map((r) => ({
        kind: r.kind as PrincipalRevocation['kind'],
        value: r.value,
        issuer: r.issuer,
        reason: r.reason,
        revokedBy: r.revoked_by,
        revokedAt: Number(r.revoked_at),
      }));
    },
  };
}

function dual(r: Selectable<DualControlTable>): DualControlRecord {
  return {
    id: r.id,
    action: r.action,
    params: JSON.parse(r.params) as Record<string, unknown>,
    requestedBy: r.requested_by,
    requestedAt: Number(r.requested_at),
    expiresAt: Number(r.expires_at),
    status: r.status as DualControlRecord['status'],
    confirmedBy: r.confirmed_by,
    confirmedAt: r.confirmed_at === null ? null : Number(r.confirmed_at),
  };
}

export function dualControlRepo(db: Kysely<Database>): DualControlStore {
  return {
    async create(r) {
      await db
        .insertInto('dual_control')
        .values({
          id: r.id,
          action: r.action,
          params: JSON.stringify(r.params),
          requested_by: r.requestedBy,
          requested_at: r.requestedAt,
          expires_at: r.expiresAt,
          status: r.status,
          confirmed_by: r.confirmedBy,
          confirmed_at: r.confirmedAt,
        })
        .execute();
    },
    async get(id) {
      const r = await db.selectFrom('dual_control').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? dual(r) : undefined;
    },
    async list(status) {
      let q = db.selectFrom('dual_control').selectAll().orderBy('requested_at');
      if (status) q = q.where('status', '=', status);
      return (await q.execute()).map(dual);
    },
    async confirm(id, by, at) {
      const r = await db
        .updateTable('dual_control')
        .set({ status: 'done', confirmed_by: by, confirmed_at: at })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .executeTakeFirst();
      return r.numUpdatedRows > 0n;
    },
  };
}
