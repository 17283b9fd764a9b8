/**
 * The legacy (2025-11-25) era's session-bound handling: `initialize` creates a session, every later
 * message must name it (same principal, same endpoint) and its negotiated version, a client's answer
 * to a question the gateway asked goes to that session, and DELETE ends it.
 */
import type { SseAnswer } from './guards.ts';
import type { ServerResponse } from 'node:http';
import { GatehouseError, quote } from '../protocol/errors.ts';
import { success, type Classified, type JsonObject, type JsonRpcRequest } from '../protocol/jsonrpc.ts';
import { SUPPORTED_VERSIONS, isSupportedVersion } from '../protocol/era.ts';
import { KNOWN_METHODS, initializeResult, readInitialize } from '../pipeline/dispatch.ts';
import type { Principal } from '../identity/principal.ts';
import type { RequestHold } from '../util/request-budget.ts';
import { checkSessionVersion } from './mcp-headers.ts';
import { answer, makeContext, onLegacyNotification } from './mcp-answer.ts';
import type { Call, Caller, EndpointDeps } from './mcp-types.ts';

/** A legacy (2025-11-25) message: `initialize`, or one bound to the session it negotiated. */
export async function handleLegacy(
  res: ServerResponse,
  c: Call,
  caller: Caller,
  o: { versionHeader: string | undefined; sse: SseAnswer; body: RequestHold },
  deps: EndpointDeps,
): Promise<void> {
  const { method, params } = c.msg;
  const { versionHeader } = o;
  if (versionHeader !== undefined && !isSupportedVersion(versionHeader)) {
    throw new GatehouseError('E_PROTOCOL_VERSION', `unsupported protocol version ${quote(versionHeader)}`, {
      supported: SUPPORTED_VERSIONS,
      requested: versionHeader,
    });
  }
  if (method === 'initialize') {
    if (c.kind !== 'request')
      throw new GatehouseError('E_INVALID_REQUEST', 'invalid request: initialize must be a request');
    return await initialize(res, c.msg, caller.scope, caller.principal, deps);
  }
  if (!caller.sessionId)
    throw new GatehouseError(
      'E_SESSION_REQUIRED',
      'mcp-session-id header required (or send the 2026-07-28 `_meta` fields)',
    );
  const session = await deps.sessions.get(caller.sessionId, caller.principal.key, caller.scope);
  checkSessionVersion(session, versionHeader);
  const sessionHeaders = { 'mcp-session-id': session.id };
  if (c.kind === 'notification') {
    onLegacyNotification(session, method, params, deps.credentials.scrubber);
    res.writeHead(202, sessionHeaders).end();
    return;
  }
  deps.metrics.recordRequest(method, KNOWN_METHODS.has(method), 'legacy');
  const ctx = makeContext(
    res,
    c.msg,
    caller.scope,
    caller.principal,
    'legacy',
    session.record.protocolVersion,
    (params?._meta ?? {}) as JsonObject,
    session,
  );
  return await answer(res, ctx, method, params, o.sse, deps, sessionHeaders, o.body);
}

/**
 * A legacy client answering one of our server->client requests: handed to the session that asked,
 * on this replica or (over Redis) on the one whose question it is, once the caller is known to own
 * the session.
 */
export async function takeClientAnswer(
  res: ServerResponse,
  c: Extract<Classified, { kind: 'response' }>,
  caller: Caller,
  deps: EndpointDeps,
): Promise<void> {
  if (!caller.sessionId) throw new GatehouseError('E_SESSION_REQUIRED');
  const s = await deps.sessions.get(caller.sessionId, caller.principal.key, caller.scope);
  const reply = 'error' in c.msg ? { error: c.msg.error } : { result: c.msg.result };
  if (c.msg.id !== null) await deps.sessions.answer(s, c.msg.id, reply);
  res.writeHead(202).end();
}

/** `initialize`: a new session for this caller and endpoint, its id in the answer's Mcp-Session-Id. */
async function initialize(
  res: ServerResponse,
  msg: JsonRpcRequest,
  scope: string,
  principal: Principal,
  deps: EndpointDeps,
): Promise<void> {
  const init = readInitialize(msg.params);
  // What it declares depends on the servers' capabilities (tasks): known once they are catalogued (bounded).
  await deps.catalogued?.();
  const session = await deps.sessions.create({ scope, ...init, principal: principal.key, tenant: principal.tenant });
  deps.metrics.sessions.set(deps.sessions.size);
  const body = JSON.stringify(success(msg.id, initializeResult(deps, scope, init.protocolVersion)));
  res.writeHead(200, {
    'content-type': 'application/json',
    'mcp-session-id': session.id,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** DELETE ends the caller's own legacy session. */
export async function deleteSession(res: ServerResponse, caller: Caller, deps: EndpointDeps): Promise<void> {
  if (!caller.sessionId) throw new GatehouseError('E_METHOD_NOT_ALLOWED');
  const s = await deps.sessions.get(caller.sessionId, caller.principal.key, caller.scope);
  await deps.sessions.delete(s);
  res.writeHead(204).end();
}
