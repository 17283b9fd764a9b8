/** What the admin API (./admin.ts and ./admin-incidents.ts) is given by the gateway. */
import type { AuditInput } from '../audit/log.ts';
import type { Config } from '../config/schema.ts';
import type { Authenticator } from '../identity/authenticator.ts';
import type { FanoutMessage } from '../sessions/fanout.ts';
import type { Store } from '../storage/types.ts';

export interface AdminDeps {
  config: Config;
  store: Store;
  identity: Authenticator;
  /** Append to this gateway's audit stream. */
  record: (input: AuditInput) => Promise<unknown>;
  /** This process's audit stream (still being written: not expected to be closed). */
  auditStream: string;
  /**
   * Tells of a change this gateway just made to the store (modes, principal revocations): in force
   * here before it resolves, with or without Redis; on the other gateways through the fan-out (Redis),
   * else from the store within a second. Whether the fan-out took it.
   */
  announce: (msg: FanoutMessage) => Promise<boolean>;
}
