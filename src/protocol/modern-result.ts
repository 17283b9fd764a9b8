/**
 * A result as a 2026-07-28 caller must receive it, whatever era the server behind it speaks:
 * `resultType` (absent means `complete`), on the cacheable results (listings, `resources/read`)
 * the `ttlMs` and `cacheScope` the revision requires, and on every result the identity of who
 * answers in `_meta["io.modelcontextprotocol/serverInfo"]` (basic/index.mdx, "Per-response protocol
 * fields": servers SHOULD include it in every result's `_meta`). A 2025-era server sends none of
 * these; a modern one may.
 */
import type { JsonObject } from './jsonrpc.ts';
import { META } from './era.ts';

/** The results 2026-07-28 makes cacheable: each carries `ttlMs` and `cacheScope`. */
const CACHEABLE = new Set([
  'tools/list',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
]);

/**
 * Stamps `resultType: 'complete'` where none is given and `serverInfo` (who answers on this endpoint:
 * the gateway, or on a server's own endpoint that server as `initialize` names it) in `_meta`, in
 * place of any an upstream put there: the caller talks to the gateway, whatever answered behind it.
 * On a complete cacheable result it fills `ttlMs` (a valid one the server gave is kept, else 0: no
 * caching) and sets `cacheScope` to `private`: what the gateway answers depends on the caller
 * (policy, visibility, scrubbing of credentials), so a shared cache must never keep it, whatever the
 * server behind said.
 */
export function modernResult(method: string, result: JsonObject, serverInfo: JsonObject): JsonObject {
  const meta = result._meta && typeof result._meta === 'object' && !Array.isArray(result._meta) ? result._meta : {};
  const r: JsonObject = {
    ...(result.resultType === undefined ? { resultType: 'complete' } : {}),
    ...result,
    _meta: { ...meta, [META.serverInfo]: serverInfo },
  };
  if (r.resultType !== 'complete' || !CACHEABLE.has(method)) return r;
  const ttl = r.ttlMs;
  const ttlMs = typeof ttl === 'number' && Number.isSafeInteger(ttl) && ttl >= 0 ? ttl : 0;
  return { ...r, ttlMs, cacheScope: 'private' };
}
