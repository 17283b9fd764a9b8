/**
 * The MCP Streamable HTTP endpoint, both eras on one URL (`/mcp`, and `/servers/<name>/mcp` for one
 * upstream under its own names). Order: host, origin, caller, media type, body cap, strict JSON,
 * no batches, message shape, protocol version, then era: a request carrying the 2026-07-28 `_meta`
 * (or `server/discover`) is modern and stateless with its Mcp-* headers checked against the body;
 * `initialize` and session-bound requests are legacy (2025-11-25).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { GatehouseError, quote } from '../protocol/errors.ts';
import {
  classify,
  idKey,
  success,
  type Classified,
  type JsonObject,
  type JsonRpcRequest,
  type RequestId,
} from '../protocol/jsonrpc.ts';
import {
  LEGACY_VERSIONS,
  META,
  SUPPORTED_VERSIONS,
  declaredVersion,
  isModernVersion,
  isSupportedVersion,
  requestedLogLevel,
} from '../protocol/era.ts';
import { parseStrictJson } from '../protocol/strict-json.ts';
import { toWire } from '../protocol/wire.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { KNOWN_METHODS, dispatch, initializeResult, readInitialize, type DispatchDeps } from '../pipeline/dispatch.ts';
import type { RequestContext } from '../gateway/context.ts';
import type { Principal } from '../identity/principal.ts';
import type { LiveSession, Sessions } from '../sessions/sessions.ts';
import {
  acceptsJsonAndSse,
  acceptsSse,
  checkHost,
  checkMediaType,
  checkOrigin,
  clientGone,
  readBody,
} from './guards.ts';
import { Responder, StreamSink } from './responder.ts';
import { checkModernHeaders, checkParamHeaders, checkSessionVersion, header } from './mcp-headers.ts';
import { bodyBudget } from './request-bytes.ts';
import type { RequestBudget, RequestHold } from '../util/request-budget.ts';
import type { Subscriptions } from './subscriptions.ts';
import { holdOwner } from '../gateway/holds.ts';
import { seesServer } from '../pipeline/listings.ts';
import { attachment } from '../util/attach.ts';
import { TransientMap } from '../util/transient-map.ts';

export interface EndpointDeps extends DispatchDeps {
  sessions: Sessions;
  subscriptions: Subscriptions;
  metrics: Metrics;
  log: Logger;
  hosts: Set<string>;
  origins: Set<string>;
  maxBodyBytes: number;
  /** Request bytes held, all tenants together (kept across reloads): bodies are read against their tenant's share. */
  requestBytes: RequestBudget;
  maxJsonDepth: number;
  /** How long a request body may take to arrive (default BODY_TIMEOUT_MS). */
  bodyTimeoutMs?: number;
}

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
): void {
  const w = toWire(err, id, log);
  const status = preDispatchStatus(w.status, w.body.error.code);
  const body = JSON.stringify(w.body);
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** Who is calling which endpoint, with the session the request names (if any). */
interface Caller {
  scope: string;
  principal: Principal;
  sessionId: string | undefined;
}

/** The id of the request being answered, once known, for the error response. */
interface Answering {
  id: RequestId | null;
}

type Call = Extract<Classified, { kind: 'request' | 'notification' }>;

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
      sendError(res, err, answering.id, deps.log, { connection: 'close', ...retry });
      req.resume();
      setTimeout(() => req.destroy(), 5000).unref();
      return;
    }
    sendError(res, err, answering.id, deps.log, deps.identity.challenge(err));
  }
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

/** DELETE ends the caller's own legacy session. */
async function deleteSession(res: ServerResponse, caller: Caller, deps: EndpointDeps): Promise<void> {
  if (!caller.sessionId) throw new GatehouseError('E_METHOD_NOT_ALLOWED');
  const s = await deps.sessions.get(caller.sessionId, caller.principal.key, caller.scope);
  await deps.sessions.delete(s);
  res.writeHead(204).end();
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

  if (c.kind === 'response') {
    // A legacy client answering one of our server->client requests.
    if (!caller.sessionId) throw new GatehouseError('E_SESSION_REQUIRED');
    const s = await deps.sessions.get(caller.sessionId, caller.principal.key, caller.scope);
    const answer = 'error' in c.msg ? { error: c.msg.error } : { result: c.msg.result };
    if (c.msg.id !== null) s.answer(c.msg.id, answer);
    res.writeHead(202).end();
    return;
  }

  const declared = declaredVersion(c.msg.params);
  // Modern: the body's _meta names a version, or the header names a modern one, or it is server/discover.
  const modern = declared !== undefined || isModernVersion(versionHeader) || c.msg.method === 'server/discover';
  if (modern)
    return await handleModern(req, res, c, caller, { declared, versionHeader, sse: accept.sse, body: budget }, deps);
  return await handleLegacy(res, c, caller, { versionHeader, sse: accept.sse, body: budget }, deps);
}

