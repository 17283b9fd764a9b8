/**
 * THE method table: every MCP method the gateway accepts, and the stages each passes, in order. This
 * file is the only place the order is written; each stage line says why it stands where it does, and
 * each row says why it skips a stage. A method that is not in the table is refused (-32601).
 * Config changes what a stage does, never where it runs.
 */
import { GatehouseError, UpstreamRpcError } from '../protocol/errors.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type { RequestContext } from '../gateway/context.ts';
import { requirePrincipal } from './stages/require-principal.ts';
import { routeTool } from './stages/route-tool.ts';
import { routePrompt } from './stages/route-prompt.ts';
import { routeResource } from './stages/route-resource.ts';
import { routeCompletion } from './stages/route-completion.ts';
import { routeTask } from './stages/route-task.ts';
import { classifyTarget } from './stages/classify-target.ts';
import { authorizeTarget } from './stages/authorize-target.ts';
import { validateArguments } from './stages/validate-arguments.ts';
import { decidePolicy } from './stages/decide-policy.ts';
import { inspectArguments } from './stages/inspect-arguments.ts';
import { applyLimits } from './stages/apply-limits.ts';
import { requireApproval } from './stages/require-approval.ts';
import { connectUpstream } from './stages/connect-upstream.ts';
import { recheck } from './stages/recheck.ts';
import { recordIntent } from './stages/record-intent.ts';
import { executeRequest } from './stages/execute-request.ts';
import { redactResult, scrubErrorForCaller } from './stages/redact-result.ts';
import type { AuditInput } from '../audit/log.ts';
import type { CallState, PipelineDeps, Stage, Steps, TargetKind } from './types.ts';

/** A tools/call, the fullest row; the others are this list with stages left out (said why below). */
export const TOOL_CALL_PIPELINE: Steps = [
  // receive (parse, caps, headers, origin, version) happened in the listener: nothing unparsed gets here.
  ['authenticate', requirePrincipal], // first: every later stage keys on the verified principal
  ['route', routeTool], // before anything target-specific; unknown looks like forbidden (authorize)
  ['classify', classifyTarget], // needs the route; authorize and policy need the class
  ['authorize', authorizeTarget], // visibility before everything that reads arguments or tells a forbidden tool apart
  ['validate', validateArguments], // before policy: policy reads arguments, so they must be well-formed and canonical
  ['decide', decidePolicy], // pure; needs principal, target, class and the canonical resources
  ['inspect', inspectArguments], // after decide: credentials on their way out are denied or sent for approval
  ['limit', applyLimits], // after decide: refused calls do not spend the call budget
  ['approve', requireApproval], // after limit: no approval requests for calls that would be throttled
  ['connect', connectUpstream], // the caller's tenant's connection and secrets, defining the tool as reviewed; after approve, before record
  ['recheck', recheck], // after every wait (body, approval, connection): decided again if the settings changed meanwhile
  ['record', recordIntent], // durable intent before anything reaches the upstream
  ['execute', executeRequest], // the only stage that talks to the upstream
  ['redact', redactResult], // before the result leaves the gateway or is recorded
];

const without = (names: string[], swap: Record<string, Stage> = {}): Steps =>
  TOOL_CALL_PIPELINE.filter(([n]) => !names.includes(n)).map(([n, st]) => [n, swap[n] ?? st] as const);

export interface UpstreamRow {
  kind: TargetKind;
  /** The param naming the target (a tool or prompt name, a URI, a task handle). */
  target: string;
  stages: Steps;
  /** Why a stage of the tools/call row is not in this one. */
  skips: Readonly<Record<string, string>>;
}

