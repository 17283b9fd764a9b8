/**
 * The storage contract. Every implementation (SQLite embedded default, PostgreSQL) passes the same
 * contract suite (src/storage/contract.test.ts). One module owns each table.
 */

import type { AuditEvent } from '../model/audit-event.ts';
import type { ApprovalRequest } from '../model/approval.ts';

/** A legacy (2025-11-25) downstream session. */
export interface SessionRecord {
  id: string;
  /** Which endpoint it was created on: '' for /mcp, or the server name for /servers/<name>/mcp. */
  scope: string;
  protocolVersion: string;
  clientInfo: unknown;
  clientCapabilities: unknown;
  /** The verified principal's stable key, or null while unauthenticated access is allowed. */
  principal: string | null;
  /** The principal's tenant (sessions are capped per tenant); null for anonymous sessions. */
  tenant?: string | null;
  createdAt: number; // epoch ms
  lastSeenAt: number; // epoch ms
}

/** What probing an upstream found, cached so restarts skip the probe. */
export interface UpstreamVerdict {
  server: string;
  /** Hash of the server's connection config: a changed config invalidates the verdict. */
  fingerprint: string;
  era: 'modern' | 'legacy';
  protocolVersion: string;
  probedAt: number; // epoch ms
}

/**
 * A session to store. Its times are stamped with the store's clock unless given (tests): replicas'
 * own clocks may disagree (ADR 0013), so every time a session is judged by is the store's.
 */
type NewSession = Omit<SessionRecord, 'createdAt' | 'lastSeenAt'> &
  Partial<Pick<SessionRecord, 'createdAt' | 'lastSeenAt'>>;

/**
 * Legacy sessions. Idleness is judged by the store's clock (PostgreSQL's, or the one machine's for
 * SQLite), never by the caller's: a replica whose clock is ahead must not end the others' sessions.
 */
export interface SessionStore {
  /** Stores `r` (a duplicate id is refused); the record as stored, with its times. */
  create(r: NewSession): Promise<SessionRecord>;
  /** Session `id`; with `withinMs`, only if it was last seen within that long by the store's clock. */
  get(id: string, withinMs?: number): Promise<SessionRecord | undefined>;
  /** Marks session `id` seen now by the store's clock (`at`: at that time instead, for tests). */
  touch(id: string, at?: number): Promise<void>;
  delete(id: string): Promise<boolean>;
  /** Delete sessions not seen for `idleMs` by the store's clock; returns how many. */
  purgeIdle(idleMs: number): Promise<number>;
  /** Sessions of one principal or one tenant seen within the last `withinMs` by the store's clock. */
  count(q: { principal?: string; tenant?: string; withinMs: number }): Promise<number>;
  /** End every session of a tenant, or of principals whose key contains `subject` (an incident); how many. */
  deleteMatching(q: { tenant?: string; subject?: string }): Promise<number>;
}

export interface VerdictStore {
  get(server: string): Promise<UpstreamVerdict | undefined>;
  put(v: UpstreamVerdict): Promise<void>;
}

/** What discovery last saw of one server, and what an operator accepted of its instructions. */
export interface InventoryServer {
  server: string;
  firstSeen: number;
  lastSeen: number;
  serverInfo: unknown;
  protocolVersion: string;
  instructions: string | null;
  instructionsPin: string;
  findings: unknown[];
  acceptedPin: string | null;
  acceptedInstructions: string | null;
  acceptedBy: string | null;
  acceptedAt: number | null;
}

/** One tool of one server: its current definition, the accepted one, and its review. */
export interface InventoryTool {
  server: string;
  tool: string;
  firstSeen: number;
  lastSeen: number;
  /** Whether the server still lists it. */
  present: boolean;
  pin: string;
  def: Record<string, unknown>;
  findings: unknown[];
  proposedClass: string;
  proposalReasons: string[];
  acceptedPin: string | null;
  acceptedDef: Record<string, unknown> | null;
  acceptedBy: string | null;
  acceptedAt: number | null;
  class: string | null;
  classifiedBy: string | null;
  classifiedAt: number | null;
}

export interface InventoryEventInput {
  at: number;
  server: string;
  tool: string | null;
  kind: string;
  actor: string;
  detail: Record<string, unknown>;
}

interface InventoryEvent extends InventoryEventInput {
  seq: number;
}