/** A 2026-07-28 message: stateless, its Mcp-* headers checked against the body. */
async function handleModern(
  req: IncomingMessage,
  res: ServerResponse,
  c: Call,
  caller: Caller,
  o: { declared: string | undefined; versionHeader: string | undefined; sse: boolean; body: RequestHold },
  deps: EndpointDeps,
): Promise<void> {
  const { method, params } = c.msg;
  checkModernHeaders(req, method, params, o.declared, o.versionHeader);
  if (method === 'tools/call') checkParamHeaders(req, params, caller.scope, deps.catalog);
  if (c.kind === 'notification') {
    res.writeHead(202).end();
    return;
  }
  deps.metrics.recordRequest(method, KNOWN_METHODS.has(method), 'modern');
  if (method === 'initialize') throw new GatehouseError('E_METHOD_NOT_FOUND');
  const meta = (params?._meta ?? {}) as JsonObject;
  const ctx = makeContext(res, c.msg, caller.scope, caller.principal, 'modern', o.declared ?? LEGACY_VERSIONS[0], meta);
  if (method === 'subscriptions/listen') {
    const sink = deps.subscriptions.listen(res, c.msg, caller.scope, caller.principal, o.body);
    if (sink) endWhenRevoked(sink, caller.principal, deps);
    return;
  }
  return await answer(res, ctx, method, params, o.sse, deps, {}, o.body);
}

