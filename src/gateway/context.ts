/** What the gateway knows about one downstream request while it handles it. */
import type { JsonObject, JsonRpcNotification, RequestId } from '../protocol/jsonrpc.ts';
import type { ServerRequestAnswer } from '../upstream/types.ts';
import type { LiveSession } from '../sessions/sessions.ts';
import type { Principal } from '../identity/principal.ts';

/** The way back to the caller while its request is in flight. */
interface Outlet {
  /** A request-scoped notification (progress, log message) for the caller. */
  notify(n: JsonRpcNotification): void;
  /** Ask the caller a server->client question (legacy sessions only); undefined when impossible. */
  ask?: (method: string, params: JsonObject, signal: AbortSignal) => Promise<ServerRequestAnswer>;
}

/**
 * What holds a caller's resource subscriptions (keys `server\0uri`): a legacy session, or a 2026-07-28
 * `subscriptions/listen` stream that named `resourceSubscriptions` (src/listeners/listen-resources.ts).
 */
interface ResourceSubscriber {
  readonly subscriptions: Set<string>;
}

export interface RequestContext {
  era: 'modern' | 'legacy';
  protocolVersion: string;
  /** '' for the aggregate endpoint, or the server name for /servers/<name>/mcp. */
  scope: string;
  requestId: RequestId;
  /** Gateway-unique id for logs, metrics and (later) audit. */
  traceId: string;
  principal: Principal;
  clientCapabilities: JsonObject;
  clientInfo: JsonObject;
  session?: LiveSession;
  /** A listen stream's own resources/subscribe (and unsubscribe when it closes): where the subscription is kept. */
  subscriber?: ResourceSubscriber;
  outlet: Outlet;
  signal: AbortSignal;
  /**
   * Lowest log level the caller wants relayed. Modern callers set it per request in `_meta` (no field:
   * no log messages at all); legacy callers with logging/setLevel (unset: everything).
   */
  logLevel?: string;
  /** The caller's progress token, when it asked for progress. */
  progressToken?: string | number;
  /**
   * The token the gateway gave the upstream in the caller's place (forward.ts), once the request is
   * sent: a task the call creates keeps it (src/gateway/task-owners.ts).
   */
  upstreamProgressToken?: string;
}
