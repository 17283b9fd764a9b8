/**
 * JSON-RPC as end-to-end tests send it over HTTP (both eras' headers, a 2026-07-28 call) and read
 * its answers. The wire is untyped: these types name the fields
 * the tests look at, with `result` and `error` both present as far as the compiler knows. A test
 * that reads a field the answer does not have fails right there, which is what it should do; a
 * test that must not assume one checks with `?.`.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

interface Content {
  type: string;
  text: string;
  [key: string]: unknown;
}

export interface InputRequest {
  method: string;
  params: {
    mode?: string;
    message?: string;
    url: string;
    elicitationId: string;
    requestedSchema?: unknown;
    [key: string]: unknown;
  };
}

interface Tool {
  name: string;
  title?: string;
  description?: string;
  inputSchema?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
  _meta?: Record<string, unknown>;
  [key: string]: unknown;
}

/** What a result may hold, by method: tools/call, tools/list, initialize, a request for input. */
interface Result {
  content: Content[];
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  resultType?: string;
  inputRequests: Record<string, InputRequest>;
  requestState: string;
  tools: Tool[];
  nextCursor?: string;
  protocolVersion: string;
  completion: { values: string[]; total?: number; hasMore?: boolean };
  contents: Array<{ uri: string; text: string; mimeType?: string }>;
  resources: Array<{ uri: string; name?: string }>;
  resourceTemplates: Array<{ uriTemplate: string; name?: string }>;
  prompts: Array<{ name: string; description?: string }>;
  serverInfo: { name: string; version: string };
  capabilities: Record<string, unknown>;
  _meta: Record<string, unknown>;
  [key: string]: unknown;
}

interface RpcError {
  code: number;
  message: string;
  data: { retryAfterMs: number; [key: string]: unknown };
}

export interface Reply {
  jsonrpc: '2.0';
  id?: string | number | null;
  method?: string;
  params?: Record<string, unknown>;
  result: Result;
  error: RpcError;
}

/** A JSON-RPC answer read from an HTTP response. */
export async function replyOf(r: Response): Promise<Reply> {
  return (await r.json()) as Reply;
}

/** The first request for input of a result (a call that waits for approval). */
export function firstInputRequest(r: Reply): InputRequest {
  return Object.values(r.result.inputRequests)[0];
}

/** The headers of a 2026-07-28 POST of `method` (and the tool or prompt `name` it targets). */
export function modernHeaders(method: string, name?: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': method,
    ...(name === undefined ? {} : { 'mcp-name': name }),
  };
}

/**
 * A fetch for an SDK client's transport that says when the client's GET stream was answered: the SDK
 * opens it after initialize, and a list_changed can reach the session only once the gateway answered it.
 */
export function getStreamWatch(): { fetch: typeof fetch; opened: Promise<void> } {
  let streamOpen: () => void = () => {};
  const opened = new Promise<void>((r) => {
    streamOpen = r;
  });
  const watching: typeof fetch = async (input, init) => {
    const r = await fetch(input, init);
    if ((init?.method ?? 'GET') === 'GET' && r.ok) streamOpen();
    return r;
  };
  return { fetch: watching, opened };
}

/** The `_meta` of a 2026-07-28 request: the protocol version and the client's capabilities. */
export function modernMeta(clientCapabilities: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': clientCapabilities,
  };
}

/** How a test's request is sent: as whom, with which JSON-RPC id, with which extra headers. */
export interface PostOptions {
  /** Sent as `authorization: Bearer <token>` (an API key or an access token); no credential when omitted. */
  token?: string;
  /** The JSON-RPC id; a fresh UUID when omitted. */
  id?: string | number;
  /** More headers, sent after the protocol's (so they may replace one). */
  headers?: Record<string, string>;
  /** Aborts the request (a stream the test closes). */
  signal?: AbortSignal;
}

function bearer(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

/**
 * POST a 2026-07-28 request of `method` to `base`/mcp. `params` are sent as given (with their own
 * `_meta`, see modernMeta); `name` is the target the Mcp-Name header names, for the methods that have one.
 */
export function postModern(
  base: string,
  method: string,
  params: Record<string, unknown>,
  opts: PostOptions & { name?: string } = {},
): Promise<Response> {
  return fetch(`${base}/mcp`, {
    method: 'POST',
    signal: opts.signal,
    headers: { ...modernHeaders(method, opts.name), ...bearer(opts.token), ...opts.headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: opts.id ?? randomUUID(), method, params }),
  });
}

/**
 * POST a 2026-07-28 tools/call of `name` with `args` to `base`/mcp: its `_meta` is modernMeta of
 * `capabilities`; `extra` params follow it (a `requestState`, or a `_meta` of the test's own).
 */
export function postModernCall(
  base: string,
  name: string,
  args: Record<string, unknown>,
  opts: PostOptions & { capabilities?: Record<string, unknown>; extra?: Record<string, unknown> } = {},
): Promise<Response> {
  const params = { name, arguments: args, _meta: modernMeta(opts.capabilities), ...opts.extra };
  return postModern(base, 'tools/call', params, { ...opts, name });
}

/** The client capabilities of a caller that can send its user to a page: a call waiting for approval asks this way. */
export const URL_ELICITATION = { elicitation: { url: {} } };

/** The headers of a 2025-11-25 POST: in session `sid` (with the era's protocol version header) when given. */
function legacyHeaders(sid?: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    ...(sid === undefined ? {} : { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' }),
  };
}

/** A 2025-11-25 initialize request of a client named `client`: id 1 and no capabilities unless given. */
export function initializeRequest(
  client: string,
  opts: { id?: number; capabilities?: Record<string, unknown> } = {},
): Record<string, unknown> {
  return {
    jsonrpc: '2.0',
    id: opts.id ?? 1,
    method: 'initialize',
    params: {
      protocolVersion: '2025-11-25',
      capabilities: opts.capabilities ?? {},
      clientInfo: { name: client, version: '1' },
    },
  };
}

export interface LegacyPostOptions {
  /** The session to post in; none (an initialize) when omitted. */
  sid?: string;
  /** Sent as `authorization: Bearer <token>`; no credential when omitted. */
  token?: string;
  /** More headers, sent after the era's (so they may replace one). */
  headers?: Record<string, string>;
  /** The endpoint's path: /mcp unless given (a server's own, /servers/<name>/mcp). */
  path?: string;
  /** Aborts the request. */
  signal?: AbortSignal;
}

/** POST the JSON-RPC `message` to `base` as a 2025-11-25 client. */
export function postLegacy(base: string, message: unknown, opts: LegacyPostOptions = {}): Promise<Response> {
  return fetch(`${base}${opts.path ?? '/mcp'}`, {
    method: 'POST',
    signal: opts.signal,
    headers: { ...legacyHeaders(opts.sid), ...bearer(opts.token), ...opts.headers },
    body: JSON.stringify(message),
  });
}
/**
 * A legacy session opened on `base` by a client named `client`: the initialize must answer 200 (the
 * test fails with the answer otherwise); with `initialized`, the notification follows. The session id.
 */
export async function openLegacySession(
  base: string,
  client: string,
  opts: Omit<LegacyPostOptions, 'sid'> & { id?: number; initialized?: boolean } = {},
): Promise<string> {
  const r = await postLegacy(base, initializeRequest(client, { id: opts.id }), opts);
  const text = await r.text();
  assert.equal(r.status, 200, text);
  const sid = r.headers.get('mcp-session-id')!;
  if (opts.initialized)
    await (await postLegacy(base, { jsonrpc: '2.0', method: 'notifications/initialized' }, { ...opts, sid })).text();
  return sid;
}