/** A legacy (2025-11-25) message: `initialize`, or one bound to the session it negotiated. */
async function handleLegacy(
  res: ServerResponse,
  c: Call,
  caller: Caller,
  o: { versionHeader: string | undefined; sse: boolean; body: RequestHold },
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
    onLegacyNotification(session, method, params);
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

function makeContext(
  res: ServerResponse,
  msg: JsonRpcRequest,
  scope: string,
  principal: Principal,
  era: 'modern' | 'legacy',
  protocolVersion: string,
  meta: JsonObject,
  session?: LiveSession,
): RequestContext {
  const abort = new AbortController();
  // Closing the connection before the answer is written cancels the request (both eras).
  res.on('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  const token = meta.progressToken;
  const ctx: RequestContext = {
    era,
    protocolVersion,
    scope,
    principal,
    session,
    requestId: msg.id,
    traceId: randomUUID(),
    clientCapabilities: (era === 'modern'
      ? meta[META.clientCapabilities]
      : (session?.record.clientCapabilities ?? {})) as JsonObject,
    clientInfo: (era === 'modern' ? (meta[META.clientInfo] ?? {}) : (session?.record.clientInfo ?? {})) as JsonObject,
    outlet: { notify: () => {} },
    signal: abort.signal,
    progressToken: typeof token === 'string' || typeof token === 'number' ? token : undefined,
    logLevel: era === 'modern' ? requestedLogLevel(meta) : session?.logLevel,
  };
  controllers.set(ctx, abort);
  return ctx;
}

async function answer(
  res: ServerResponse,
  ctx: RequestContext,
  method: string,
  params: JsonObject | undefined,
  sse: boolean,
  deps: EndpointDeps,
  headers: Record<string, string> = {},
  body?: RequestHold,
): Promise<void> {
  const out = new Responder(res, sse, headers, body);
  ctx.outlet = outletFor(out, ctx.session, sse);
  const ctl = controllers.get(ctx);
  const slot = ++inFlightSeq;
  if (ctl) inFlight.set(slot, { ctx, ctl });
  try {
    // Held calls made while answering count against this caller's principal and tenant, and keep
    // this request's bytes (`body`) counted in its tenant's share of the request budget while they live.
    const run = () => dispatch(ctx, method, params, deps);
    // Traced: the request's span (a trusted caller's traceparent continues its trace; ctx.traceId follows).
    let result = await holdOwner.run({ principal: ctx.principal.key, tenant: ctx.principal.tenant, body }, () =>
      deps.tracer ? deps.tracer.request(ctx, method, res.req, run) : run(),
    );
    if (ctx.era === 'modern' && result.resultType === undefined) result = { resultType: 'complete', ...result };
    out.finish(success(ctx.requestId, result));
  } catch (err) {
    const w = toWire(err, ctx.requestId, deps.log.child({ traceId: ctx.traceId }));
    // Scopes that fall short for this tool: 403 with the challenge, so a client can step up (both eras).
    if (err instanceof GatehouseError && err.code === 'E_INSUFFICIENT_SCOPE')
      out.finish(w.body, 403, deps.identity.challenge(err));
    else if (err instanceof GatehouseError && err.code === 'E_RATE_LIMITED') {
      // The JSON-RPC error (data.retryAfterMs) answers the call; Retry-After tells HTTP clients too.
      const ms = (err.data as { retryAfterMs?: number })?.retryAfterMs ?? 1000;
      out.finish(w.body, ctx.era === 'modern' ? 429 : 200, {
        'retry-after': String(Math.max(1, Math.ceil(ms / 1000))),
      });
    } else out.finish(w.body, ctx.era === 'modern' ? modernStatus(w.body.error.code) : 200);
  } finally {
    inFlight.delete(slot);
  }
}

/**
 * The way back to the caller on this response. Built as one object literal: a closure assigned to a
 * property of a request's object made V8 keep every request since the last full collection under
 * load (6-10 MB promoted per scavenge; see util/transient-map.ts and ADR 0014), a literal does not.
 */
function outletFor(out: Responder, session: LiveSession | undefined, sse: boolean): RequestContext['outlet'] {
  if (!session) return { notify: (n) => out.send(n) };
  return {
    notify: (n) => out.send(n),
    // Questions go on this request's stream when the client takes SSE, else on its GET stream; with
    // neither, the upstream is told at once that the client cannot be asked.
    ask: (m, p, signal) => {
      const sink = sse ? out : session.stream;
      if (!sink || sink.closed)
        return Promise.resolve({ error: { code: -32603, message: 'the client has no open stream to be asked on' } });
      return session.ask(sink, m, p, signal);
    },
  };
}

/** 2026-07-28 gives some JSON-RPC errors their own HTTP status. */
function modernStatus(code: number): number {
  if (code === -32601) return 404;
  if (code === -32020 || code === -32021 || code === -32022) return 400;
  return 200;
}

/** Requests in flight, for notifications/cancelled: each context with its abort controller. */
const inFlight = new TransientMap<number, { ctx: RequestContext; ctl: AbortController }>();
let inFlightSeq = 0;
const controllers = attachment<AbortController>('abortController');

function onLegacyNotification(session: LiveSession, method: string, params: JsonObject | undefined): void {
  if (method !== 'notifications/cancelled') return; // initialized, roots/list_changed, progress: nothing to do
  const rid = idKey(params?.requestId);
  for (const { ctx, ctl } of inFlight.values())
    if (ctx.session === session && idKey(ctx.requestId) === rid) ctl.abort();
}

async function initialize(
  res: ServerResponse,
  msg: JsonRpcRequest,
  scope: string,
  principal: Principal,
  deps: EndpointDeps,
): Promise<void> {
  const init = readInitialize(msg.params);
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

async function openGetStream(
  req: IncomingMessage,
  res: ServerResponse,
  scope: string,
  sessionId: string | undefined,
  principal: Principal,
  deps: EndpointDeps,
): Promise<void> {
  if (!sessionId)
    throw new GatehouseError(
      'E_METHOD_NOT_ALLOWED',
      'method not allowed: the 2026-07-28 protocol has no get stream; legacy clients send mcp-session-id',
    );
  if (!acceptsSse(header(req, 'accept')))
    throw new GatehouseError('E_NOT_ACCEPTABLE', 'accept must include text/event-stream');
  const s = await deps.sessions.get(sessionId, principal.key, scope);
  s.stream?.close();
  // What its client leaves unread is held from its tenant's share, as a request's bytes are.
  const unread = bodyBudget(deps.requestBytes, res, principal.tenant);
  const sink = new StreamSink(
    res,
    { 'mcp-session-id': s.id },
    () => {
      if (s.stream === sink) s.stream = undefined;
    },
    unread,
  );
  s.stream = sink;
  s.streamOwner = principal;
  endWhenRevoked(sink, principal, deps);
}

/** How often a long-lived stream's credential is verified again. */
const STREAM_CREDENTIAL_MS = 5_000;

/**
 * A stream (the legacy GET stream, `subscriptions/listen`) outlives the request that opened it: it
 * carries notifications and, on a legacy session, a server's questions for calls still running. Its
 * credential is verified again every few seconds, and the stream ends once the API key or person is
 * revoked, or the token expires: the caller, if it still may, opens another.
 */
function endWhenRevoked(sink: StreamSink, principal: Principal, deps: EndpointDeps): void {
  const timer = setInterval(() => {
    if (sink.closed) return void clearInterval(timer);
    (deps.current?.() ?? deps).identity.recheck(principal, 0).catch(() => {
      clearInterval(timer);
      sink.close();
    });
  }, STREAM_CREDENTIAL_MS);
  timer.unref();
}
