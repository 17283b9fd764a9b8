/** The one answer for "no such thing" per kind: what a caller may not use must look exactly like it. */
import { GatehouseError, quote } from '../../protocol/errors.ts';
import type { CallState } from '../types.ts';

export function unknownTarget(s: Pick<CallState, 'kind' | 'requested'>): GatehouseError {
  if (s.kind === 'prompt') return new GatehouseError('E_UNKNOWN_PROMPT', `unknown prompt ${quote(s.requested)}`);
  if (s.kind === 'resource') return new GatehouseError('E_UNKNOWN_RESOURCE', `unknown resource ${quote(s.requested)}`);
  return new GatehouseError('E_UNKNOWN_TOOL', `unknown tool ${quote(s.requested)}`);
}
