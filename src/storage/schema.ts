/** Table shapes as kysely sees them (see migrations.ts). Timestamps are epoch milliseconds; JSON is stored as text. */
export interface SessionsTable {
  id: string;
  scope: string;
  protocol_version: string;
  client_info: string;
  client_capabilities: string;
  principal: string | null;
  created_at: number;
  last_seen_at: number;
}

export interface UpstreamVerdictsTable {
  server: string;
  fingerprint: string;
  era: string;
  protocol_version: string;
  probed_at: number;
}

export interface Database {
  sessions: SessionsTable;
  upstream_verdicts: UpstreamVerdictsTable;
}
