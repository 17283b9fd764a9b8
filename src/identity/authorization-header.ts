/**
 * The one `Authorization` header of a request. Node's parser keeps only the first of several in
 * `req.headers`, while a proxy in front may act on another: two credentials in one request would be
 * read one way here and another way there. RFC 6750 allows one credential per request, so a request
 * with more than one header is refused, never resolved by picking one: the HTTP listener's entry does
 * that for every request, before any route reads a header (`refuseRepeatedHeaders` in
 * src/listeners/guards.ts, one pass over the raw header lines), so the header read here is the only one.
 */
import type { IncomingMessage } from 'node:http';
import { GatehouseError } from '../protocol/errors.ts';

/** The header's value, or undefined when absent (a request that repeats it was refused at the listener's entry). */
export function authorizationHeader(req: IncomingMessage): string | undefined {
  return req.headers.authorization;
}

/** The refusal of a request carrying `count` Authorization headers (401 invalid_request, with the challenge). */
export function repeatedCredentials(count: number): GatehouseError {
  return new GatehouseError(
    'E_INVALID_AUTH_REQUEST',
    `the request carries ${count} authorization headers: send exactly one credential`,
  );
}
