/**
 * JSON-RPC answers as end-to-end tests read them. The wire is untyped: these types name the fields
 * the tests look at, with `result` and `error` both present as far as the compiler knows. A test
 * that reads a field the answer does not have fails right there, which is what it should do; a
 * test that must not assume one checks with `?.`.
 */
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