interface InventorySnapshot {
  seq: number;
  server: string;
  observedAt: number;
  digest: string;
  content: unknown;
}

/** One server's inventory as a read-modify-write unit. */
export interface InventoryState {
  server: InventoryServer | undefined;
  tools: InventoryTool[];
  /** The digest of the server's latest snapshot. */
  lastDigest: string | undefined;
}

export interface InventoryChange {
  server?: InventoryServer;
  /** Inserted or replaced whole. */
  tools?: InventoryTool[];
  events?: InventoryEventInput[];
  snapshot?: { observedAt: number; digest: string; content: unknown };
}

export interface InventoryStore {
  /** Changes whenever anything in the inventory changes (the latest event's sequence number). */
  revision(): Promise<number>;
  servers(): Promise<InventoryServer[]>;
  tools(server?: string): Promise<InventoryTool[]>;
  /**
   * Read one server's state and write what `fn` makes of it, atomically and serialised against every
   * other update of that server (across processes): discovery and an operator's accept never lose
   * each other's writes. `fn` must be pure; it may run again.
   */
  update<T>(server: string, fn: (state: InventoryState) => { change: InventoryChange; result: T }): Promise<T>;
  events(opts?: { server?: string; afterSeq?: number; limit?: number }): Promise<InventoryEvent[]>;
  snapshots(server: string, limit?: number): Promise<InventorySnapshot[]>;
}

/** An API key as stored: the secret itself is never kept, only its SHA-256. */
export interface ApiKeyRecord {
  id: string;
  name: string;
  hash: string;
  tenant: string;
  /** The person the key acts for (their subject at the identity provider); null for a service key. */
  subject: string | null;
  roles: string[];
  scopes: string[];
  createdAt: number;
  createdBy: string;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
  revokedBy: string | null;
}

export interface ApiKeyStore {
  /** Refuses a duplicate id or name. */
  create(r: ApiKeyRecord): Promise<void>;
  get(id: string): Promise<ApiKeyRecord | undefined>;
  list(): Promise<ApiKeyRecord[]>;
  /** Revoke by id or name; the record after, or undefined when there is none. Revoking twice keeps the first time. */
  revoke(idOrName: string, by: string, at: number): Promise<ApiKeyRecord | undefined>;
  touch(id: string, at: number): Promise<void>;
}

export interface AuditQuery {
  afterPosition?: number;
  stream?: string;
  since?: number;
  until?: number;
  runId?: string;
  subject?: string;
  tenant?: string;
  tool?: string;
  outcome?: string;
  kind?: string;
  limit?: number;
}

/**
 * What an acknowledged audit write survives (`audit.durability`): `process-crash` — the gateway
 * process dying (SQLite WAL with synchronous=NORMAL; PostgreSQL synchronous_commit=off); a power cut
 * or an OS crash may lose the last moments of records, never reorder or corrupt the chain.
 * `power-loss` — also a power cut (every group commit fsynced; PostgreSQL waits for its WAL flush).
 */
export type AuditDurability = 'process-crash' | 'power-loss';

