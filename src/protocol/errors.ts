/**
 * The one error catalogue. Every refusal Gatehouse makes has a stable string code here, with the
 * JSON-RPC code and HTTP status it maps to. `toWire` in ./wire.ts is the only place errors become
 * responses. Messages are short, lowercase, no final period; user input goes in backticks.
 * Internal failures map to -32603 and never carry details onto the wire.
 */
import type { JsonObject } from './jsonrpc.ts';
import { identifier } from '../util/marks.ts';

const RPC = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  /** 2026-07-28: HTTP headers do not match the body. */
  HEADER_MISMATCH: -32020,
  /** 2026-07-28: a capability the server needs from the client is missing. */
  MISSING_CLIENT_CAPABILITY: -32021,
  /** 2026-07-28: unsupported protocol version (data.supported lists ours). */
  UNSUPPORTED_PROTOCOL_VERSION: -32022,
  /**
   * 2025-11-25's URLElicitationRequiredError: the request needs the URL elicitations in `data.elicitations`
   * first (2026-07-28 has no such code: its callers get `input_required`).
   */
  URL_ELICITATION_REQUIRED: -32042,
  /** Implementation-defined range (-32000..-32019): Gatehouse refusals. */
  GATEWAY_REFUSED: -32001,
  UPSTREAM_UNAVAILABLE: -32002,
} as const;

interface Entry {
  rpc: number;
  http: number;
  /** Default message; callers may give a more specific one. */
  message: string;
}

