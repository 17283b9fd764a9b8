/** The approvals and gateway_keys tables: the only code that reads or writes them. */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { ApprovalRequest } from '../model/approval.ts';
import type { Database } from './schema.ts';
import type { ApprovalStore } from './types.ts';

export function approvalRepo(db: Kysely<Database>): ApprovalStore {
  return {
    async create(r) {
      await db
        .insertInto('approvals')
        .values({
          id: r.id,
          tenant: r.tenant,
          requester_key: r.requester.key,
          status: r.status,
          created_at: r.createdAt,
          expires_at: r.expiresAt,
          body: JSON.stringify(r),
        })
        .execute();
    },
    async get(id) {
      const row = await db.selectFrom('approvals').select('body').where('id', '=', id).executeTakeFirst();
      return row ? (JSON.parse(row.body) as ApprovalRequest) : undefined;
    },
    async transition(next, expected) {
      const r = await db
        .updateTable('approvals')
        .set({ status: next.status, body: JSON.stringify(next) })
        .where('id', '=', next.id)
        .where('status', '=', expected)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
    async list(opts = {}) {
      let q = db.selectFrom('approvals').select('body');
      if (opts.status) q = q.where('status', '=', opts.status);
      if (opts.tenant) q = q.where('tenant', '=', opts.tenant);
      return (
        await q
          .orderBy('created_at', 'desc')
          .limit(opts.limit ?? 200)
          .execute()
      ).map((r) => JSON.parse(r.body) as ApprovalRequest);
    },
    async countPending(requesterKey, now) {
      const r = await db
        .selectFrom('approvals')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('requester_key', '=', requesterKey)
        .where('status', '=', 'pending')
        .where('expires_at', '>', now)
        .executeTakeFirst();
      return Number(r?.n ?? 0);
    },
    async countPendingTenant(tenant, now) {
      const r = await db
        .selectFrom('approvals')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('tenant', '=', tenant)
        .where('status', '=', 'pending')
        .where('expires_at', '>', now)
        .executeTakeFirst();
      return Number(r?.n ?? 0);
    },
    async sharedKey(name) {
      const fresh = randomBytes(32).toString('base64');
      await db
        .insertInto('gateway_keys')
        .values({ name, value: fresh })
        .onConflict((oc) => oc.column('name').doNothing())
        .execute();
      const row = await db
        .selectFrom('gateway_keys')
        .select('value')
        .where('name', '=', name)
        .executeTakeFirstOrThrow();
      return Buffer.from(row.value, 'base64');
    },
  };
}