/** The audit trail: append-only, hash-chained per stream (src/audit). */
export interface AuditStore {
  /** One transaction; appends are serialised across processes, so positions follow commit order. */
  appendBatch(events: AuditEvent[], durability?: AuditDurability): Promise<void>;
  read(q: AuditQuery): Promise<Array<{ position: number; event: AuditEvent }>>;
  /**
   * A search an operator asked for, with any filters: at most `q.limit` records in position order,
   * the trail read a window of positions at a time (`window`, default 20,000), the event loop free
   * between windows, for at most about `budgetMs` (default 250). `next`: the position to go on after
   * (the last record's, when the page is full, else the last one searched); absent once the search
   * reached the end of the trail.
   */
  search(
    q: AuditQuery,
    opts?: { window?: number; budgetMs?: number },
  ): Promise<{ rows: Array<{ position: number; event: AuditEvent }>; next?: number }>;
  /** Every stream with records, by name, and its last seq: an index seek each, whatever the trail's size. */
  streams(): Promise<Array<{ stream: string; lastSeq: number }>>;
  /** The number of records stored (pruned ones not included): an index-only count, no row is read. */
  count(): Promise<number>;
  /**
   * The tenants records name, in order, at most `limit`: a seek per tenant on (tenant, position), not
   * a scan of the trail ("did you mean" when an incident names a tenant no record does).
   */
  tenants(limit: number): Promise<string[]>;
  /** Records of one stream by seq, from `fromSeq` on, as stored (body parsed; columns alongside for verification). */
  streamRecords(
    stream: string,
    fromSeq: number,
    limit: number,
  ): Promise<Array<{ position: number; stream: string; seq: number; body: string }>>;
  /**
   * Intents of streams other than `excludeStreams` that no outcome or unknown record closes (at most
   * 10,000, oldest first). Read from a table the appends keep, so its cost follows the calls in
   * flight, not the log's size.
   */
  openIntents(excludeStreams: readonly string[]): Promise<AuditEvent[]>;
  /**
   * The `call.unknown` record another gateway closed this intent with (it took the intent's writer
   * for stopped: Audit.closeOrphans), or undefined while the intent is open or closed otherwise. Asked
   * only when the writer may have looked stopped (src/audit/liveness.ts): the rows after the intent are read.
   */
  closedAsUnknown(intent: Pick<AuditEvent, 'id' | 'stream' | 'seq'>): Promise<AuditEvent | undefined>;
  checkpoint(stream: string): Promise<{ seq: number; hash: string; at: number } | undefined>;
  /**
   * Delete records older than `before`, keeping a checkpoint (seq, hash) of the last deleted per
   * stream; a chunk at a time, so `signal` stops it between chunks (what was deleted stays deleted).
   */
  prune(before: number, signal?: AbortSignal): Promise<number>;
  getCursor(name: string): Promise<number>;
  /**
   * The trail past `after`: the last position stored, and when the first record after `after` was
   * written (epoch ms). Two index seeks, no row read past them: an export's backlog at every scrape.
   */
  tail(after: number): Promise<{ lastPosition: number; firstAt: number | undefined }>;
  /** Moves the cursor forward to `position`; never back (another writer may have moved it further). */
  setCursor(name: string, position: number): Promise<void>;
  /**
   * The embedded store's spool (ADR 0015; absent on PostgreSQL): records acknowledged and not yet
   * stored, why storing them last failed, and the spools of stopped writers replayed since the last
   * call (each reported once).
   */
  spool?(): { pending: number; lastError?: string; replayed: SpoolReplay[] };
}

/** A stopped writer's audit spool, replayed into the store (storage/sqlite-audit-replay.ts). */
export interface SpoolReplay {
  /** The spool file's name (in `<database>-spool/`). */
  file: string;
  /** Records stored from it (not counting those the store held already). */
  stored: number;
  /** A cut-short last line (the writer died during its write): dropped; where it began and its size. */
  torn?: { offset: number; bytes: number };
  /** The line that stopped the replay (1-based), and why: the file is kept for the operator. */
  stopped?: { line: number; reason: string };
}

/** A mode set at run time (the kill switch): overrides the policy files' modes for its scope. */
export interface ModeRecord {
  /** `gateway`, `tenant:<t>`, `server:<s>` or `tool:<namespaced>`. */
  scope: string;
  mode: 'enforce' | 'shadow' | 'read_only' | 'disabled';
  reason: string;
  setBy: string;
  setAt: number;
}

export interface ModeStore {
  list(): Promise<ModeRecord[]>;
  set(r: ModeRecord): Promise<void>;
  /** Whether there was one to clear. */
  clear(scope: string): Promise<boolean>;
  /** Changes whenever a mode is set or cleared (for followers). */
  revision(): Promise<string>;
}

interface Revocation {
  ref: string;
  reason: string;
  revokedBy: string;
  revokedAt: number;
}

