/** What the rest of the gateway sees of an upstream MCP server connection. */
import type { GatehouseError } from '../protocol/errors.ts';
import type {
  JsonObject,
  JsonRpcMessage,
  JsonRpcNotification,
  JsonRpcRequest,
  RequestId,
} from '../protocol/jsonrpc.ts';

export type Era = 'modern' | 'legacy';

/** A server->client request's answer: a result object, or a JSON-RPC error. */
export type ServerRequestAnswer = { result: JsonObject } | { error: { code: number; message: string; data?: unknown } };

export interface CallOptions {
  /** Inactivity limit; each progress notification restarts it. */
  timeoutMs: number;
  /** Hard limit, whatever progress arrives. */
  maxTotalMs: number;
  signal?: AbortSignal;
  /**
   * Modern upstreams: the client capabilities to declare in this request's `_meta` — the caller's,
   * since the caller answers any input request. Default: what the gateway itself can answer.
   */
  clientCapabilities?: JsonObject;
  /** Extra HTTP headers for this request (HTTP upstreams only), e.g. Mcp-Param-* mirrors. */
  headers?: Record<string, string>;
  /** Request-scoped notifications (progress for this request's token, messages on its stream). */
  onNotification?: (n: JsonRpcNotification) => void;
  /** Server->client requests made on behalf of this request (legacy era: sampling, elicitation, roots). */
  onServerRequest?: (r: JsonRpcRequest) => Promise<ServerRequestAnswer>;
  /** The caller can be asked questions (it declared sampling, elicitation or roots): see ask-lane.ts. */
  askable?: boolean;
  /**
   * Run when a request that waited for its turn in the ask lane gets it, before it is sent: a
   * rejection sends nothing and fails the request (the caller's request is checked again on the
   * settings in force then: pipeline/stages/recheck.ts).
   */
  beforeSend?: () => Promise<void>;
}

/**
 * A transport-level message channel to one upstream. The JSON-RPC peer (peer.ts) does correlation;
 * a channel only moves messages. `relatedTo` tells the peer which of its requests a received message
 * belongs to, when the transport knows (an HTTP response stream); stdio never knows.
 */
export interface Channel {
  send(msg: JsonRpcMessage, signal?: AbortSignal, headers?: Record<string, string>): Promise<void>;
  /** Cancel an in-flight request at transport level (HTTP: close its stream). Returns false if unsupported. */
  cancel?(id: RequestId): boolean;
  setReceiver(r: {
    message(msg: unknown, relatedTo?: RequestId): void;
    closed(err?: Error): void;
    /** The answer to request `id` was refused before it was parsed (too large, over the byte budget): `err` is its caller's. */
    failed?(id: RequestId, err: GatehouseError): void;
  }): void;
  close(): Promise<void>;
  /** For diagnostics only (never sent to callers). */
  readonly description: string;
}

export interface ServerIdentity {
  era: Era;
  protocolVersion: string;
  serverInfo: JsonObject;
  capabilities: JsonObject;
  instructions?: string;
}
