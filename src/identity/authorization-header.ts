/**
 * The one `Authorization` header of a request. Node's parser keeps only the first of several in
 * `req.headers`, while a proxy in front may act on another: two credentials in one request would be
 * read one way here and another way there. RFC 6750 allows one credential per request, so a request
 * with more than one header is refused, never resolved by picking one.
 */
import type { IncomingMessage } from 'node:http';
import { GatehouseError } from '../protocol/errors.ts';

/** The header's value, or undefined when absent; throws E_INVALID_AUTH_REQUEST when sent more than once. */
export function authorizationHeader(req: IncomingMessage): string | undefined {
  const all = req.headersDistinct.authorization;
  if (all && all.length > 1)
    throw new GatehouseError(
      'E_INVALID_AUTH_REQUEST',
      `the request carries ${all.length} authorization headers: send exactly one credential`,
    );
  return all?.[0];
}
