/**
 * validate: arguments are untrusted. They must be a JSON object (or absent) within the global bounds
 * (depth, lengths, size, no prototype keys), and match the tool's input schema from the inventory.
 * Refusals are -32602 and name the failing path; nothing reaches policy, let alone the upstream.
 */
import { GatehouseError } from '../../protocol/errors.ts';
import { checkBounds } from '../../policy/arguments.ts';
import type { Stage } from '../types.ts';

export const validateArguments: Stage = (s, { validators }) => {
  const args = s.params.arguments;
  if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args))) {
    throw new GatehouseError('E_INVALID_PARAMS', 'invalid params: `arguments` must be an object');
  }
  const problem = checkBounds(args) ?? validators.check(s.toolPin ?? '', s.route!.def.inputSchema, args);
  if (problem) throw new GatehouseError('E_INVALID_PARAMS', `invalid params: \`${problem.path}\` ${problem.message}`, { path: problem.path });
};
