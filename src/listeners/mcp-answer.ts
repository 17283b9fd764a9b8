/**
 * Answering a dispatched request, in either era: its context (abort on a closed connection, the
 * client's capabilities from `_meta` or its session), the way back to the caller (one response or an
 * SSE stream), the HTTP status of an error, and the requests in flight that a legacy
 * `notifications/cancelled` aborts.
 */
import type { SseAnswer } from './guards.ts';
import type { ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { GatehouseError } from '../protocol/errors.ts';
import { idKey, success, type JsonObject, type JsonRpcRequest } from '../protocol/jsonrpc.ts';
import { META, requestedLogLevel } from '../protocol/era.ts';
import { toWire } from '../protocol/wire.ts';
import { modernResult } from '../protocol/modern-result.ts';
import { type CredentialFinder, callerCancelled } from '../protocol/cancel-reason.ts';
import { dispatch, serverInfoOn } from '../pipeline/dispatch.ts';
import type { RequestContext } from '../gateway/context.ts';
import type { Principal } from '../identity/principal.ts';
import type { LiveSession } from '../sessions/sessions.ts';
import type { RequestHold } from '../util/request-budget.ts';
import { holdOwner } from '../gateway/holds.ts';
import { attachment } from '../util/attach.ts';
import { TransientMap } from '../util/transient-map.ts';
import { Responder } from './responder.ts';
import type { EndpointDeps } from './mcp-types.ts';

/** The request's context; closing its connection before the answer is written aborts it. */
export function makeContext(
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

/** Dispatches the request and writes its answer (or its error, with the status its era gives it). */
export async function answer(
  res: ServerResponse,
  ctx: RequestContext,
  method: string,
  params: JsonObject | undefined,
  sse: SseAnswer,
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
    if (ctx.era === 'modern') result = modernResult(method, result, serverInfoOn(deps, ctx.scope));
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
function outletFor(out: Responder, session: LiveSession | undefined, sse: SseAnswer): RequestContext['outlet'] {
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

/**
 * A legacy notification: `notifications/cancelled` aborts the session's request it names, with the
 * caller's reason (a short plain one in which `credentials` finds nothing: cancel-reason.ts) for the upstream.
 */
export function onLegacyNotification(
  session: LiveSession,
  method: string,
  params: JsonObject | undefined,
  credentials: CredentialFinder,
): void {
  if (method !== 'notifications/cancelled') return; // initialized, roots/list_changed, progress: nothing to do
  const rid = idKey(params?.requestId);
  for (const { ctx, ctl } of inFlight.values())
    if (ctx.session === session && idKey(ctx.requestId) === rid)
      ctl.abort(callerCancelled(params?.reason, credentials));
}
