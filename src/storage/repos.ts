/** The sessions and upstream_verdicts tables: the only code that reads or writes them. */
import type { Kysely, Selectable } from 'kysely';
import type { Database, SessionsTable } from './schema.ts';
import type { SessionRecord, SessionStore, UpstreamVerdict, VerdictStore } from './types.ts';

const n = (v: number | string | bigint): number => Number(v);

function toRecord(r: Selectable<SessionsTable>): SessionRecord {
  return {
    id: r.id,
    scope: r.scope,
    protocolVersion: r.protocol_version,
    clientInfo: JSON.parse(r.client_info),
    clientCapabilities: JSON.parse(r.client_capabilities),
    principal: r.principal,
    createdAt: n(r.created_at),
    lastSeenAt: n(r.last_seen_at),
  };
}

export function sessionRepo(db: Kysely<Database>): SessionStore {
  return {
    async create(r) {
      await db
        .insertInto('sessions')
        .values({
          id: r.id,
          scope: r.scope,
          protocol_version: r.protocolVersion,
          client_info: JSON.stringify(r.clientInfo ?? {}),
          client_capabilities: JSON.stringify(r.clientCapabilities ?? {}),
          principal: r.principal,
          created_at: r.createdAt,
          last_seen_at: r.lastSeenAt,
        })
        .execute();
    },
    async get(id) {
      const r = await db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? toRecord(r) : undefined;
    },
    async touch(id, at) {
      await db.updateTable('sessions').set({ last_seen_at: at }).where('id', '=', id).execute();
    },
    async delete(id) {
      const r = await db.deleteFrom('sessions').where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },
    async purgeIdle(before) {
      const r = await db.deleteFrom('sessions').where('last_seen_at', '<', before).executeTakeFirst();
      return Number(r.numDeletedRows);
    },
  };
}

export function verdictRepo(db: Kysely<Database>): VerdictStore {
  return {
    async get(server) {
      const r = await db.selectFrom('upstream_verdicts').selectAll().where('server', '=', server).executeTakeFirst();
      if (!r) return undefined;
      return { server: r.server, fingerprint: r.fingerprint, era: r.era as UpstreamVerdict['era'], protocolVersion: r.protocol_version, probedAt: n(r.probed_at) };
    },
    async put(v) {
      const row = { server: v.server, fingerprint: v.fingerprint, era: v.era, protocol_version: v.protocolVersion, probed_at: v.probedAt };
      await db
        .insertInto('upstream_verdicts')
        .values(row)
        .onConflict((oc) => oc.column('server').doUpdateSet({ fingerprint: row.fingerprint, era: row.era, protocol_version: row.protocol_version, probed_at: row.probed_at }))
        .execute();
    },
  };
}