const CATALOGUE = {
  E_PARSE: { rpc: RPC.PARSE_ERROR, http: 400, message: 'parse error: body is not valid json' },
  E_DUPLICATE_KEY: { rpc: RPC.PARSE_ERROR, http: 400, message: 'parse error: duplicate object key' },
  E_TOO_DEEP: { rpc: RPC.PARSE_ERROR, http: 400, message: 'parse error: json nesting too deep' },
  /** A number JSON.parse would alter (src/protocol/exact-numbers.ts): refused, never passed on changed. */
  E_INEXACT_NUMBER: { rpc: RPC.PARSE_ERROR, http: 400, message: 'parse error: a number cannot be carried exactly' },
  E_BODY_TOO_LARGE: { rpc: RPC.INVALID_REQUEST, http: 413, message: 'request body too large' },
  /** The body did not arrive in time (a slow client holding a connection). */
  E_REQUEST_TIMEOUT: { rpc: RPC.INVALID_REQUEST, http: 408, message: 'request body not received in time' },
  /** The connection closed before the whole body came: nobody is left to answer, and nothing failed here. */
  E_CLIENT_GONE: {
    rpc: RPC.INVALID_REQUEST,
    http: 400,
    message: 'the client closed the connection before its request body arrived',
  },
  E_BATCH: { rpc: RPC.INVALID_REQUEST, http: 400, message: 'json-rpc batches are not supported' },
  E_INVALID_REQUEST: { rpc: RPC.INVALID_REQUEST, http: 400, message: 'invalid json-rpc request' },
  E_UNSUPPORTED_MEDIA: { rpc: RPC.INVALID_REQUEST, http: 415, message: 'content-type must be application/json' },
  E_NOT_ACCEPTABLE: {
    rpc: RPC.INVALID_REQUEST,
    http: 406,
    message: 'accept must include application/json or text/event-stream (clients send both)',
  },
  E_METHOD_NOT_ALLOWED: { rpc: RPC.INVALID_REQUEST, http: 405, message: 'method not allowed' },
  E_ORIGIN: { rpc: RPC.INVALID_REQUEST, http: 403, message: 'origin not allowed' },
  E_HOST: { rpc: RPC.INVALID_REQUEST, http: 403, message: 'host not allowed' },
  /** A header that must come once came more often (Node and a proxy in front would read different ones). */
  E_REPEATED_HEADER: { rpc: RPC.INVALID_REQUEST, http: 400, message: 'a header that must come once is repeated' },
  E_UNAUTHENTICATED: { rpc: RPC.INVALID_REQUEST, http: 401, message: 'authentication required' },
  /** The credential was presented and refused (expired, wrong audience, revoked, ...). */
  E_INVALID_TOKEN: { rpc: RPC.INVALID_REQUEST, http: 401, message: 'invalid token' },
  /** RFC 6750 invalid_request: e.g. a token in the query string. */
  E_INVALID_AUTH_REQUEST: { rpc: RPC.INVALID_REQUEST, http: 401, message: 'invalid authorization request' },
  E_INSUFFICIENT_SCOPE: { rpc: RPC.INVALID_REQUEST, http: 403, message: 'insufficient scope' },
  /** Authenticated, but not allowed here (the admin api without an admin role). */
  E_FORBIDDEN: { rpc: RPC.INVALID_REQUEST, http: 403, message: 'forbidden' },
  E_PROTOCOL_VERSION: { rpc: RPC.UNSUPPORTED_PROTOCOL_VERSION, http: 400, message: 'unsupported protocol version' },
  E_HEADER_MISMATCH: { rpc: RPC.HEADER_MISMATCH, http: 400, message: 'header mismatch' },
  E_MISSING_CAPABILITY: {
    rpc: RPC.MISSING_CLIENT_CAPABILITY,
    http: 400,
    message: 'missing required client capability',
  },
  /** 2026-07-28: the per-request `_meta` envelope is missing or malformed. */
  E_INVALID_META: { rpc: RPC.INVALID_PARAMS, http: 400, message: 'invalid params: missing or malformed `_meta`' },
  E_SESSION_REQUIRED: { rpc: RPC.INVALID_REQUEST, http: 400, message: 'mcp-session-id header required' },
  E_SESSION_NOT_FOUND: { rpc: RPC.INVALID_REQUEST, http: 404, message: 'session not found' },
  E_NOT_INITIALIZED: { rpc: RPC.INVALID_REQUEST, http: 400, message: 'session not initialized' },
  E_METHOD_NOT_FOUND: { rpc: RPC.METHOD_NOT_FOUND, http: 200, message: 'method not found' },
  E_INVALID_PARAMS: { rpc: RPC.INVALID_PARAMS, http: 200, message: 'invalid params' },
  /**
   * A tool's arguments do not match its input schema (`data.problems`: each path and what is wrong).
   * A tool execution error in MCP's terms: the caller gets a tool result with `isError: true`
   * (pipeline/argument-problems.ts); -32602 only where a result cannot be given (a task-augmented call).
   */
  E_INVALID_ARGUMENTS: {
    rpc: RPC.INVALID_PARAMS,
    http: 200,
    message: "invalid params: the arguments do not match the tool's input schema",
  },
  /** Unknown and forbidden tools look the same on purpose. */
  E_UNKNOWN_TOOL: { rpc: RPC.INVALID_PARAMS, http: 200, message: 'unknown tool' },
  /** The inventory holds the tool (or its server) back until an operator reviews it. */
  E_TOOL_QUARANTINED: { rpc: RPC.GATEWAY_REFUSED, http: 200, message: 'tool quarantined until an operator reviews it' },
  /** Fail closed: the write-ahead audit record could not be written. */
  E_AUDIT_UNAVAILABLE: {
    rpc: RPC.GATEWAY_REFUSED,
    http: 200,
    message: 'the audit trail cannot be written: the call was refused',
  },
  /**
   * The call ran (the upstream answered, or may have acted) and its outcome record could not be
   * written: the answer is withheld rather than sent unrecorded. The gateway keeps the outcome and
   * records it once the store takes records again (ADR 0006).
   */
  E_AUDIT_OUTCOME_UNRECORDED: {
    rpc: RPC.INTERNAL_ERROR,
    http: 200,
    message:
      'the call reached the upstream and may have taken effect, but its outcome could not be recorded in the audit trail, so its answer is withheld: check before repeating it',
  },
  E_POLICY_DENIED: { rpc: RPC.GATEWAY_REFUSED, http: 200, message: 'denied by policy' },
  /** An upstream's answer holds a number JSON.parse altered: the gateway refuses it rather than pass another number on. */
  E_INEXACT_RESULT: {
    rpc: RPC.GATEWAY_REFUSED,
    http: 200,
    message: 'the upstream answered with a number the gateway cannot carry exactly',
  },
  /** Policy asks for a human approval the gateway cannot collect for this call. */
  E_APPROVAL_REQUIRED: { rpc: RPC.GATEWAY_REFUSED, http: 200, message: 'this call needs an approval' },
  /**
   * A task-augmented call (2025-11-25 tasks) needs an approval, and its caller declared URL elicitation:
   * the approval page is in `data.elicitations` (it cannot be a task: nothing runs until it is approved).
   */
  E_URL_ELICITATION_REQUIRED: {
    rpc: RPC.URL_ELICITATION_REQUIRED,
    http: 200,
    message: 'this call needs a person to open a page first',
  },
  /** A task-augmented call in shadow mode: recorded as proposed and not run, so there is no task to return. */
  E_SHADOW: { rpc: RPC.GATEWAY_REFUSED, http: 200, message: 'shadow mode: the call was recorded and did not run' },
  /** A presented approval cannot be used for this call (not approved, used, expired, bound to another call). */
  E_APPROVAL_REFUSED: { rpc: RPC.GATEWAY_REFUSED, http: 200, message: 'the approval cannot be used for this call' },
  /** Decided again, on settings that changed while it waited (pipeline/stages/recheck.ts), the call would not run as it was to. */
  E_SETTINGS_CHANGED: {
    rpc: RPC.GATEWAY_REFUSED,
    http: 200,
    message: "the gateway's settings changed while the call waited: nothing ran",
  },
  E_RATE_LIMITED: { rpc: RPC.GATEWAY_REFUSED, http: 429, message: 'rate limited' },
  /** The upstream's credential is revoked, missing or its secrets manager unreachable: fail closed. */
  E_CREDENTIAL_UNAVAILABLE: {
    rpc: RPC.GATEWAY_REFUSED,
    http: 200,
    message: 'the upstream credentials are unavailable',
  },
  E_UNKNOWN_PROMPT: { rpc: RPC.INVALID_PARAMS, http: 200, message: 'unknown prompt' },
  E_UNKNOWN_RESOURCE: { rpc: RPC.INVALID_PARAMS, http: 200, message: 'unknown resource' },
  E_UNKNOWN_SERVER: { rpc: RPC.INVALID_REQUEST, http: 404, message: 'unknown server' },
  E_UNKNOWN_TASK: { rpc: RPC.INVALID_PARAMS, http: 200, message: 'unknown task' },
  E_INPUT_STATE: { rpc: RPC.INVALID_PARAMS, http: 200, message: 'invalid or expired request state' },
  /** The task lives in another replica's upstream connection, and no replica relay reaches it (no Redis, or away). */
  E_TASK_ELSEWHERE: { rpc: RPC.INTERNAL_ERROR, http: 200, message: 'this task is held by another gateway replica' },
  E_UPSTREAM_UNAVAILABLE: { rpc: RPC.INTERNAL_ERROR, http: 200, message: 'upstream unavailable' },
  E_UPSTREAM_TIMEOUT: { rpc: RPC.INTERNAL_ERROR, http: 200, message: 'upstream timed out' },
  E_UPSTREAM_FAILED: { rpc: RPC.INTERNAL_ERROR, http: 200, message: 'upstream failed' },
  E_UPSTREAM_PROTOCOL: { rpc: RPC.INTERNAL_ERROR, http: 200, message: 'upstream sent an invalid response' },
  /** Larger than the server's `messages.maxBytes`: refused unparsed (the upstream's failure: its breaker counts it). */
  E_UPSTREAM_TOO_LARGE: { rpc: RPC.INTERNAL_ERROR, http: 200, message: 'upstream response too large' },
  /**
   * The gateway already holds its budget of upstream bytes not yet parsed (`gateway.maxUpstreamBufferedBytes`):
   * the answer was refused unparsed. The gateway's condition, not this upstream's failure: no breaker counts it.
   */
  E_OVERLOADED: {
    rpc: RPC.INTERNAL_ERROR,
    http: 200,
    message: 'the gateway holds too much unread upstream data: the response was refused',
  },
  E_CANCELLED: { rpc: RPC.INTERNAL_ERROR, http: 200, message: 'request cancelled' },
  /**
   * Just started, the gateway has not yet learned every tenant's secrets that it looks for in what
   * goes upstream (credentials/known-secrets.ts), and did not within a few seconds: a request is not
   * sent unchecked; worth retrying.
   */
  E_SECRETS_NOT_LEARNED: {
    rpc: RPC.INTERNAL_ERROR,
    http: 503,
    message: 'the gateway is still learning the secrets it looks for in requests: retry shortly',
  },
  E_SHUTTING_DOWN: { rpc: RPC.INTERNAL_ERROR, http: 503, message: 'gateway shutting down' },
  /** Over `gateway.maxConnections` or `maxConnectionsPerAddress`: the connection is answered and closed before it is read. */
  E_TOO_MANY_CONNECTIONS: {
    rpc: RPC.INTERNAL_ERROR,
    http: 503,
    message: 'the gateway holds as many connections as it may: retry later',
  },
  /**
   * Over `gateway.maxBufferedRequestBytes` (or the caller's tenant's half of it): the body is refused
   * as it arrives, reading stops and the connection is closed; no id is known yet (null).
   */
  E_TOO_MANY_REQUEST_BYTES: {
    rpc: RPC.INTERNAL_ERROR,
    http: 503,
    message: 'the gateway holds as much request data as it may: retry later',
  },
  /**
   * The gateway's store did not answer (or failed) while the request needed it before anything else
   * (looking up an API key): the gateway's condition, not the caller's; worth retrying.
   */
  E_STORE_UNAVAILABLE: {
    rpc: RPC.INTERNAL_ERROR,
    http: 503,
    message: "the gateway's store is unavailable: try again shortly",
  },
  E_INTERNAL: { rpc: RPC.INTERNAL_ERROR, http: 500, message: 'internal error' },
} as const satisfies Record<string, Entry>;

