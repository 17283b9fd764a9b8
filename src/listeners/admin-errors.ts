/** The admin API's errors: their one shape, for admin.ts, admin-incidents.ts and http.ts's catch. */
import { GatehouseError } from '../protocol/errors.ts';

/**
 * How the admin API answers an error: `{"error": {"code", "message"}}` with the HTTP status, as a
 * REST API does; never the MCP endpoint's JSON-RPC envelope. The code is the catalogue's, lowercase
 * without its `E_` (`forbidden`, `invalid_params`, `unauthenticated`), or `not_found`, `conflict`,
 * `internal` (docs/operations.md, "The admin API").
 */
export function adminError(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

/** A thrown error as the admin API answers it; `message` is what the wire may carry (toWire's). */
export function adminFailure(err: unknown, message: string): { error: { code: string; message: string } } {
  return adminError(err instanceof GatehouseError ? err.code.replace(/^E_/, '').toLowerCase() : 'internal', message);
}
