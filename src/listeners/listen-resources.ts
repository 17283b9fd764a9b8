/**
 * A 2026-07-28 `subscriptions/listen` stream's `resourceSubscriptions`: 2026-07-28 replaced
 * `resources/subscribe` with this filter (changelog, major change 4; basic/patterns/subscriptions:
 * "Receive `notifications/resources/updated` for these resource URIs"). Each URI is subscribed as a
 * legacy session's `resources/subscribe` is, through that method's row of the pipeline (authenticate,
 * route, authorize, decide, limit, record, execute) on the caller's own connection, so the same
 * visibility, policy, modes and audit apply; the subscription is kept on the stream, and the
 * acknowledgment names the URIs subscribed. A URI that is unknown, forbidden or refused is left out of
 * it, as a type the server does not support is ("omitted"): the two look alike. When the stream ends,
 * each is unsubscribed the same way (a connection's upstream subscription ends with its last holder).
 */
import { randomUUID } from 'node:crypto';
import { GatehouseError } from '../protocol/errors.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import { dispatch } from '../pipeline/dispatch.ts';
import type { RequestContext } from '../gateway/context.ts';
import type { ListenResources } from './subscriptions.ts';
import type { EndpointDeps } from './mcp-types.ts';

/** URIs one listen stream may name: each is a request through the pipeline. */
const MAX_URIS = 64;

/** The URIs a listen request names (none: undefined); not a list of at most 64 strings: -32602. */
function urisOf(params: JsonObject | undefined): string[] | undefined {
  const asked = (params?.notifications as JsonObject | undefined)?.resourceSubscriptions;
  if (asked === undefined) return undefined;
  if (!Array.isArray(asked) || !asked.every((u) => typeof u === 'string') || asked.length > MAX_URIS)
    throw new GatehouseError(
      'E_INVALID_PARAMS',
      `invalid params: \`notifications.resourceSubscriptions\` must be a list of at most ${MAX_URIS} uris`,
    );
  return [...new Set(asked as string[])];
}

/** A context of the listen request's caller for one subscribe (or, later, unsubscribe) of its own. */
function own(ctx: RequestContext, subscriptions: Set<string>, signal: AbortSignal): RequestContext {
  return { ...ctx, traceId: randomUUID(), subscriber: { subscriptions }, signal, outlet: { notify: () => {} } };
}

/** Subscribes the URIs `params` names for the listen request of `ctx`: what the stream keeps, or undefined. */
export async function listenResources(
  ctx: RequestContext,
  params: JsonObject | undefined,
  deps: EndpointDeps,
): Promise<ListenResources | undefined> {
  const uris = urisOf(params);
  if (!uris?.length) return undefined;
  const subscriptions = new Set<string>();
  const acknowledged: string[] = [];
  const meta = params?._meta as JsonObject | undefined;
  for (const uri of uris) {
    if (ctx.signal.aborted) break;
    const had = new Set(subscriptions);
    try {
      await dispatch(own(ctx, subscriptions, ctx.signal), 'resources/subscribe', { uri, _meta: meta ?? {} }, deps);
      if (subscriptions.size > had.size) acknowledged.push(uri);
    } catch {
      // Unknown, forbidden, refused or failed (the upstream too: kept before it was asked): not
      // acknowledged, and not held (the decision is in the audit trail).
      for (const key of subscriptions) if (!had.has(key)) subscriptions.delete(key);
    }
  }
  let done = false;
  const closed = () => {
    if (done) return;
    done = true;
    void unsubscribeAll(ctx, subscriptions, acknowledged, meta, deps);
  };
  return { subscriptions, acknowledged, closed };
}

/** The stream ended: each URI it subscribed is unsubscribed through the pipeline, as its caller. */
async function unsubscribeAll(
  ctx: RequestContext,
  subscriptions: Set<string>,
  uris: string[],
  meta: JsonObject | undefined,
  deps: EndpointDeps,
): Promise<void> {
  const signal = AbortSignal.timeout(30_000);
  // Refused now (a revocation, a reload): the stream holds nothing any more all the same.
  for (const uri of uris)
    await dispatch(own(ctx, subscriptions, signal), 'resources/unsubscribe', { uri, _meta: meta ?? {} }, deps).catch(
      () => undefined,
    );
  subscriptions.clear();
}
