/**
 * How MCP messages meet HTTP on an upstream channel: the headers of one outgoing message (the
 * 2026-07-28 request metadata when its `_meta` declares a version, with values encoded where a header
 * cannot carry them, else the legacy session id and negotiated version), a response's media type, and
 * the JSON-RPC response to deliver for a request from an HTTP answer that was not an SSE stream.
 */
import { declaredVersion } from '../protocol/era.ts';
import {
  classify,
  type JsonObject,
  type JsonRpcMessage,
  type JsonRpcResponse,
  type RequestId,
} from '../protocol/jsonrpc.ts';

export const INVALID = 'upstream sent an invalid response';

export interface LegacyState {
  sessionId?: string;
  version?: string;
}

/** Header-safe value, or the `=?base64?…?=` sentinel form (2026-07-28 value encoding). */
export function encodeHeaderValue(v: string): string {
  const plain = /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(v) && !(v.startsWith('=?base64?') && v.endsWith('?='));
  return plain ? v : `=?base64?${Buffer.from(v, 'utf8').toString('base64')}?=`;
}

function nameField(method: string): 'name' | 'uri' | undefined {
  if (method === 'tools/call' || method === 'prompts/get') return 'name';
  return method === 'resources/read' ? 'uri' : undefined;
}

/**
 * Adds the MCP headers for one outgoing message to `into`: the 2026-07-28 request metadata when the
 * message's `_meta` declares a version (then `extra` Mcp-Param-* values too, encoded), else the
 * legacy session id and negotiated version.
 */
export function protocolHeaders(
  msg: JsonRpcMessage,
  legacy: LegacyState,
  extra?: Record<string, string>,
  into: Record<string, string> = {},
): Record<string, string> {
  const version = 'method' in msg ? declaredVersion(msg.params) : undefined;
  if (version !== undefined && 'method' in msg) {
    into['mcp-protocol-version'] = version;
    into['mcp-method'] = msg.method;
    const field = nameField(msg.method);
    const name = field && msg.params?.[field];
    if (typeof name === 'string') into['mcp-name'] = encodeHeaderValue(name);
    if (extra) for (const k of Object.keys(extra)) into[k.toLowerCase()] = encodeHeaderValue(extra[k]);
    return into;
  }
  return legacyHeaders(legacy, into);
}

export function legacyHeaders(legacy: LegacyState, into: Record<string, string>): Record<string, string> {
  if (legacy.sessionId !== undefined) into['mcp-session-id'] = legacy.sessionId;
  if (legacy.version !== undefined) into['mcp-protocol-version'] = legacy.version;
  return into;
}

export function synth(id: RequestId, message: string, data?: JsonObject): JsonRpcResponse {
  return { jsonrpc: '2.0', id, error: data ? { code: -32603, message, data } : { code: -32603, message } };
}

function rpcError(body: unknown): { code: number; message: string; data?: unknown } | undefined {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const b = body as JsonObject;
  const e = b.error as JsonObject | undefined;
  if (
    b.jsonrpc !== '2.0' ||
    'method' in b ||
    !e ||
    typeof e !== 'object' ||
    typeof e.code !== 'number' ||
    typeof e.message !== 'string'
  )
    return undefined;
  return e as { code: number; message: string; data?: unknown };
}

/**
 * The response to deliver for request `id` from an HTTP answer that was not an SSE stream. A 2xx
 * JSON body must be this request's response. On an HTTP error status, a JSON-RPC error with this id
 * or none is passed on (with `data.httpStatus` when it has no data); anything else becomes -32603
 * with `data.httpStatus`, which the era probe relies on.
 */
export function answerFor(id: RequestId, status: number, isJson: boolean, body: unknown): JsonRpcResponse {
  if (status < 300) {
    const c = classify(body);
    return isJson && c.kind === 'response' && c.msg.id === id ? c.msg : synth(id, INVALID);
  }
  const err = rpcError(body);
  const bodyId = (body as { id?: unknown } | undefined)?.id;
  if (err && (bodyId === id || bodyId === null || bodyId === undefined)) {
    return { jsonrpc: '2.0', id, error: err.data === undefined ? { ...err, data: { httpStatus: status } } : err };
  }
  return synth(id, `upstream http ${status}`, { httpStatus: status });
}

/** The media type of a Content-Type header, lowercased, without parameters. */
export function mediaType(h: string | string[] | undefined): string {
  if (typeof h !== 'string') return '';
  const semi = h.indexOf(';');
  return (semi < 0 ? h : h.slice(0, semi)).trim().toLowerCase();
}