/** Methods that reach an upstream: each passes the stages that apply to it. */
export const UPSTREAM_METHODS: Readonly<Record<string, UpstreamRow>> = {
  'tools/call': { kind: 'tool', target: 'name', stages: TOOL_CALL_PIPELINE, skips: {} },
  'prompts/get': {
    kind: 'prompt',
    target: 'name',
    stages: without(['approve'], { route: routePrompt }),
    skips: { approve: 'a prompt only reads: policy asking approval for it is a refusal (decide)' },
  },
  'resources/read': {
    kind: 'resource',
    target: 'uri',
    stages: without(['approve'], { route: routeResource }),
    skips: { approve: 'a read: policy asking approval for it is a refusal (decide)' },
  },
  'resources/subscribe': {
    kind: 'resource',
    target: 'uri',
    stages: without(['approve'], { route: routeResource }),
    skips: { approve: 'reads to come: policy asking approval for it is a refusal (decide)' },
  },
  'resources/unsubscribe': {
    kind: 'resource',
    target: 'uri',
    stages: without(['approve'], { route: routeResource }),
    skips: { approve: 'ends a subscription: nothing to approve' },
  },
  'completion/complete': {
    kind: 'prompt', // or resource: the route stage sets it from `ref`
    target: 'ref',
    stages: without(['approve'], { route: routeCompletion }),
    skips: { approve: 'suggests argument values only: policy asking approval is a refusal (decide)' },
  },
  'tasks/get': taskRow(),
  'tasks/result': taskRow(),
  'tasks/cancel': taskRow(),
};

/**
 * tasks/*: the continuation of a tools/call, by the caller that started it. Inspected: the caller's
 * `_meta` goes on with the task's id (defined-params.ts), so a credential in it is refused as in any
 * request's (before, the row skipped inspect and an upstream was handed another tenant's secret).
 */
function taskRow(): UpstreamRow {
  const why = 'the task belongs to a tools/call that passed it; the sealed handle binds it to that caller and tool';
  return {
    kind: 'tool',
    target: 'taskId',
    stages: without(['validate', 'decide', 'approve'], { route: routeTask }),
    skips: {
      validate: why,
      decide: `${why} (modes and visibility apply again at authorize)`,
      approve: why,
    },
  };
}

/**
 * Methods the gateway answers itself. Listings come from the catalogue, filtered by the same
 * visibility test as authorize and scrubbed of injected secrets; the one exception that reaches an
 * upstream is a listing of a server whose connections differ by tenant, asked once of the caller's own
 * connection (src/pipeline/own-resources.ts, own-definitions.ts). Nothing else of them reaches an upstream.
 */
export const LOCAL_METHODS: Readonly<Record<string, string>> = {
  initialize: 'the gateway negotiates for itself; the upstreams were initialised by the gateway',
  ping: 'answered by the gateway',
  'server/discover': "the gateway's own identity and capabilities",
  'logging/setLevel': "kept on the caller's session; upstream log messages are filtered by it",
  'tools/list':
    "from the catalogue: visible tools only (policy, modes, scopes), sanitised and scrubbed; of a server whose connections differ by tenant, only those the caller's own connection defines alike",
  'prompts/list':
    "from the catalogue: visible prompts only, sanitised and scrubbed; of a server whose connections differ by tenant, only those the caller's own connection defines alike",
  'resources/list':
    "from the catalogue: visible resources only, namespaced, sanitised and scrubbed; a server whose connections differ by tenant lists the caller's own connection's (scanned like the catalogue's)",
  'resources/templates/list': 'from the catalogue: visible templates only, namespaced, sanitised and scrubbed',
  'subscriptions/listen':
    "a stream of the gateway's own change notifications (listener); each uri of its resourceSubscriptions passes the row of resources/subscribe (listen-resources.ts)",
};

/**
 * Run one upstream-bound request through its row. The answer leaves once its outcome is recorded:
 * when the store refuses the outcome, the caller gets E_AUDIT_OUTCOME_UNRECORDED instead (ADR 0006).
 */
export async function runRequest(
  ctx: RequestContext,
  method: string,
  params: JsonObject,
  deps: PipelineDeps,
): Promise<JsonObject> {
  const lost: { error?: GatehouseError } = {};
  const answer = await runRow(ctx, method, params, deps, lost).catch((err: unknown) => {
    throw lost.error ?? err;
  });
  if (lost.error) throw lost.error;
  return answer;
}

