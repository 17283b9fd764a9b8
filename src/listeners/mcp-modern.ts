/**
 * The stateless POST path of the 2026-07-28 era: no session, the request's `_meta` says who the
 * client is and what it can do, and its Mcp-* headers must agree with its body.
 */
import type { SseAnswer } from './guards.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatehouseError } from '../protocol/errors.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import { LEGACY_VERSIONS } from '../protocol/era.ts';
import { KNOWN_METHODS, declaredOn } from '../pipeline/dispatch.ts';
import type { RequestHold } from '../util/request-budget.ts';
import { checkModernHeaders, checkParamHeaders } from './mcp-headers.ts';
import { answer, makeContext } from './mcp-answer.ts';
import { endWhenRevoked } from './mcp-streams.ts';
import { listenResources } from './listen-resources.ts';
import type { Call, Caller, EndpointDeps } from './mcp-types.ts';

/** A 2026-07-28 message: stateless, its Mcp-* headers checked against the body. */
export async function handleModern(
  req: IncomingMessage,
  res: ServerResponse,
  c: Call,
  caller: Caller,
  o: { declared: string | undefined; versionHeader: string | undefined; sse: SseAnswer; body: RequestHold },
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
    const declared = declaredOn(deps, caller.scope);
    // Past the caps nothing is subscribed; the URIs named are subscribed before the acknowledgment names them.
    const release = deps.subscriptions.reserve(caller.principal);
    let resources: Awaited<ReturnType<typeof listenResources>>;
    try {
      resources = await listenResources(ctx, params, deps);
    } finally {
      release();
    }
    if (res.destroyed || ctx.signal.aborted) return resources?.closed();
    const sink = deps.subscriptions.listen(res, c.msg, caller.scope, caller.principal, o.body, declared, resources);
    if (sink) endWhenRevoked(sink, caller.principal, deps);
    return;
  }
  return await answer(res, ctx, method, params, o.sse, deps, {}, o.body);
}
