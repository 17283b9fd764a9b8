/**
 * The MCP Streamable HTTP endpoint, both eras on one URL (`/mcp`, and `/servers/<name>/mcp` for one
 * upstream under its own names). Order: host, origin, caller, media type, body cap, strict JSON,
 * no batches, message shape, protocol version, then era: a request carrying the 2026-07-28 `_meta`
 * (or `server/discover`) is modern and stateless with its Mcp-* headers checked against the body
 * (mcp-modern.ts); `initialize` and session-bound requests are legacy (2025-11-25, mcp-legacy.ts).
 * This module reads the request up to that decision and answers what is refused before dispatch;
 * answering a dispatched request is mcp-answer.ts, the GET stream mcp-streams.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatehouseError, quote } from '../protocol/errors.ts';
import { classify, type RequestId } from '../protocol/jsonrpc.ts';
import { declaredVersion, isModernVersion } from '../protocol/era.ts';
import { parseStrictJson } from '../protocol/strict-json.ts';
import { toWire } from '../protocol/wire.ts';
import type { Logger } from '../observability/logger.ts';
import type { Principal } from '../identity/principal.ts';
import { acceptsJsonAndSse, checkHost, checkMediaType, checkOrigin, clientGone, readBody } from './guards.ts';
import { header } from './mcp-headers.ts';
import { bodyBudget } from './request-bytes.ts';
import { seesServer } from '../pipeline/listings.ts';
import { deleteSession, handleLegacy, takeClientAnswer } from './mcp-legacy.ts';
import { handleModern } from './mcp-modern.ts';
import { openGetStream } from './mcp-streams.ts';
import type { Caller, EndpointDeps } from './mcp-types.ts';

export type { EndpointDeps } from './mcp-types.ts';

/** A body that has not fully arrived by then is refused (408) and the connection closed. */
const BODY_TIMEOUT_MS = 30_000;

/** Answered before dispatch: an error that is "200 + JSON-RPC error" inside a call is a 4xx here. */
function preDispatchStatus(wireStatus: number, rpcCode: number): number {
  if (wireStatus !== 200) return wireStatus;
  return rpcCode === -32601 ? 404 : 400;
}