export type ErrorCode = keyof typeof CATALOGUE;

/** Whether `v` names an error of the catalogue (one carried between replicas is checked so). */
export function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === 'string' && Object.hasOwn(CATALOGUE, v);
}

export function catalogueEntry(code: ErrorCode): Entry {
  return CATALOGUE[code];
}

/** A refusal or failure Gatehouse reports to its caller. `message` is safe to show. */
export class GatehouseError extends Error {
  readonly code: ErrorCode;
  readonly data: unknown;
  override readonly name = 'GatehouseError';
  /** `cause`: the gateway's own failure behind the refusal, for the log only (toWire), never the wire. */
  constructor(code: ErrorCode, message?: string, data?: unknown, cause?: unknown) {
    super(message ?? CATALOGUE[code].message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.data = data;
  }
  get rpc(): number {
    return CATALOGUE[this.code].rpc;
  }
  get http(): number {
    return CATALOGUE[this.code].http;
  }
}

/** A JSON-RPC error returned by an upstream server, passed through to the caller unchanged. */
/**
 * Codes 2026-07-28 introduced mean nothing to a 2025-11-25 caller: what it gets instead. A missing
 * client capability is an invalid request for this client (its data still names the capability);
 * a header mismatch or version refusal between the gateway and an upstream is the gateway's failure.
 */
const LEGACY_CODE_FOR: Record<number, number> = {
  [RPC.HEADER_MISMATCH]: RPC.INTERNAL_ERROR,
  [RPC.MISSING_CLIENT_CAPABILITY]: RPC.INVALID_REQUEST,
  [RPC.UNSUPPORTED_PROTOCOL_VERSION]: RPC.INTERNAL_ERROR,
};

/** The error as a 2025-11-25 caller may receive it: never a 2026-07-28-only code. */
export function forLegacyCaller(err: unknown): unknown {
  if (err instanceof UpstreamRpcError && Object.hasOwn(LEGACY_CODE_FOR, err.rpcCode)) {
    const code = LEGACY_CODE_FOR[err.rpcCode];
    return code === RPC.INTERNAL_ERROR
      ? new GatehouseError('E_UPSTREAM_PROTOCOL', "the upstream refused the gateway's request")
      : new UpstreamRpcError(code, err.message, err.data);
  }
  if (err instanceof GatehouseError && Object.hasOwn(LEGACY_CODE_FOR, err.rpc)) {
    return new UpstreamRpcError(LEGACY_CODE_FOR[err.rpc], err.message, err.data);
  }
  return err;
}

export class UpstreamRpcError extends Error {
  readonly rpcCode: number;
  readonly data: unknown;
  override readonly name = 'UpstreamRpcError';
  constructor(rpcCode: number, message: string, data?: unknown) {
    super(message);
    this.rpcCode = rpcCode;
    this.data = data;
  }
}

/**
 * The URL elicitations a -32042 error carries (`data.elicitations`, each an `ElicitRequestURLParams`),
 * or undefined when it is not one (another code, no such list).
 */
export function urlElicitationsOf(err: unknown): JsonObject[] | undefined {
  if (!(err instanceof UpstreamRpcError) || err.rpcCode !== RPC.URL_ELICITATION_REQUIRED) return undefined;
  const data = err.data as { elicitations?: unknown } | null | undefined;
  const list = data && typeof data === 'object' ? data.elicitations : undefined;
  return Array.isArray(list) && list.length > 0 && list.every(isObject) ? list : undefined;
}

const isObject = (v: unknown): v is JsonObject => !!v && typeof v === 'object' && !Array.isArray(v);

/**
 * Quote user input for messages: backticks, bounded, and marked as every name shown to a person is
 * (`identifier`, src/util/marks.ts): each character outside printable ASCII with its code point, so
 * a tool named `dе⟨U+0435⟩lete_repo` (Cyrillic е) never reads as `delete_repo`, and controls, bidi
 * overrides, zero-width characters and combining marks show as `⟨U+202E⟩` rather than act.
 */
export function quote(value: unknown, max = 80): string {
  const s = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  if (s.length <= max) return `\`${identifier(s)}\``;
  // Cut between code points: half a surrogate pair would show as a character that was never sent.
  const cut = /[\ud800-\udbff]$/.test(s.slice(0, max)) ? max - 1 : max;
  return `\`${identifier(s.slice(0, cut))}…\``;
}
