/**
 * validate: arguments must be a JSON object (or absent). Schema validation against the tool's
 * inputSchema and global bounds arrive with the policy engine (issue 6) in this stage.
 */
import { GatehouseError } from '../../protocol/errors.ts';
import type { Stage } from '../types.ts';

export const validateArguments: Stage = (s) => {
  const args = s.params.arguments;
  if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args))) {
    throw new GatehouseError('E_INVALID_PARAMS', 'invalid params: `arguments` must be an object');
  }
};