/** Credential revocations, and which live gateways have applied them (the confirmation). */
export interface RevocationStore {
  revoke(r: Revocation): Promise<void>;
  /** Lift a revocation (after the secret was rotated in its manager); whether there was one. */
  restore(ref: string): Promise<boolean>;
  list(): Promise<Revocation[]>;
  ack(ref: string, instance: string, at: number): Promise<void>;
  acks(ref: string): Promise<Array<{ instance: string; ackedAt: number }>>;
  /**
   * This gateway is live now, by the store's clock (PostgreSQL's, or the machine's for SQLite): never
   * the gateway's own, so replicas whose clocks disagree still agree on who is live. `at` only where a
   * test writes a heartbeat of the past.
   */
  heartbeat(instance: string, startedAt: number, at?: number): Promise<void>;
  /** Gateways whose last heartbeat is at most `withinMs` old by the store's clock. */
  live(withinMs: number): Promise<string[]>;
  /**
   * The id of a gateway's secrets key (local-store.ts keyId: never the key), kept beside its
   * heartbeat (which it counts as, when the gateway has none yet): replicas on one store must share the key.
   */
  recordKeyId(instance: string, keyId: string, at: number, previousKeyId?: string): Promise<void>;
  /**
   * The gateways live within `withinMs` (as `live`), with the key id each recorded (undefined: not
   * recorded) and the id of the other key it opens with during a key roll (GATEHOUSE_SECRETS_KEY_PREVIOUS).
   */
  keyIds(withinMs: number): Promise<Array<{ instance: string; keyId: string | undefined; previousKeyId?: string }>>;
  forget(instance: string): Promise<void>;
  /**
   * Housekeeping for gateways that stopped without `forget` (killed processes; every start is a new
   * instance): deletes the gateways whose heartbeat is older than `olderThanMs` by the store's clock,
   * and the acknowledgements (of applied changes and of credential revocations) made before then by a
   * gateway not seen since. Every reader counts only gateways seen in the last seconds, so with
   * `olderThanMs` far longer than that none of them sees a difference. The number of rows deleted.
   */
  forgetStale(olderThanMs: number): Promise<number>;
}

export interface ApprovalStore {
  create(r: ApprovalRequest): Promise<void>;
  get(id: string): Promise<ApprovalRequest | undefined>;
  /**
   * Replace a request only if its status is still `expected` (compare-and-set): of concurrent
   * transitions exactly one wins, so an approval is used at most once across every replica.
   */
  transition(next: ApprovalRequest, expected: ApprovalRequest['status']): Promise<boolean>;
  list(opts?: { status?: ApprovalRequest['status']; tenant?: string; limit?: number }): Promise<ApprovalRequest[]>;
  countPending(requesterKey: string, now: number): Promise<number>;
  countPendingTenant(tenant: string, now: number): Promise<number>;
  /** A random key shared by every replica, made on first use. */
  sharedKey(name: string): Promise<Buffer>;
}

/** Upstream OAuth tokens and authorizations in progress; values arrive and leave sealed (encrypted). */
export interface UpstreamTokenStore {
  put(server: string, tenant: string, sealed: string, at: number): Promise<void>;
  get(server: string, tenant: string): Promise<string | undefined>;
  delete(server: string, tenant: string): Promise<boolean>;
  list(): Promise<Array<{ server: string; tenant: string; updatedAt: number }>>;
  addPending(p: {
    state: string;
    server: string;
    tenant: string;
    sealedVerifier: string;
    createdAt: number;
  }): Promise<void>;
  /** The pending authorizations' states and sealed verifiers (to re-seal them under a new key). */
  listPending(): Promise<Array<{ state: string; sealedVerifier: string }>>;
  /** Replace a pending authorization's sealed verifier, if it is still `from`; whether it was. */
  resealPending(state: string, from: string, to: string): Promise<boolean>;
  /** The pending authorization, removed as it is read (a state works once). */
  takePending(
    state: string,
  ): Promise<{ server: string; tenant: string; sealedVerifier: string; createdAt: number } | undefined>;
}

/**
 * The `local:` secrets in the shared database (used when the store is PostgreSQL; SQLite keeps them in
 * the state directory's file): values arrive and leave sealed, each with the id of its key.
 */
export interface LocalSecretRows {
  get(name: string): Promise<{ sealed: string; keyId: string; updatedAt: number } | undefined>;
  put(name: string, sealed: string, keyId: string, at: number): Promise<void>;
  /** Insert only where the name is not taken yet (a migration from the file); whether it was inserted. */
  add(name: string, sealed: string, keyId: string, at: number): Promise<boolean>;
  /** Replace a row's sealed value if it is still `from` (a key rotation); whether it was. */
  reseal(name: string, from: string, to: string, keyId: string): Promise<boolean>;
  delete(name: string): Promise<boolean>;
  list(): Promise<Array<{ name: string; keyId: string; updatedAt: number }>>;
}

/** A revoked token principal: every token of a subject, or one token by its `jti`. */
export interface PrincipalRevocation {
  kind: 'subject' | 'jti';
  value: string;
  /** The issuer it applies to; '' for every issuer (and for API keys acting for that subject). */
  issuer: string;
  reason: string;
  revokedBy: string;
  revokedAt: number;
}

