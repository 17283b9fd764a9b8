/**
 * The sessions and upstream_verdicts tables: the only code that reads or writes them, the same for
 * both drivers. JSON columns are text (serialised here); timestamps arrive as numbers from either
 * driver (the PostgreSQL pool parses BIGINT as a number, see postgres.ts).
 */
import { type RawBuilder, sql, type Kysely, type Selectable } from 'kysely';
import type { Database, SessionsTable } from './schema.ts';
import { inventoryRepo } from './inventory-repo.ts';
import { type ApiKeyRow, apiKeyRepo } from './api-key-repo.ts';
import { auditRepo } from './audit-repo.ts';
import { approvalRepo } from './approval-repo.ts';
import { consoleSignoutRepo, dualControlRepo, principalRevocationRepo } from './boundary-repo.ts';
import { applyAckRepo, incidentRepo } from './incident-repo.ts';
import type { SqliteAuditWriter } from './sqlite-audit-writer.ts';
import type {
  ModeRecord,
  ModeStore,
  RevocationStore,
  SessionRecord,
  UpstreamTokenStore,
  LocalSecretRows,
  SessionStore,
  Store,
  UpstreamVerdict,
  VerdictStore,
} from './types.ts';

/** JSON text for any value; `undefined` (which JSON cannot hold) is stored as `null`. */
const toJson = (v: unknown): string => JSON.stringify(v) ?? 'null';

function toRecord(r: Selectable<SessionsTable>): SessionRecord {
  return {
    id: r.id,
    scope: r.scope,
    protocolVersion: r.protocol_version,
    clientInfo: JSON.parse(r.client_info),
    clientCapabilities: JSON.parse(r.client_capabilities),
    principal: r.principal,
    ...(r.tenant !== null && r.tenant !== undefined ? { tenant: r.tenant } : {}),
    createdAt: r.created_at,
    lastSeenAt: r.last_seen_at,
  };
}

/**
 * The store's clock, in epoch ms: heartbeats and sessions' times are written with it and every
 * liveness or idleness window is read against it, so replicas whose own clocks disagree still agree
 * on who is live and which sessions are idle (a replica with its clock ten minutes ahead saw every
 * other one as stopped, and closed their calls in flight; it also purged their live sessions).
 * PostgreSQL's `clock_timestamp()` (the statement's time, not the transaction's); SQLite's `'now'`,
 * the machine's clock every process on the file shares.
 */