function sendError(
  res: ServerResponse,
  err: unknown,
  id: RequestId | null,
  log: Logger,
  headers: Record<string, string> = {},
  sseOnly = false,
): void {
  const w = toWire(err, id, log);
  const status = preDispatchStatus(w.status, w.body.error.code);
  const json = JSON.stringify(w.body);
  if (res.headersSent) {
    res.end();
    return;
  }
  // A POST whose Accept takes only SSE gets its refusal as an event too, with the same status (walk CC).
  const [type, body] = sseOnly
    ? ['text/event-stream', `event: message\ndata: ${json}\n\n`]
    : ['application/json', json];
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** Whether `req` is a POST whose Accept takes text/event-stream and not JSON. */
function wantsSseOnly(req: IncomingMessage): boolean {
  return req.method === 'POST' && acceptsJsonAndSse(header(req, 'accept')).sse === 'only';
}

/** The id of the request being answered, once known, for the error response. */
interface Answering {
  id: RequestId | null;
}

export async function handleMcp(
  req: IncomingMessage,
  res: ServerResponse,
  scope: string,
  deps: EndpointDeps,
): Promise<void> {
  const answering: Answering = { id: null };
  try {
    checkHost(header(req, 'host'), deps.hosts);
    checkOrigin(header(req, 'origin'), deps.origins);
    // Who is calling, from the verified credential only; nothing below reads identity from anywhere else.
    const principal = await authenticated(req, res, deps, answering);
    if (scope && !(await serverExistsFor(scope, principal, deps)))
      throw new GatehouseError('E_UNKNOWN_SERVER', `unknown server ${quote(scope)}`);
    const sessionId = header(req, 'mcp-session-id');
    if (req.method === 'GET') return await openGetStream(req, res, scope, sessionId, principal, deps);
    if (req.method === 'DELETE') return await deleteSession(res, { scope, principal, sessionId }, deps);
    if (req.method !== 'POST') throw new GatehouseError('E_METHOD_NOT_ALLOWED');
    await handlePost(req, res, { scope, principal, sessionId }, deps, answering);
  } catch (err) {
    if (clientGone(err, deps.log)) return;
    if (err instanceof GatehouseError && BODY_REFUSALS.has(err.code)) {
      // Answer 413 (408, 503) first, then discard what the client is still sending (bounded, held nowhere), then hang up.
      const retry: Record<string, string> = err.code === 'E_TOO_MANY_REQUEST_BYTES' ? { 'retry-after': '1' } : {};
      sendError(res, err, answering.id, deps.log, { connection: 'close', ...retry }, wantsSseOnly(req));
      req.resume();
      setTimeout(() => req.destroy(), 5000).unref();
      return;
    }
    const headers = { ...deps.identity.challenge(err), ...retryLater(err) };
    sendError(res, err, answering.id, deps.log, headers, wantsSseOnly(req));
  }
}

/** The store away (a session looked up or made, a key checked): 503, and when to try again. */
function retryLater(err: unknown): Record<string, string> {
  return err instanceof GatehouseError && err.code === 'E_STORE_UNAVAILABLE' ? { 'retry-after': '5' } : {};
}

/** Refusals of a body while it is read: its connection is closed after the answer. */
const BODY_REFUSALS: ReadonlySet<string> = new Set([
  'E_BODY_TOO_LARGE',
  'E_REQUEST_TIMEOUT',
  'E_TOO_MANY_REQUEST_BYTES',
]);

/**
 * The caller, or the refusal. A store that fails while a key is looked up is the gateway's condition,
 * not the caller's: the answer names the request it answers, so its id is read from the body, which
 * is still unread (within the usual bounds; an id that cannot be read leaves it null).
 */
async function authenticated(
  req: IncomingMessage,
  res: ServerResponse,
  deps: EndpointDeps,
  answering: Answering,
): Promise<Principal> {
  try {
    return await deps.identity.authenticate(req);
  } catch (err) {
    if (err instanceof GatehouseError && err.code === 'E_STORE_UNAVAILABLE' && req.method === 'POST')
      answering.id = await requestIdOf(req, res, deps);
    throw err;
  }
}

/** Read before the caller is known: from the unauthenticated requests' share; over it, that refusal is the answer. */
async function requestIdOf(req: IncomingMessage, res: ServerResponse, deps: EndpointDeps): Promise<RequestId | null> {
  try {
    const budget = bodyBudget(deps.requestBytes, res, null);
    const text = await readBody(req, deps.maxBodyBytes, deps.bodyTimeoutMs ?? BODY_TIMEOUT_MS, budget);
    const c = classify(parseStrictJson(text, deps.maxJsonDepth));
    return c.kind === 'request' ? c.msg.id : null;
  } catch (err) {
    // A body refused while it was read (too large, too slow, over the budget) is answered as such,
    // its connection closed: answered "store unavailable" instead, it was left to be read on.
    if (err instanceof GatehouseError && BODY_REFUSALS.has(err.code)) throw err;
    return null;
  }
}

/**
 * Whether `/servers/<scope>/mcp` exists for this caller: a configured server of which it is shown
 * something. One it may use nothing of answers every method as an unknown name does (0007: what a
 * caller may not use looks exactly like what does not exist), its capabilities and identity included.
 */
async function serverExistsFor(scope: string, principal: Principal, deps: EndpointDeps): Promise<boolean> {
  if (!deps.upstreams.has(scope)) return false;
  // Just after start an empty catalogue would hide every server: wait (bounded) for the first one.
  await deps.catalogued?.();
  return seesServer({ scope, principal }, deps);
}

/** A POSTed message: read strictly, then answered in the era it belongs to. */
async function handlePost(
  req: IncomingMessage,
  res: ServerResponse,
  caller: Caller,
  deps: EndpointDeps,
  answering: Answering,
): Promise<void> {
  checkMediaType(header(req, 'content-type'), header(req, 'content-encoding'));
  const accept = acceptsJsonAndSse(header(req, 'accept'));
  if (!accept.ok) throw new GatehouseError('E_NOT_ACCEPTABLE');
  // Its bytes are held, from its tenant's share, until its answer ends or its connection closes.
  const budget = bodyBudget(deps.requestBytes, res, caller.principal.tenant);
  const text = await readBody(req, deps.maxBodyBytes, deps.bodyTimeoutMs ?? BODY_TIMEOUT_MS, budget);
  const parsed = parseStrictJson(text, deps.maxJsonDepth);
  if (Array.isArray(parsed)) throw new GatehouseError('E_BATCH');
  const c = classify(parsed);
  if (c.kind === 'invalid') {
    answering.id = c.id;
    throw new GatehouseError('E_INVALID_REQUEST', `invalid request: ${c.reason}`);
  }
  if (c.kind === 'request') answering.id = c.msg.id;
  const versionHeader = header(req, 'mcp-protocol-version');

  if (c.kind === 'response') return await takeClientAnswer(res, c, caller, deps);

  const declared = declaredVersion(c.msg.params);
  // Modern: the body's _meta names a version, or the header names a modern one, or it is server/discover.
  const modern = declared !== undefined || isModernVersion(versionHeader) || c.msg.method === 'server/discover';
  if (modern)
    return await handleModern(req, res, c, caller, { declared, versionHeader, sse: accept.sse, body: budget }, deps);
  return await handleLegacy(res, c, caller, { versionHeader, sse: accept.sse, body: budget }, deps);
}
