/**
 * route (completion/complete): a completion serves one prompt or resource template, so it is routed,
 * authorised and decided as that prompt or resource: a caller cannot complete what it may not use.
 */
import { GatehouseError } from '../../protocol/errors.ts';
import type { JsonObject } from '../../protocol/jsonrpc.ts';
import type { Stage } from '../types.ts';
import { routePrompt } from './route-prompt.ts';
import { routeResource } from './route-resource.ts';
import { routeOf } from './needs.ts';
import { definedParams } from '../defined-params.ts';

export const routeCompletion: Stage = async (s, deps) => {
  const ref = s.params.ref as JsonObject | undefined;
  if (ref?.type === 'ref/prompt' && typeof ref.name === 'string') {
    await routePrompt(s, deps);
    s.upstream = definedParams(s.method, { ...s.params, ref: { ...ref, name: routeOf(s).tool } });
    return;
  }
  if (ref?.type === 'ref/resource' && typeof ref.uri === 'string') {
    await routeResource(s, deps);
    s.upstream = definedParams(s.method, { ...s.params, ref: { ...ref, uri: routeOf(s).tool } });
    return;
  }
  throw new GatehouseError('E_INVALID_PARAMS', 'invalid params: `ref` must be a prompt or resource reference');
};
