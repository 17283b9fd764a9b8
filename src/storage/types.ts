/**
 * The storage contract. Every implementation (SQLite embedded default, PostgreSQL) passes the same
 * contract suite (src/storage/contract.test.ts). One module owns each table.
 */

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

export interface SessionStore {
  create(r: SessionRecord): Promise<void>;
  get(id: string): Promise<SessionRecord | undefined>;
  touch(id: string, at: number): Promise<void>;
  delete(id: string): Promise<boolean>;
  /** Delete sessions last seen before `before`; returns how many. */
  purgeIdle(before: number): Promise<number>;
}

export interface VerdictStore {
  get(server: string): Promise<UpstreamVerdict | undefined>;
  put(v: UpstreamVerdict): Promise<void>;
}

export interface Store {
  readonly driver: 'sqlite' | 'postgres';
  readonly sessions: SessionStore;
  readonly verdicts: VerdictStore;
  /** Cheap liveness query for /readyz; throws when the store is unusable. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
