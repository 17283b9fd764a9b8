/**
 * A result as a 2026-07-28 caller must receive it, whatever era the server behind it speaks:
 * `resultType` (absent means `complete`), and on the cacheable results (listings, `resources/read`)
 * the `ttlMs` and `cacheScope` the revision requires. A 2025-era server sends neither; a modern one may.
 */
import type { JsonObject } from './jsonrpc.ts';

/** The results 2026-07-28 makes cacheable: each carries `ttlMs` and `cacheScope`. */
const CACHEABLE = new Set([
  'tools/list',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
]);

/**
 * Stamps `resultType: 'complete'` where none is given and, on a complete cacheable result, fills
 * `ttlMs` (a valid one the server gave is kept, else 0: no caching) and sets `cacheScope` to
 * `private`: what the gateway answers depends on the caller (policy, visibility, scrubbing of
 * credentials), so a shared cache must never keep it, whatever the server behind said.
 */
export function modernResult(method: string, result: JsonObject): JsonObject {
  const r = result.resultType === undefined ? { resultType: 'complete', ...result } : result;
  if (r.resultType !== 'complete' || !CACHEABLE.has(method)) return r;
  const ttl = r.ttlMs;
  const ttlMs = typeof ttl === 'number' && Number.isSafeInteger(ttl) && ttl >= 0 ? ttl : 0;
  return { ...r, ttlMs, cacheScope: 'private' };
}