/** runRequest's work; the finally block writes its audit record (`lost`: the outcome the store refused). */
async function runRow(
  ctx: RequestContext,
  method: string,
  params: JsonObject,
  deps: PipelineDeps,
  lost: { error?: GatehouseError },
): Promise<JsonObject> {
  // Own rows only: `constructor` or `__proto__` is no method, not an inherited member.
  const row = Object.hasOwn(UPSTREAM_METHODS, method) ? UPSTREAM_METHODS[method] : undefined;
  if (!row) throw new GatehouseError('E_METHOD_NOT_FOUND', `method not found: \`${method}\``);
  const t = params[row.target];
  const requested = row.target === 'ref' ? targetOfRef(t) : t;
  if (typeof requested !== 'string' || requested.length === 0)
    throw new GatehouseError('E_INVALID_PARAMS', `invalid params: \`${row.target}\` must be a non-empty string`);
  const kind = row.target === 'ref' && (t as JsonObject).type === 'ref/resource' ? 'resource' : row.kind;
  const s: CallState = { ctx, method, kind, requested, params, startedAt: performance.now(), decidedBy: deciding(row) };
  let outcome = 'error';
  let error: string | undefined;
  let failure: unknown;
  try {
    // A principal that spent its refusal budget is refused everything until it refills.
    deps.refusals?.check(ctx.principal.key);
    for (const [stageName, stage] of row.stages) {
      s.stage = stageName;
      // Traced: each stage a child span of the request's (src/observability/tracing.ts); same call either way.
      const done = deps.tracer ? deps.tracer.stage(ctx, stageName, () => stage(s, deps)) : stage(s, deps);
      if (done) await done; // most stages are synchronous: no turn of the microtask queue for them
      if (s.halt) break; // answered by the stage itself (a pending approval): nothing goes upstream
    }
    outcome = outcomeOf(s);
    // Every row ends at execute and redact, and a stage that halts answers itself: a result is set.
    if (!s.result) throw new GatehouseError('E_INTERNAL', `\`${method}\` passed its stages without a result`);
    // The gateway's own answer to a task-augmented call goes as an error, audited as that answer (below).
    if (!s.answerAsError) return s.result;
  } catch (err) {
    failure = err;
    error = err instanceof GatehouseError ? err.code : 'E_UPSTREAM_FAILED';
    outcome = err instanceof GatehouseError ? err.code : 'upstream_error';
    // An upstream's error can quote the secrets it was given, or others it found: scrubbed like a
    // result (a -32042's URL elicitations like questions: redact-result.ts).
    if (err instanceof UpstreamRpcError) throw scrubErrorForCaller(s, deps)(err);
    throw err;
  } finally {
    await closeRequest(s, deps, { outcome, error, failure }, lost);
  }
  throw s.answerAsError;
}

/**
 * After a request, whatever happened: its concurrency slot given back, its metrics, its audit record
 * and, for a refusal, its cost to the refusal budget. The slot goes first and on its own, and the
 * budget is spent even when recording fails: nothing recording throws (the store away, a value it
 * cannot encode) may keep a slot held for every tenant or let refusals go uncounted.
 */
