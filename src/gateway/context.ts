/** What the gateway knows about one downstream request while it handles it. */
import type { JsonObject, JsonRpcNotification, RequestId } from '../protocol/jsonrpc.ts';
import type { ServerRequestAnswer } from '../upstream/types.ts';
import type { LiveSession } from '../sessions/sessions.ts';

/** The way back to the caller while its request is in flight. */
export interface Outlet {
  /** A request-scoped notification (progress, log message) for the caller. */
  notify(n: JsonRpcNotification): void;
  /** Ask the caller a server->client question (legacy sessions only); undefined when impossible. */
  ask?: (method: string, params: JsonObject, signal: AbortSignal) => Promise<ServerRequestAnswer>;
}

/**
 * Who is calling, from the verified credential only (a JWT access token, an introspection answer, or
 * an API key) — never from headers, `_meta`, `clientInfo` or arguments. Every stage takes it from here.
 */
export interface Principal {
  subject: string;
  tenant: string;
  /** The OAuth client (or the API key's name). */
  client: string;
  roles: string[];
  scopes: string[];
  authenticated: boolean;
  via: 'anonymous' | 'local' | 'jwt' | 'introspection' | 'api-key';
  /** Who vouched for it: the token issuer, `gatehouse` for API keys, '' when anonymous. */
  issuer: string;
  /** Stable identity for ownership (sessions): issuer, subject and tenant together. */
  key: string;
}

/** The key a principal's sessions (and later approvals) belong to. */
export function principalKey(p: Pick<Principal, 'via' | 'issuer' | 'subject' | 'tenant'>): string {
  return JSON.stringify([p.via === 'introspection' ? 'jwt' : p.via, p.issuer, p.subject, p.tenant]);
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
  outlet: Outlet;
  signal: AbortSignal;
  /**
   * Lowest log level the caller wants relayed. Modern callers set it per request in `_meta` (no field:
   * no log messages at all); legacy callers with logging/setLevel (unset: everything).
   */
  logLevel?: string;
  /** The caller's progress token, when it asked for progress. */
  progressToken?: string | number;
}
