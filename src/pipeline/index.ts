/**
 * THE order of a tools/call. This list is the only place the order is written; each line says why
 * the stage stands where it does. Config changes what a stage does, never where it runs.
 */
import { GatehouseError, UpstreamRpcError } from '../protocol/errors.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type { RequestContext } from '../gateway/context.ts';
import { routeTool } from './stages/route-tool.ts';
import { validateArguments } from './stages/validate-arguments.ts';
import { executeCall } from './stages/execute-call.ts';
import { classifyTool } from './stages/classify-tool.ts';
import { requireClassScopes } from './stages/require-class-scopes.ts';
import { recordIntent } from './stages/record-intent.ts';
import { decidePolicy } from './stages/decide-policy.ts';
import { applyLimits } from './stages/apply-limits.ts';
import { redactResult, requirePrincipal } from './stages/seams.ts';
import { requireApproval } from './stages/require-approval.ts';
import type { CallState, PipelineDeps, Stage } from './types.ts';

export const TOOL_CALL_PIPELINE: ReadonlyArray<readonly [string, Stage]> = [
  // receive (parse, caps, headers, origin, version) happened in the listener: nothing unparsed gets here.
  ['authenticate', requirePrincipal], // first: every later stage keys on the verified principal
  ['route', routeTool], // before anything tool-specific; unknown and forbidden look alike
  ['classify', classifyTool], // needs the route; policy needs the class
  ['authorize', requireClassScopes], // needs the class; before validate, so a caller without the scope learns nothing more
  ['validate', validateArguments], // before policy: policy reads arguments, so they must be well-formed
  ['decide', decidePolicy], // pure; needs principal, tool, class and valid arguments
  ['limit', applyLimits], // after decide: refused calls do not spend budget
  ['approve', requireApproval], // after limit: no approval requests for calls that would be throttled
  ['record', recordIntent], // durable intent before anything reaches the upstream
  ['execute', executeCall], // the only stage that talks to the upstream
  ['redact', redactResult], // before the result leaves the gateway or is recorded
];

export async function runToolCall(ctx: RequestContext, params: JsonObject, deps: PipelineDeps): Promise<JsonObject> {
  const name = params.name;
  if (typeof name !== 'string' || name.length === 0) throw new GatehouseError('E_INVALID_PARAMS', 'invalid params: `name` must be a non-empty string');
  const s: CallState = { ctx, requested: name, params, startedAt: performance.now() };
  let outcome = 'error';
  let error: string | undefined;
  try {
    for (const [stageName, stage] of TOOL_CALL_PIPELINE) {
      s.stage = stageName;
      await stage(s, deps);
      if (s.halt) break; // answered by the stage itself (a pending approval): nothing goes upstream
    }
    outcome = s.halt ? 'input_required' : s.decision?.effect === 'shadow' ? 'shadow' : s.result?.isError === true ? 'tool_error' : s.result?.resultType === 'input_required' ? 'input_required' : 'ok';
    return s.result!;
  } catch (err) {
    error = err instanceof GatehouseError ? err.code : 'E_UPSTREAM_FAILED';
    outcome = err instanceof GatehouseError ? err.code : 'upstream_error';
    // An upstream's error can quote the secrets it was given: scrubbed like a result.
    if (err instanceof UpstreamRpcError) throw new UpstreamRpcError(err.rpcCode, deps.credentials.scrubber.value(err.message, s.injected ?? []), deps.credentials.scrubber.value(err.data, s.injected ?? []));
    throw err;
  } finally {
    const ms = performance.now() - s.startedAt;
    // The outcome record closes the intent (hash-chained, after redaction); a call refused before
    // the record stage gets a refusal record instead. Awaited: the answer leaves once it is recorded.
    if (s.intent) {
      const o = error ? 'error' : (outcome as 'ok' | 'tool_error' | 'input_required' | 'shadow');
      await deps.audit.record(deps.audit.recorder.outcome(s, s.intent.id, o, ms, error, s.injected));
    } else if (error || s.halt) {
      await deps.audit.record(deps.audit.recorder.refused(s, s.stage ?? 'receive', error ?? 'E_APPROVAL_PENDING', ms));
    }
    await s.release?.().catch(() => {});
    deps.metrics.recordCall(s.route?.server ?? '', s.route?.tool ?? '', outcome, ms / 1000);
  }
}
