/** Table shapes as kysely sees them (see migrations.ts). Timestamps are epoch milliseconds; JSON is stored as text. */
import type { Generated } from 'kysely';

export interface SessionsTable {
  id: string;
  scope: string;
  protocol_version: string;
  client_info: string;
  client_capabilities: string;
  principal: string | null;
  tenant: string | null;
  created_at: number;
  last_seen_at: number;
}

interface UpstreamVerdictsTable {
  server: string;
  fingerprint: string;
  era: string;
  protocol_version: string;
  probed_at: number;
}

export interface InventoryServersTable {
  server: string;
  first_seen: number;
  last_seen: number;
  server_info: string;
  protocol_version: string;
  instructions: string | null;
  instructions_pin: string;
  findings: string;
  accepted_pin: string | null;
  accepted_instructions: string | null;
  accepted_by: string | null;
  accepted_at: number | null;
}

export interface InventoryToolsTable {
  server: string;
  tool: string;
  first_seen: number;
  last_seen: number;
  present: number;
  pin: string;
  def: string;
  findings: string;
  proposed_class: string;
  proposal_reasons: string;
  accepted_pin: string | null;
  accepted_def: string | null;
  accepted_by: string | null;
  accepted_at: number | null;
  class: string | null;
  classified_by: string | null;
  classified_at: number | null;
}

interface InventoryEventsTable {
  seq: Generated<number>;
  at: number;
  server: string;
  tool: string | null;
  kind: string;
  actor: string;
  detail: string;
}

interface InventorySnapshotsTable {
  seq: Generated<number>;
  server: string;
  observed_at: number;
  digest: string;
  content: string;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  hash: string;
  tenant: string;
  subject: string | null;
  roles: string;
  scopes: string;
  created_at: number;
  created_by: string;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
  revoked_by: string | null;
}

interface AuditEventsTable {
  position: Generated<number>;
  stream: string;
  seq: number;
  id: string;
  at: number;
  kind: string;
  run_id: string | null;
  subject: string | null;
  tenant: string | null;
  tool: string | null;
  outcome: string | null;
  intent_id: string | null;
  body: string;
}

/** Call intents no record closes yet (kept by triggers on audit_events: migrations.ts). */
interface AuditOpenIntentsTable {
  id: string;
  position: number;
}

interface AuditCheckpointsTable {
  stream: string;
  seq: number;
  hash: string;
  at: number;
}

interface AuditCursorsTable {
  name: string;
  position: number;
  updated_at: number;
}

interface ModesTable {
  scope: string;
  mode: string;
  reason: string;
  set_by: string;
  set_at: number;
}

interface CredentialRevocationsTable {
  ref: string;
  reason: string;
  revoked_by: string;
  revoked_at: number;
}

interface GatewayInstancesTable {
  id: string;
  started_at: number;
  last_seen: number;
  /** The id of its secrets key (migration 0014); null until it records it. */
  key_id: string | null;
  /** The id of the other key it opens with during a key roll (migration 0015); null when it holds one. */
  previous_key_id: string | null;
}

interface RevocationAcksTable {
  ref: string;
  instance: string;
  acked_at: number;
}

interface ApprovalsTable {
  id: string;
  tenant: string;
  requester_key: string;
  status: string;
  created_at: number;
  expires_at: number;
  body: string;
}

interface GatewayKeysTable {
  name: string;
  value: string;
}

interface UpstreamTokensTable {
  server: string;
  tenant: string;
  sealed: string;
  updated_at: number;
}

/** The embedded `local:` secret store when the store is PostgreSQL (migration 0015): one sealed row per name. */
interface LocalSecretsTable {
  name: string;
  /** `seal` (util/seal.ts) of the value under the secrets key, bound to `name`. */
  sealed: string;
  /** The id of the key it is sealed under (local-store.ts keyId). */
  key_id: string;
  updated_at: number;
}

interface OauthPendingTable {
  state: string;
  server: string;
  tenant: string;
  sealed_verifier: string;
  created_at: number;
}

interface PrincipalRevocationsTable {
  kind: string;
  value: string;
  issuer: string;
  reason: string;
  revoked_by: string;
  revoked_at: number;
}

export interface DualControlTable {
  id: string;
  action: string;
  params: string;
  requested_by: string;
  requested_at: number;
  expires_at: number;
  status: string;
  confirmed_by: string | null;
  confirmed_at: number | null;
}

export interface IncidentsTable {
  id: string;
  title: string;
  scope_kind: string;
  scope_value: string;
  tenant: string | null;
  reason: string;
  status: string;
  opened_by: string;
  opened_at: number;
  window_start: number;
  closed_by: string | null;
  closed_at: number | null;
}

interface IncidentActionsTable {
  seq: Generated<number>;
  incident_id: string;
  at: number;
  actor: string;
  action: string;
  detail: string;
}

interface ConsoleSignoutsTable {
  sid: string;
  until: number;
}

interface ApplyAcksTable {
  key: string;
  instance: string;
  version: number;
  acked_at: number;
}

export interface Database {
  incidents: IncidentsTable;
  incident_actions: IncidentActionsTable;
  apply_acks: ApplyAcksTable;
  console_signouts: ConsoleSignoutsTable;
  principal_revocations: PrincipalRevocationsTable;
  dual_control: DualControlTable;
  upstream_tokens: UpstreamTokensTable;
  local_secrets: LocalSecretsTable;
  oauth_pending: OauthPendingTable;
  approvals: ApprovalsTable;
  gateway_keys: GatewayKeysTable;
  credential_revocations: CredentialRevocationsTable;
  gateway_instances: GatewayInstancesTable;
  revocation_acks: RevocationAcksTable;
  modes: ModesTable;
  audit_events: AuditEventsTable;
  audit_open_intents: AuditOpenIntentsTable;
  audit_checkpoints: AuditCheckpointsTable;
  audit_cursors: AuditCursorsTable;
  api_keys: ApiKeysTable;
  sessions: SessionsTable;
  upstream_verdicts: UpstreamVerdictsTable;
  inventory_servers: InventoryServersTable;
  inventory_tools: InventoryToolsTable;
  inventory_events: InventoryEventsTable;
  inventory_snapshots: InventorySnapshotsTable;
}
