/**
 * What the modules of the MCP endpoint share: the gateway's parts it answers with (`EndpointDeps`),
 * who is calling (`Caller`), and the message being answered (`Call`).
 */
import type { Classified } from '../protocol/jsonrpc.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { DispatchDeps } from '../pipeline/dispatch.ts';
import type { Principal } from '../identity/principal.ts';
import type { Sessions } from '../sessions/sessions.ts';
import type { RequestBudget } from '../util/request-budget.ts';
import type { Subscriptions } from './subscriptions.ts';

export interface EndpointDeps extends DispatchDeps {
  sessions: Sessions;
  subscriptions: Subscriptions;
  metrics: Metrics;
  log: Logger;
  hosts: Set<string>;
  origins: Set<string>;
  maxBodyBytes: number;
  /** Request bytes held, all tenants together (kept across reloads): bodies are read against their tenant's share. */
  requestBytes: RequestBudget;
  maxJsonDepth: number;
  /** How long a request body may take to arrive (default BODY_TIMEOUT_MS, mcp-endpoint.ts). */
  bodyTimeoutMs?: number;
}

/** Who is calling which endpoint, with the session the request names (if any). */
export interface Caller {
  scope: string;
  principal: Principal;
  sessionId: string | undefined;
}

/** A request or a notification: what is dispatched (a response answers a question the gateway asked). */
export type Call = Extract<Classified, { kind: 'request' | 'notification' }>;
