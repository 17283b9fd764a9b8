/**
 * What of a request's params may go upstream: the fields its method defines (MCP 2025-11-25 and
 * 2026-07-28), nothing else. Anything more a caller adds (`foo`, a second copy of the target under
 * another name) was never validated, decided, approved or recorded, so it stays at the gateway. The
 * caller's `_meta` goes on (servers read keys of their own there), within bounds (64 KiB, and the
 * depth and key bounds of arguments); the protocol's own keys in it are the gateway's to set
 * (forward.ts).
 */
import { GatehouseError } from '../protocol/errors.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import { checkBounds } from '../policy/arguments.ts';

/** Round trips of a held call (2026-07-28): read by the gateway, never forwarded as they came. */
const HELD = ['requestState', 'inputResponses'];

const DEFINED: Readonly<Record<string, readonly string[]>> = {
  'tools/call': ['name', 'arguments', 'task', '_meta', ...HELD],
  'prompts/get': ['name', 'arguments', '_meta', ...HELD],
  'resources/read': ['uri', '_meta', ...HELD],
  'resources/subscribe': ['uri', '_meta'],
  'resources/unsubscribe': ['uri', '_meta'],
  'completion/complete': ['ref', 'argument', 'context', '_meta', ...HELD],
  'tasks/get': ['taskId', '_meta'],
  'tasks/result': ['taskId', '_meta'],
  'tasks/cancel': ['taskId', '_meta'],
};

/**
 * A caller's label for its run (`audit run <label>`). One shaped like the gateway's own run ids — a
 * session (32 hex digits, or `stdio-<uuid>`) or a trace id (32 hex digits) — would put this call in
 * another caller's run.
 */
const RUN_LABEL = 'io.gatehouse/run';
const LIKE_A_RUN_OF_THE_GATEWAY = /^(?:[0-9a-f]{32}|stdio-.*)$/i;

/** What a caller's `_meta` may hold, at most, as JSON text: keys for servers, not payloads. */
const MAX_META = 64 * 1024;

/** `params` cut to the fields `method` defines; a `_meta` past its bounds is invalid params. */
export function definedParams(method: string, params: JsonObject): JsonObject {
  const fields = Object.hasOwn(DEFINED, method) ? DEFINED[method] : [];
  const out: JsonObject = {};
  for (const f of fields) if (Object.hasOwn(params, f) && params[f] !== undefined) out[f] = params[f];
  if (out._meta !== undefined) {
    const problem = checkBounds(out._meta);
    if (problem) {
      let at = problem.path.startsWith('[') ? problem.path : `.${problem.path}`;
      if (problem.path === '(arguments)') at = '';
      throw new GatehouseError('E_INVALID_PARAMS', `invalid params: \`_meta${at}\` ${problem.message}`);
    }
    if (JSON.stringify(out._meta).length > MAX_META)
      throw new GatehouseError('E_INVALID_PARAMS', `invalid params: \`_meta\` is larger than ${MAX_META / 1024} KiB`);
    const run = (out._meta as JsonObject)[RUN_LABEL];
    if (typeof run === 'string' && LIKE_A_RUN_OF_THE_GATEWAY.test(run))
      throw new GatehouseError(
        'E_INVALID_PARAMS',
        `invalid params: \`_meta["${RUN_LABEL}"]\` has the form of a session or trace id: a run label names a run of its own (choose another)`,
      );
  }
  return out;
}