function storeNow(driver: Store['driver']): RawBuilder<number> {
  return driver === 'postgres'
    ? sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`
    : sql<number>`cast((julianday('now') - 2440587.5) * 86400000 as integer)`;
}

/** The store's clock `ms` ago (see storeNow). */
const storeAgo = (driver: Store['driver'], ms: number): RawBuilder<number> =>
  sql<number>`(${storeNow(driver)} - ${Math.max(0, Math.round(ms))})`;

function sessionRepo(db: Kysely<Database>, driver: Store['driver']): SessionStore {
  return {
    async create(r) {
      const stamped = await db
        .insertInto('sessions')
        .values({
          id: r.id,
          scope: r.scope,
          protocol_version: r.protocolVersion,
          client_info: toJson(r.clientInfo),
          client_capabilities: toJson(r.clientCapabilities),
          principal: r.principal,
          tenant: r.tenant ?? null,
          created_at: r.createdAt ?? storeNow(driver),
          last_seen_at: r.lastSeenAt ?? storeNow(driver),
        })
        .returning(['created_at', 'last_seen_at'])
        .executeTakeFirstOrThrow();
      return { ...r, createdAt: Number(stamped.created_at), lastSeenAt: Number(stamped.last_seen_at) };
    },
    async get(id, withinMs) {
      let q = db.selectFrom('sessions').selectAll().where('id', '=', id);
      if (withinMs !== undefined) q = q.where('last_seen_at', '>=', storeAgo(driver, withinMs));
      const r = await q.executeTakeFirst();
      return r ? toRecord(r) : undefined;
    },
    async touch(id, at) {
      await db
        .updateTable('sessions')
        .set({ last_seen_at: at ?? storeNow(driver) })
        .where('id', '=', id)
        .execute();
    },
    async delete(id) {
      const r = await db.deleteFrom('sessions').where('id', '=', id).executeTakeFirst();
      return r.numDeletedRows > 0n;
    },
    async purgeIdle(idleMs) {
      const r = await db.deleteFrom('sessions').where('last_seen_at', '<', storeAgo(driver, idleMs)).executeTakeFirst();
      return Number(r.numDeletedRows);
    },
    async count(q) {
      let query = db
        .selectFrom('sessions')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('last_seen_at', '>=', storeAgo(driver, q.withinMs));
      if (q.principal !== undefined) query = query.where('principal', '=', q.principal);
      if (q.tenant !== undefined) query = query.where('tenant', '=', q.tenant);
      return Number((await query.executeTakeFirst())?.n ?? 0);
    },
    async deleteMatching(q) {
      if (q.tenant === undefined && q.subject === undefined) return 0;
      let query = db.selectFrom('sessions').select(['id', 'principal']);
      if (q.tenant !== undefined) query = query.where('tenant', '=', q.tenant);
      // The principal key is JSON [via, issuer, subject, tenant].
      const subjectOf = (p: string | null) => {
        try {
          return (JSON.parse(p ?? 'null') as unknown[] | null)?.[2];
        } catch {
          return undefined;
        }
      };
      const ids = (await query.execute())
        .filter((r) => q.subject === undefined || subjectOf(r.principal) === q.subject)
        .map((r) => r.id);
      let n = 0;
      for (let i = 0; i < ids.length; i += 500)
        n += Number(
          (
            await db
              .deleteFrom('sessions')
              .where('id', 'in', ids.slice(i, i + 500))
              .executeTakeFirst()
          ).numDeletedRows,
        );
      return n;
    },
  };
}

function verdictRepo(db: Kysely<Database>): VerdictStore {
  return {
    async get(server) {
      const r = await db.selectFrom('upstream_verdicts').selectAll().where('server', '=', server).executeTakeFirst();
      if (!r) return undefined;
      return {
        server: r.server,
        fingerprint: r.fingerprint,
        era: r.era as UpstreamVerdict['era'],
        protocolVersion: r.protocol_version,
        probedAt: r.probed_at,
      };
    },
    async put(v) {
      const row = {
        fingerprint: v.fingerprint,
        era: v.era,
        protocol_version: v.protocolVersion,
        probed_at: v.probedAt,
      };
      await db
        .insertInto('upstream_verdicts')
        .values({ server: v.server, ...row })
        .onConflict((oc) => oc.column('server').doUpdateSet(row))
        .execute();
    },
  };
}

/** A `Store` over an open, migrated database; `close` releases it. */
function modeRepo(db: Kysely<Database>): ModeStore {
  return {
    async list() {
      const rows = await db.selectFrom('modes').selectAll().orderBy('scope').execute();
      return rows.map((r) => ({
        scope: r.scope,
        mode: r.mode as ModeRecord['mode'],
        reason: r.reason,
        setBy: r.set_by,
        setAt: Number(r.set_at),
      }));
    },
    async set(r) {
      const row = { mode: r.mode, reason: r.reason, set_by: r.setBy, set_at: r.setAt };
      await db
        .insertInto('modes')
        .values({ scope: r.scope, ...row })
        .onConflict((oc) => oc.column('scope').doUpdateSet(row))
        .execute();
    },
    async clear(scope) {
      const r = await db.deleteFrom('modes').where('scope', '=', scope).executeTakeFirst();
      return r.numDeletedRows > 0n;
    },
    async revision() {
      const r = await db
        .selectFrom('modes')
        .select((eb) => [eb.fn.countAll().as('n'), eb.fn.max('set_at').as('at')])
        .executeTakeFirst();
      return `${Number(r?.n ?? 0)}:${Number(r?.at ?? 0)}`;
    },
  };
}

/**
 * Deletes the acknowledgements in `table` made before `before` by a gateway not seen since (no
 * heartbeat in gateway_instances at or after it): readers only wait for gateways seen in the last
 * seconds. A gateway acknowledges the modes it starts with before its first heartbeat, so an
 * acknowledgement is never judged by the heartbeat alone. One statement; the number deleted.
 */
async function pruneAcks(
  db: Kysely<Database>,
  table: 'apply_acks' | 'revocation_acks',
  before: RawBuilder<number>,
): Promise<number> {
  const seen = db.selectFrom('gateway_instances').select('id').where('last_seen', '>=', before);
  const r = await db
    .deleteFrom(table)
    .where('acked_at', '<', before)
    .where('instance', 'not in', seen)
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

function revocationRepo(db: Kysely<Database>, driver: Store['driver']): RevocationStore {
  return {
    async revoke(r) {
      const row = { reason: r.reason, revoked_by: r.revokedBy, revoked_at: r.revokedAt };
      await db
        .insertInto('credential_revocations')
        .values({ ref: r.ref, ...row })
        .onConflict((oc) => oc.column('ref').doUpdateSet(row))
        .execute();
      await db.deleteFrom('revocation_acks').where('ref', '=', r.ref).execute();
    },
    async restore(ref) {
      const r = await db.deleteFrom('credential_revocations').where('ref', '=', ref).executeTakeFirst();
      await db.deleteFrom('revocation_acks').where('ref', '=', ref).execute();
      return r.numDeletedRows > 0n;
    },
    async list() {
      const rows = await db.selectFrom('credential_revocations').selectAll().orderBy('revoked_at').execute();
      return rows.map((r) => ({
        ref: r.ref,
        reason: r.reason,
        revokedBy: r.revoked_by,
        revokedAt: Number(r.revoked_at),
      }));
    },
    async ack(ref, instance, at) {
      await db
        .insertInto('revocation_acks')
        .values({ ref, instance, acked_at: at })
        .onConflict((oc) => oc.columns(['ref', 'instance']).doNothing())
        .execute();
    },
    async acks(ref) {
      const rows = await db.selectFrom('revocation_acks').selectAll().where('ref', '=', ref).execute();
      return rows.map((r) => ({ instance: r.instance, ackedAt: Number(r.acked_at) }));
    },
    async heartbeat(instance, startedAt, at) {
      const seen = at ?? storeNow(driver);
      await db
        .insertInto('gateway_instances')
        .values({ id: instance, started_at: startedAt, last_seen: seen })
        .onConflict((oc) => oc.column('id').doUpdateSet({ last_seen: seen }))
        .execute();
    },
    async live(withinMs) {
      return (
        await db
          .selectFrom('gateway_instances')
          .select('id')
          .where('last_seen', '>=', storeAgo(driver, withinMs))
          .execute()
      ).map((r) => r.id);
    },
    async recordKeyId(instance, keyId, at, previousKeyId) {
      const ids = { key_id: keyId, previous_key_id: previousKeyId ?? null };
      await db
        .insertInto('gateway_instances')
        .values({ id: instance, started_at: at, last_seen: storeNow(driver), ...ids })
        .onConflict((oc) => oc.column('id').doUpdateSet(ids))
        .execute();
    },
    async keyIds(withinMs) {
      const rows = await db
        .selectFrom('gateway_instances')
        .select(['id', 'key_id', 'previous_key_id'])
        .where('last_seen', '>=', storeAgo(driver, withinMs))
        .orderBy('id')
        .execute();
      return rows.map((r) => ({
        instance: r.id,
        keyId: r.key_id ?? undefined,
        ...(r.previous_key_id && { previousKeyId: r.previous_key_id }),
      }));
    },
    async forget(instance) {
      await db.deleteFrom('gateway_instances').where('id', '=', instance).execute();
    },
    async forgetStale(olderThanMs) {
      const before = storeAgo(driver, olderThanMs);
      // The acknowledgements first: they are judged by the heartbeats (either order gives the same result).
      const acks = (await pruneAcks(db, 'apply_acks', before)) + (await pruneAcks(db, 'revocation_acks', before));
      const r = await db.deleteFrom('gateway_instances').where('last_seen', '<', before).executeTakeFirst();
      return acks + Number(r.numDeletedRows);
    },
  };
}

function tokenRepo(db: Kysely<Database>): UpstreamTokenStore {
  return {
    async put(server, tenant, sealed, at) {
      await db
        .insertInto('upstream_tokens')
        .values({ server, tenant, sealed, updated_at: at })
        .onConflict((oc) => oc.columns(['server', 'tenant']).doUpdateSet({ sealed, updated_at: at }))
        .execute();
    },
    async get(server, tenant) {
      return (
        await db
          .selectFrom('upstream_tokens')
          .select('sealed')
          .where('server', '=', server)
          .where('tenant', '=', tenant)
          .executeTakeFirst()
      )?.sealed;
    },
    async delete(server, tenant) {
      const r = await db
        .deleteFrom('upstream_tokens')
        .where('server', '=', server)
        .where('tenant', '=', tenant)
        .executeTakeFirst();
      return r.numDeletedRows > 0n;
    },
    async list() {
      return (
        await db
          .selectFrom('upstream_tokens')
          .select(['server', 'tenant', 'updated_at'])
          .orderBy('server')
          .orderBy('tenant')
          .execute()
      ).map((r) => ({ server: r.server, tenant: r.tenant, updatedAt: Number(r.updated_at) }));
    },
    async addPending(p) {
      await db
        .insertInto('oauth_pending')
        .values({
          state: p.state,
          server: p.server,
          tenant: p.tenant,
          sealed_verifier: p.sealedVerifier,
          created_at: p.createdAt,
        })
        .execute();
    },
    async listPending() {
      return (await db.selectFrom('oauth_pending').select(['state', 'sealed_verifier']).execute()).map((r) => ({
        state: r.state,
        sealedVerifier: r.sealed_verifier,
      }));
    },
    async resealPending(state, from, to) {
      const r = await db
        .updateTable('oauth_pending')
        .set({ sealed_verifier: to })
        .where('state', '=', state)
        .where('sealed_verifier', '=', from)
        .executeTakeFirst();
      return r.numUpdatedRows > 0n;
    },
    async takePending(state) {
      const r = await db.selectFrom('oauth_pending').selectAll().where('state', '=', state).executeTakeFirst();
      if (!r) return undefined;
      const d = await db.deleteFrom('oauth_pending').where('state', '=', state).executeTakeFirst();
      if (d.numDeletedRows === 0n) return undefined; // taken by someone else meanwhile
      return { server: r.server, tenant: r.tenant, sealedVerifier: r.sealed_verifier, createdAt: Number(r.created_at) };
    },
  };
}

function localSecretRepo(db: Kysely<Database>): LocalSecretRows {
  return {
    async get(name) {
      const r = await db
        .selectFrom('local_secrets')
        .select(['sealed', 'key_id', 'updated_at'])
        .where('name', '=', name)
        .executeTakeFirst();
      return r && { sealed: r.sealed, keyId: r.key_id, updatedAt: Number(r.updated_at) };
    },
    async put(name, sealed, keyId, at) {
      await db
        .insertInto('local_secrets')
        .values({ name, sealed, key_id: keyId, updated_at: at })
        .onConflict((oc) => oc.column('name').doUpdateSet({ sealed, key_id: keyId, updated_at: at }))
        .execute();
    },
    async add(name, sealed, keyId, at) {
      const r = await db
        .insertInto('local_secrets')
        .values({ name, sealed, key_id: keyId, updated_at: at })
        .onConflict((oc) => oc.column('name').doNothing())
        .executeTakeFirst();
      return (r.numInsertedOrUpdatedRows ?? 0n) > 0n;
    },
    async reseal(name, from, to, keyId) {
      const r = await db
        .updateTable('local_secrets')
        .set({ sealed: to, key_id: keyId })
        .where('name', '=', name)
        .where('sealed', '=', from)
        .executeTakeFirst();
      return r.numUpdatedRows > 0n;
    },
    async delete(name) {
      const r = await db.deleteFrom('local_secrets').where('name', '=', name).executeTakeFirst();
      return r.numDeletedRows > 0n;
    },
    async list() {
      return (
        await db.selectFrom('local_secrets').select(['name', 'key_id', 'updated_at']).orderBy('name').execute()
      ).map((r) => ({ name: r.name, keyId: r.key_id, updatedAt: Number(r.updated_at) }));
    },
  };
}

/** What only the SQLite store has: its audit writer, and a synchronous read for the lookup every API-key request makes. */
export interface SqliteExtras {
  writer: SqliteAuditWriter;
  apiKeyRow: ApiKeyRow;
  emptyLog: Store['emptyLog'];
}

export function storeOver(db: Kysely<Database>, driver: Store['driver'], sqlite?: SqliteExtras): Store {
  const sqliteWriter = sqlite?.writer;
  return {
    driver,
    sessions: sessionRepo(db, driver),
    verdicts: verdictRepo(db),
    inventory: inventoryRepo(db, driver),
    apiKeys: apiKeyRepo(db, sqlite?.apiKeyRow),
    audit: auditRepo(db, driver, sqliteWriter),
    modes: modeRepo(db),
    revocations: revocationRepo(db, driver),
    approvals: approvalRepo(db),
    upstreamTokens: tokenRepo(db),
    localSecrets: localSecretRepo(db),
    principalRevocations: principalRevocationRepo(db),
    dualControl: dualControlRepo(db),
    incidents: incidentRepo(db),
    applyAcks: applyAckRepo(db),
    consoleSignouts: consoleSignoutRepo(db),
    emptyLog: sqlite?.emptyLog,
    async ping() {
      await sql`select 1`.execute(db);
      // The embedded store also fails readiness while the audit records it acknowledged cannot be stored.
      const spool = sqliteWriter?.spooled();
      if (spool?.lastError) throw new Error(`${spool.pending} audit records cannot be stored: ${spool.lastError}`);
    },
    async close() {
      await sqliteWriter?.close();
      await db.destroy();
    },
  };
}
