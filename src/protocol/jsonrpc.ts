/** JSON-RPC 2.0 message shapes and classification. */

export type JsonObject = { [k: string]: unknown };
export type RequestId = string | number;

/**
 * One string per JSON-RPC id, for maps and comparisons: a string id and a number id never meet, and
 * an ExactNumberId is its digits as written (a double would merge ids above 2^53).
 */
export function idKey(id: unknown): string {
  return typeof id === 'string' ? `s:${id}` : `n:${String(id)}`;
}

/**
 * A JSON-RPC number id that a double cannot hold exactly (above 2^53, or written `1.0`, `1e3`):
 * the original digits, written back verbatim by JSON.stringify (JSON.rawJSON) and by String().
 * At run time it stands where a RequestId number would (strict-json.ts makes it; nothing else does).
 * A request's id is one only when written in digits (isId: `1.0` and `1e3` are refused there).
 */
export class ExactNumberId {
  readonly raw: string;
  constructor(raw: string) {
    this.raw = raw;
  }
  toJSON(): unknown {
    return (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON(this.raw);
  }
  toString(): string {
    return this.raw;
  }
}

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: RequestId;
  method: string;
  params?: JsonObject;
}
export interface JsonRpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: JsonObject;
}
export interface JsonRpcSuccess {
  jsonrpc: '2.0';
  id: RequestId;
  result: JsonObject;
}
export interface JsonRpcFailure {
  jsonrpc: '2.0';
  id: RequestId | null;
  error: { code: number; message: string; data?: unknown };
}
export type JsonRpcResponse = JsonRpcSuccess | JsonRpcFailure;
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

export type Classified =
  | { kind: 'request'; msg: JsonRpcRequest }
  | { kind: 'notification'; msg: JsonRpcNotification }
  | { kind: 'response'; msg: JsonRpcResponse }
  | { kind: 'invalid'; reason: string; id: RequestId | null };

/** An integer written as digits, as JSON-RPC ids are (an ExactNumberId's digits as sent, or a number's). */
const INTEGER = /^-?\d+$/;

/**
 * MCP: an id is a string or an integer. A number id must be written as digits: `1.5` and `-1e-400`
 * are no integer, and `1.0`, `1e3` or `1e400` are an integer written so that each reader holds a
 * different value (the gateway its text, a JSON parser a double: `1e3` and `1000` one id to an
 * upstream, two to the gateway, and `1e400` infinity).
 */
function isId(v: unknown): v is RequestId {
  if (typeof v === 'string') return true;
  if (typeof v === 'number') return Number.isInteger(v) && INTEGER.test(String(v));
  return v instanceof ExactNumberId && INTEGER.test(v.raw);
}

/** What is wrong with a request's id that is no JSON-RPC id (a short view of a number, never all of it). */
function idProblem(v: unknown): string {
  if (typeof v !== 'number' && !(v instanceof ExactNumberId)) return 'id must be a string or an integer';
  const raw = String(v);
  const shown = raw.length > 40 ? `${raw.slice(0, 37)}...` : raw;
  return `id must be a string or an integer written in digits, not \`${shown}\``;
}

function isPlainObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const MAX_ID_LENGTH = 1024;

/** Classify a parsed value as a JSON-RPC message, strictly. */
export function classify(v: unknown): Classified {
  if (!isPlainObject(v)) return { kind: 'invalid', reason: 'message must be a json object', id: null };
  const id = isId(v.id) ? v.id : null;
  if (v.jsonrpc !== '2.0') return { kind: 'invalid', reason: 'jsonrpc must be "2.0"', id };
  if ('method' in v) {
    if (typeof v.method !== 'string' || v.method.length === 0 || v.method.length > 256) {
      return { kind: 'invalid', reason: 'method must be a non-empty string', id };
    }
    if ('params' in v && v.params !== undefined && !isPlainObject(v.params)) {
      return { kind: 'invalid', reason: 'params must be an object', id };
    }
    if ('id' in v) {
      // An id is echoed, traced and recorded with every record of the call: a name, not a payload.
      if ((typeof v.id === 'string' || v.id instanceof ExactNumberId) && String(v.id).length > MAX_ID_LENGTH)
        return { kind: 'invalid', reason: `id must be at most ${MAX_ID_LENGTH} characters`, id: null };
      if (!isId(v.id)) return { kind: 'invalid', reason: idProblem(v.id), id: null };
      return { kind: 'request', msg: v as unknown as JsonRpcRequest };
    }
    return { kind: 'notification', msg: v as unknown as JsonRpcNotification };
  }
  if ('result' in v || 'error' in v) {
    if (!('id' in v) || (v.id !== null && !isId(v.id)))
      return { kind: 'invalid', reason: 'response id is missing', id: null };
    if ('result' in v && !isPlainObject(v.result)) return { kind: 'invalid', reason: 'result must be an object', id };
    if ('error' in v) {
      const e = v.error;
      if (!isPlainObject(e) || typeof e.code !== 'number' || typeof e.message !== 'string') {
        return { kind: 'invalid', reason: 'error must have a numeric code and a message', id };
      }
    }
    return { kind: 'response', msg: v as unknown as JsonRpcResponse };
  }
  return { kind: 'invalid', reason: 'not a request, notification or response', id };
}

export function success(id: RequestId, result: JsonObject): JsonRpcSuccess {
  return { jsonrpc: '2.0', id, result };
}

export function failure(id: RequestId | null, code: number, message: string, data?: unknown): JsonRpcFailure {
  const error: JsonRpcFailure['error'] = { code, message };
  if (data !== undefined) error.data = data;
  return { jsonrpc: '2.0', id, error };
}
