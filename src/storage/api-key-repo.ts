/** The api_keys table: the only code that reads or writes it, the same for both drivers. */
import type { Kysely, Selectable } from 'kysely';
import type { ApiKeysTable, Database } from './schema.ts';
import type { ApiKeyRecord, ApiKeyStore } from './types.ts';

function out(r: Selectable<ApiKeysTable>): ApiKeyRecord {
  return {
    id: r.id,
    name: r.name,
    hash: r.hash,
    tenant: r.tenant,
    subject: r.subject ?? null,
    roles: JSON.parse(r.roles),
    scopes: JSON.parse(r.scopes),
    createdAt: r.created_at,
    createdBy: r.created_by,
    expiresAt: r.expires_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
    revokedBy: r.revoked_by,
  };
}

/** A key's row read synchronously (SQLite: one kept statement, none of kysely's per-query promises and connection lock). */
export type ApiKeyRow = (id: string) => Selectable<ApiKeysTable> | undefined;

/** The lookup every request with an API key makes, compiled once (the id is its one parameter; `ApiKeyRow` runs its SQL on SQLite). */
export function apiKeyById(db: Kysely<Database>) {
  return db.selectFrom('api_keys').selectAll().where('id', '=', '').compile();
}

/** `row`: the synchronous read of the lookup, where the driver has one. The row is read on every request either way. */
export function apiKeyRepo(db: Kysely<Database>, row?: ApiKeyRow): ApiKeyStore {
  const byId = apiKeyById(db);
  const find = (idOrName: string) =>
    db
      .selectFrom('api_keys')
      .selectAll()
      .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
      .executeTakeFirst();
  return {
    async create(r) {
      await db
        .insertInto('api_keys')
        .values({
          id: r.id,
          name: r.name,
          hash: r.hash,
          tenant: r.tenant,
          subject: r.subject,
          roles: JSON.stringify(r.roles),
          scopes: JSON.stringify(r.scopes),
          created_at: r.createdAt,
          created_by: r.createdBy,
          expires_at: r.expiresAt,
          last_used_at: r.lastUsedAt,
          revoked_at: r.revokedAt,
          revoked_by: r.revokedBy,
        })
        .execute();
    },
    async get(id) {
      const r = row
        ? row(id)
        : (await db.executeQuery<Selectable<ApiKeysTable>>({ ...byId, parameters: [id] })).rows[0];
      return r ? out(r) : undefined;
    },
    async list() {
      return (await db.selectFrom('api_keys').selectAll().orderBy('created_at').orderBy('name').execute()).map(out);
    },
    async revoke(idOrName, by, at) {
      const r = await find(idOrName);
      if (!r) return undefined;
      await db
        .updateTable('api_keys')
        .set({ revoked_at: at, revoked_by: by })
        .where('id', '=', r.id)
        .where('revoked_at', 'is', null)
        .execute();
      const after = await db.selectFrom('api_keys').selectAll().where('id', '=', r.id).executeTakeFirst();
      return after ? out(after) : undefined;
    },
    async touch(id, at) {
      await db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute();
    },
  };
}
