/**
 * The endpoint's long-lived streams: a legacy session's GET stream (notifications and a server's
 * questions outside any one request), and the credential check every stream (that one, and a modern
 * `subscriptions/listen`) lives under while it stays open.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatehouseError } from '../protocol/errors.ts';
import type { Principal } from '../identity/principal.ts';
import { acceptsSse } from './guards.ts';
import { StreamSink } from './responder.ts';
import { header } from './mcp-headers.ts';
import { bodyBudget } from './request-bytes.ts';
import type { EndpointDeps } from './mcp-types.ts';

/** GET opens (or replaces) the stream of the caller's own legacy session; the modern era has none. */
export async function openGetStream(
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
      if (!s.stream) deps.sessions.onStream(s.id, false); // not replaced by another GET here
    },
    unread,
  );
  s.stream = sink;
  s.streamOwner = principal;
  deps.sessions.onStream(s.id, true);
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
export function endWhenRevoked(sink: StreamSink, principal: Principal, deps: EndpointDeps): void {
  const timer = setInterval(() => {
    if (sink.closed) return void clearInterval(timer);
    (deps.current?.() ?? deps).identity.recheck(principal, 0).catch(() => {
      clearInterval(timer);
      sink.close();
    });
  }, STREAM_CREDENTIAL_MS);
  timer.unref();
}