export interface PrincipalRevocationStore {
  /** Revoking again keeps the first record. */
  revoke(r: PrincipalRevocation): Promise<void>;
  restore(kind: PrincipalRevocation['kind'], value: string, issuer: string): Promise<boolean>;
  list(): Promise<PrincipalRevocation[]>;
}

/** An operation that needs two distinct people: requested by one, confirmed by another. */
export interface DualControlRecord {
  id: string;
  action: string;
  params: Record<string, unknown>;
  requestedBy: string;
  requestedAt: number;
  expiresAt: number;
  status: 'pending' | 'done' | 'cancelled';
  confirmedBy: string | null;
  confirmedAt: number | null;
}

export interface DualControlStore {
  create(r: DualControlRecord): Promise<void>;
  get(id: string): Promise<DualControlRecord | undefined>;
  list(status?: DualControlRecord['status']): Promise<DualControlRecord[]>;
  /** pending -> done by `by` (compare-and-set: exactly one confirmation wins). */
  confirm(id: string, by: string, at: number): Promise<boolean>;
}

/** One step taken for an incident (containment, revocation, export, notice, close), in order. */
export interface IncidentAction {
  at: number;
  by: string;
  action: string;
  detail: Record<string, unknown>;
}

/** An incident: what was contained, by whom and when, and what was done about it since. */
export interface IncidentRecord {
  id: string;
  title: string;
  scope: { kind: 'tool' | 'server' | 'tenant' | 'principal'; value: string };
  /** The tenant it concerns (a tenant scope), or null for a gateway-wide one (tool, server, principal). */
  tenant: string | null;
  reason: string;
  status: 'open' | 'closed';
  openedBy: string;
  openedAt: number;
  /** Where its window of audit records starts (before the opening: the misbehaviour came first). */
  windowStart: number;
  closedBy: string | null;
  closedAt: number | null;
  actions: IncidentAction[];
}

export interface IncidentStore {
  create(r: IncidentRecord): Promise<void>;
  get(id: string): Promise<IncidentRecord | undefined>;
  /** Newest first, without their actions. */
  list(q?: {
    status?: IncidentRecord['status'];
    tenant?: string;
    limit?: number;
  }): Promise<Array<Omit<IncidentRecord, 'actions'>>>;
  addAction(id: string, a: IncidentAction): Promise<void>;
  /** open -> closed (compare-and-set); whether this call closed it. */
  close(id: string, by: string, at: number): Promise<boolean>;
}

/**
 * Which live gateways have applied a change followed from the store (a run-time mode, a principal
 * revocation), keyed like `mode:<scope>`: each gateway writes the version (the change's time) it applied.
 */
export interface ApplyAckStore {
  ack(key: string, instance: string, version: number, at: number): Promise<void>;
  acks(key: string): Promise<Array<{ instance: string; version: number; ackedAt: number }>>;
}

/** Console sessions signed out of (by the random id their cookie holds), each kept until its cookie expires. */
export interface ConsoleSignoutStore {
  /** Ending a session again keeps the first record. */
  end(sid: string, until: number): Promise<void>;
  ended(sid: string): Promise<boolean>;
  /** Forget the sessions whose cookies expired before `before`; how many. */
  purge(before: number): Promise<number>;
}

export interface Store {
  readonly driver: 'sqlite' | 'postgres';
  readonly sessions: SessionStore;
  readonly verdicts: VerdictStore;
  readonly inventory: InventoryStore;
  readonly apiKeys: ApiKeyStore;
  readonly audit: AuditStore;
  readonly modes: ModeStore;
  readonly revocations: RevocationStore;
  readonly approvals: ApprovalStore;
  readonly upstreamTokens: UpstreamTokenStore;
  readonly localSecrets: LocalSecretRows;
  readonly principalRevocations: PrincipalRevocationStore;
  readonly dualControl: DualControlStore;
  readonly incidents: IncidentStore;
  readonly applyAcks: ApplyAckStore;
  readonly consoleSignouts: ConsoleSignoutStore;
  /**
   * The embedded store only: empty its write-ahead log into the database file (where what was replaced
   * or deleted is zeroed), so no file holds an earlier version of a row. false when other connections
   * kept it from completing within `timeoutMs`.
   */
  readonly emptyLog?: (timeoutMs: number) => Promise<boolean>;
  /** Cheap liveness query for /readyz; throws when the store is unusable. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