async function closeRequest(
  s: CallState,
  deps: PipelineDeps,
  { outcome, error, failure }: { outcome: string; error: string | undefined; failure: unknown },
  lost: { error?: GatehouseError },
): Promise<void> {
  const ms = performance.now() - s.startedAt;
  try {
    await s.lease?.release();
  } catch {
    // A lease the limiter cannot release ends with its time to live.
  }
  let counted = outcome;
  try {
    // Records are redacted of every tenant's injected secrets, not only this call's: a request may
    // carry another's (what inspect refuses, or lets through when the operator allows or approves it).
    const secrets = deps.credentials.scrubber.valuesWith(s.injected);
    // The outcome record closes the intent (hash-chained, after redaction); a request refused before
    // the record stage gets a refusal record instead. Awaited: the answer leaves once it is recorded.
    if (s.intent) {
      const o = error ? failedOutcome(s.stage, failure) : (outcome as Completed);
      const record = deps.audit.recorder.outcome(s, s.intent.id, o, ms, error, secrets);
      // Late when this gateway looked stopped and another closed the call as unknown meanwhile (liveness.ts).
      const checked = deps.audit.liveness.outcome(record, s.intent, s.startedAt);
      lost.error = await closeIntent(deps, checked instanceof Promise ? await checked : checked);
      if (lost.error) counted = lost.error.code; // counted as what its caller got
    } else if (error || s.halt) {
      await deps.audit.record(
        deps.audit.recorder.refused(s, s.stage ?? 'receive', error ?? 'E_APPROVAL_PENDING', ms, secrets),
      );
    }
  } finally {
    deps.metrics.recordCall(
      s.route?.server ?? '',
      s.kind === 'tool' && s.method === 'tools/call' ? toolLabel(s.route) : s.method,
      counted,
      ms / 1000,
    ); // URIs would be unbounded labels
    if (!s.intent && error) await deps.refusals?.spend(s.ctx.principal.tenant, s.ctx.principal.key, error);
  }
}

/** A call's tool as a metric label: a catalogued name; a name of a server never catalogued is the caller's text (unbounded), so none. */
function toolLabel(route: CallState['route']): string {
  return !route || route.unconnected ? '' : route.tool;
}

/**
 * Writes a call's outcome, closing its intent; the error the caller gets instead of its answer when
 * the store refuses it (the audit keeps the outcome and records it once the store is back).
 */
function closeIntent(deps: PipelineDeps, outcome: AuditInput): Promise<GatehouseError | undefined> {
  return deps.audit.outcome(outcome).then(
    () => undefined,
    (err: Error) => new GatehouseError('E_AUDIT_OUTCOME_UNRECORDED', undefined, undefined, err),
  );
}

/** The stages that decide a request: what recheck runs again on new settings. */
const DECIDING = new Set(['route', 'classify', 'authorize', 'validate', 'decide', 'inspect']);
const decidingOf = new Map<UpstreamRow, Steps>();
function deciding(row: UpstreamRow): Steps {
  const known = decidingOf.get(row);
  if (known) return known;
  const steps = row.stages.filter(([n]) => DECIDING.has(n));
  decidingOf.set(row, steps);
  return steps;
}

/** How a request that passed its stages ended (a halt is an answer waiting for input: an approval). */
type Completed = 'ok' | 'tool_error' | 'input_required' | 'shadow';

function outcomeOf(s: CallState): Completed {
  if (s.halt) return 'input_required';
  if (s.decision?.effect === 'shadow') return 'shadow';
  if (s.result?.isError === true) return 'tool_error';
  if (s.result?.resultType === 'input_required') return 'input_required';
  return 'ok';
}

/**
 * A failed request's outcome: `unknown` when it may have reached the upstream (and acted), never
 * `error` — a write whose upstream died mid-call, timed out or was cancelled may have happened.
 * Only a failure before anything was sent (no connection, an open circuit) or an answer from the
 * upstream itself (a JSON-RPC error) is a plain `error`.
 */
function failedOutcome(stage: string | undefined, err: unknown): 'unknown' | 'error' {
  if (stage !== 'execute' || err instanceof UpstreamRpcError) return 'error';
  const notSent =
    err instanceof GatehouseError &&
    (err.code === 'E_UPSTREAM_UNAVAILABLE' || err.code === 'E_METHOD_NOT_FOUND' || err.code === 'E_TASK_ELSEWHERE');
  return notSent ? 'error' : 'unknown';
}

/** completion/complete: the prompt name or resource URI its `ref` names. */
function targetOfRef(ref: unknown): unknown {
  if (!ref || typeof ref !== 'object') return undefined;
  const r = ref as JsonObject;
  if (r.type === 'ref/prompt') return r.name;
  if (r.type === 'ref/resource') return r.uri;
  return undefined;
}
