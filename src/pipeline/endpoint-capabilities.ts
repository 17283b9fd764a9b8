/**
 * What a per-server endpoint (`/servers/<name>/mcp`) answers is bounded by what it declares: the
 * server's own capabilities (dispatch.ts, serverCapabilities). A method of a capability it did not
 * declare is -32601, as the server itself answers it (the aggregate endpoint declares the gateway's
 * own, all of these); a `subscriptions/listen` acknowledgment omits the notification types it does
 * not support (2026-07-28 subscriptions: "Notification types the server does not support are
 * omitted"). Pure.
 */
import type { JsonObject } from '../protocol/jsonrpc.ts';

const obj = (v: unknown): JsonObject | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as JsonObject) : undefined;

/** Each method gated by a capability: the capability's name, and whether `caps` declares it. */
const NEEDS: Readonly<Record<string, [string, (caps: JsonObject) => boolean]>> = (() => {
  const has = (name: string) => (caps: JsonObject) => obj(caps[name]) !== undefined;
  const tools: [string, (c: JsonObject) => boolean] = ['tools', has('tools')];
  const prompts: [string, (c: JsonObject) => boolean] = ['prompts', has('prompts')];
  const resources: [string, (c: JsonObject) => boolean] = ['resources', has('resources')];
  const subscribe: [string, (c: JsonObject) => boolean] = [
    'resources.subscribe',
    (c) => obj(c.resources)?.subscribe === true,
  ];
  return {
    'tools/list': tools,
    'tools/call': tools,
    'prompts/list': prompts,
    'prompts/get': prompts,
    'resources/list': resources,
    'resources/templates/list': resources,
    'resources/read': resources,
    'resources/subscribe': subscribe,
    'resources/unsubscribe': subscribe,
    'completion/complete': ['completions', has('completions')],
    'logging/setLevel': ['logging', has('logging')],
  };
})();

/** The capability `method` needs that `caps` (an endpoint's declared capabilities) lacks, or undefined. */
export function undeclaredFor(method: string, caps: JsonObject): string | undefined {
  const need = Object.hasOwn(NEEDS, method) ? NEEDS[method] : undefined;
  return need && !need[1](caps) ? need[0] : undefined;
}

/** The list_changed types of a listen filter, each with the capability that must declare `listChanged`. */
const LIST_CHANGED: Readonly<Record<string, string>> = {
  toolsListChanged: 'tools',
  promptsListChanged: 'prompts',
  resourcesListChanged: 'resources',
};

/** Whether an endpoint declaring `caps` supports the listen notification type `type` (undefined caps: the aggregate's own, all). */
export function supportsNotification(type: string, caps: JsonObject | undefined): boolean {
  if (!caps) return true;
  const cap = Object.hasOwn(LIST_CHANGED, type) ? LIST_CHANGED[type] : undefined;
  return cap !== undefined && obj(caps[cap])?.listChanged === true;
}
