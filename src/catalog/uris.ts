/**
 * Resource URIs on the aggregate endpoint are namespaced by server, like tool names, so that two
 * servers listing the same URI never capture each other's reads: `gatehouse:<server>/<uri as the
 * server wrote it>` (a valid URI with an opaque path; `new URL()` takes it). Templates get the same
 * prefix, so what a client expands from one is a namespaced URI too. On a per-server endpoint URIs are
 * the server's own.
 */
import type { JsonObject } from '../protocol/jsonrpc.ts';

export const URI_SCHEME = 'gatehouse:';

export function namespaceUri(server: string, uri: string): string {
  return `${URI_SCHEME}${server}/${uri}`;
}

/** `gatehouse:<server>/<uri>` -> its parts; anything else is not a namespaced URI. */
export function splitUri(uri: string): { server: string; uri: string } | undefined {
  if (!uri.startsWith(URI_SCHEME)) return undefined;
  const rest = uri.slice(URI_SCHEME.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return undefined;
  return { server: rest.slice(0, slash), uri: rest.slice(slash + 1) };
}

/** One content block (tool result, prompt message) with its resource URI namespaced. */
function block(c: unknown, server: string): unknown {
  if (!c || typeof c !== 'object' || Array.isArray(c)) return c;
  const o = c as JsonObject;
  if (o.type === 'resource_link' && typeof o.uri === 'string') return { ...o, uri: namespaceUri(server, o.uri) };
  const r = o.resource as JsonObject | undefined;
  if (o.type === 'resource' && r && typeof r.uri === 'string')
    return { ...o, resource: { ...r, uri: namespaceUri(server, r.uri) } };
  return o;
}

/**
 * The resource URIs of an upstream's answer namespaced for the aggregate endpoint — resource contents,
 * and resource links and embedded resources in tool results and prompt messages — so that what a client
 * reads next is routed back to the same server.
 */
export function namespaceUris(method: string, r: JsonObject, server: string): JsonObject {
  if (method === 'resources/read' && Array.isArray(r.contents)) {
    return {
      ...r,
      contents: r.contents.map((c) =>
        c && typeof c === 'object' && typeof (c as JsonObject).uri === 'string'
          ? { ...(c as JsonObject), uri: namespaceUri(server, (c as JsonObject).uri as string) }
          : c,
      ),
    };
  }
  if (method === 'tools/call' && Array.isArray(r.content))
    return { ...r, content: r.content.map((c) => block(c, server)) as never };
  if (method === 'prompts/get' && Array.isArray(r.messages)) {
    return {
      ...r,
      messages: r.messages.map((m) =>
        m && typeof m === 'object' && !Array.isArray(m)
          ? {
              ...(m as JsonObject),
              content: Array.isArray((m as JsonObject).content)
                ? ((m as JsonObject).content as unknown[]).map((c) => block(c, server))
                : block((m as JsonObject).content, server),
            }
          : m,
      ) as never,
    };
  }
  return r;
}
