/**
 * Sending one caller's request to one upstream, in either era on either side:
 * - progress: the caller's token is swapped for a gateway-unique one upstream and swapped back;
 * - server->client requests from a legacy upstream go to the legacy caller that caused them, or
 *   become an `input_required` round trip for a modern caller (holds.ts);
 * - `input_required` from a modern upstream passes to a modern caller as is, and is played out as
 *   server->client requests for a legacy caller;
 * - URL elicitations (sign-in links): a legacy caller's carry an `elicitationId`, the upstream's or,
 *   from a 2026-07-28 upstream that has none, the gateway's own; their completion reaches the
 *   session asked (elicitations.ts); a -32042 error asking them is `input_required` for a modern caller;
 * - the caller's `_meta` protocol keys never go upstream (the gateway speaks for itself).
 */
import { admitsLevel } from '../protocol/log-levels.ts';
import { hash, randomBytes } from 'node:crypto';
import { forLegacyCaller, GatehouseError, UpstreamRpcError, urlElicitationsOf } from '../protocol/errors.ts';
import type { JsonObject, JsonRpcNotification, JsonRpcRequest } from '../protocol/jsonrpc.ts';
import type { Upstream } from '../upstream/upstream.ts';
import type { CallOptions, ServerRequestAnswer } from '../upstream/types.ts';
import type { RequestContext } from './context.ts';
import { type AskingCall, elicitationRoutes } from './elicitations.ts';
import { hearerOf, upstreamNotification, upstreamRequest } from '../protocol/upstream-methods.ts';
import type { HeldScrubs, Holds } from './holds.ts';
import { RELATED_TASK } from './task-ids.ts';

const MAX_ROUNDS = 8;
let tokenSeq = 0;
/** The progress tokens this gateway gives servers: a random prefix (the process id told servers which process, and let them guess the next token). */
const TOKEN_PREFIX = `gh-${randomBytes(9).toString('base64url')}`;

/** Methods during which an upstream may ask the caller something, and what it may ask. */
const MAY_ASK = new Set(['tools/call', 'prompts/get', 'resources/read', 'completion/complete']);
const ASKABLE = ['sampling', 'elicitation', 'roots'];

/** The client capability an upstream's question needs, as its row of the table says (none for a method not in it). */
function capabilityFor(method: string): string | undefined {
  return upstreamRequest(method)?.capability;
}

/** Params for upstream: caller's _meta without protocol keys, progress token swapped. */
function upstreamParams(params: JsonObject | undefined, token: string | undefined): JsonObject {
  const out: JsonObject = { ...(params ?? {}) };
  const meta: JsonObject = {};
  const callerMeta = params?._meta as JsonObject | undefined;
  if (callerMeta)
    // The protocol's keys and the gateway's own (a run label, an approval) are not the server's.
    for (const [k, v] of Object.entries(callerMeta))
      if (!k.startsWith('io.modelcontextprotocol/') && !k.startsWith('io.gatehouse/') && k !== 'progressToken')
        meta[k] = v;
  if (token !== undefined) meta.progressToken = token;
  if (Object.keys(meta).length) out._meta = meta;
  else delete out._meta;
  delete out.inputResponses;
  delete out.requestState;
  return out;
}

/** Should a log message at `level` reach this caller? */
function wantsLog(ctx: RequestContext, level: unknown): boolean {
  if (ctx.logLevel === undefined) return ctx.era === 'legacy';
  return admitsLevel(ctx.logLevel, level);
}

/** Removes what must not reach the caller from something the upstream says to it. */
export type Scrub = <T>(v: T) => T;
const asIs: Scrub = (v) => v;
/** Removes what must not reach the caller from the params of a question (`method`) the upstream asks it. */
export type ScrubQuestion = (method: string, params: JsonObject) => JsonObject;

/**
 * Checks a legacy caller's answer to an upstream's question (`method`) before it goes upstream, as a
 * request's params are checked (inspect): throws a GatehouseError when it may not go.
 */
export type CheckAnswer = (method: string, answer: ServerRequestAnswer) => void;

/**
 * What is removed from what the upstream says to the caller during a call: `questions` (sampling,
 * elicitation, roots requests) and `notices` (progress and log messages); the pipeline removes from
 * both all it removes from a result (from questions less a URL elicitation's link: redact-result.ts).
 * And what the caller says back: `answers`, checked (a modern caller's answers come in its retry's
 * params, which the pipeline checks as any request's).
 */
export interface Scrubs {
  questions: ScrubQuestion;
  notices: Scrub;
  answers: CheckAnswer;
}

/**
 * What the upstream says during the call, to its caller: the peer gives a call only the notifications
 * whose row of the table (src/protocol/upstream-methods.ts) names the caller as the hearer there.
 */
function relay(ctx: RequestContext, token: string | undefined, scrub: Scrub): (n: JsonRpcNotification) => void {
  return (n) => {
    const row = upstreamNotification(n.method);
    if (!row || hearerOf(row, true) !== 'caller') return;
    if (n.method === 'notifications/progress') {
      if (ctx.progressToken === undefined || n.params?.progressToken !== token) return;
      // The caller's own token goes back as it sent it: set after scrubbing, never altered by it.
      const out = scrub(n);
      ctx.outlet.notify({ ...out, params: { ...out.params, progressToken: ctx.progressToken } });
    } else if (wantsLog(ctx, n.params?.level)) ctx.outlet.notify(scrub(n)); // notifications/message
  };
}

/** Questions the caller cannot answer (it did not declare the capability) are refused here. */
function refusal(ctx: RequestContext, r: JsonRpcRequest): ServerRequestAnswer | undefined {
  if (r.method === 'ping') return { result: {} };
  const cap = capabilityFor(r.method);
  if (!cap || !ctx.clientCapabilities[cap])
    return { error: { code: -32601, message: `the client does not support \`${r.method}\`` } };
  return undefined;
}

/**
 * A URL elicitation as a 2025-11-25 caller must get it: with an `elicitationId` (its clients refuse
 * one without). 2026-07-28 dropped the id, with the completion notification that named it, so one
 * from a modern upstream's `input_required` gets the gateway's own: random (guessed by no one, of
 * this tenant or another), for this one question. No upstream can name it later, so nothing is
 * remembered for it: the call's going on is its completion.
 */
function withElicitationId(method: string, params: JsonObject): JsonObject {
  if (method !== 'elicitation/create' || params.mode !== 'url' || typeof params.elicitationId === 'string')
    return params;
  return { ...params, elicitationId: `eli_${randomBytes(16).toString('base64url')}` };
}

/** Where the questions of one legacy caller's call go, and how their URL elicitations are remembered. */
interface Asking {
  ctx: RequestContext;
  scrub: ScrubQuestion;
  check: CheckAnswer;
  /** The connection asking (its URL elicitations' completions come back on it). */
  via: Upstream;
  call: AskingCall;
}

/**
 * A 2026-07-28 upstream's `input_required` asks its questions in its result, not by request: each
 * must be one the table lets an upstream ask a caller (src/protocol/upstream-methods.ts), as the peer
 * checks a question asked by request. One that is not fails the call (there is no request to answer
 * -32601 to), counted and logged as the connection's refusal; nothing of it reaches the caller.
 */
function knownQuestions(up: Upstream, result: JsonObject): JsonObject {
  if (result.resultType !== 'input_required') return result;
  const requests = result.inputRequests;
  if (!requests || typeof requests !== 'object') return result;
  for (const q of Object.values(requests as JsonObject)) {
    const method = (q as JsonObject | null)?.method;
    if (typeof method === 'string' && upstreamRequest(method)) continue;
    up.emit('refused', 'request', typeof method === 'string' ? method : '');
    throw new GatehouseError(
      'E_UPSTREAM_PROTOCOL',
      'the upstream asked for input the gateway relays to no client (method not found): the call is ended',
    );
  }
  return result;
}

/** A question as an error names it: its method when the table names it, else not the upstream's text. */
function questionName(method: unknown): string {
  return typeof method === 'string' && upstreamRequest(method) ? `\`${method}\`` : 'a request it cannot be asked';
}

/**
 * Ask a legacy caller on its stream. Its answer goes back as it is, once checked: one that may not
 * go (a credential in it) throws, failing the call when the answer was to go in a retry (a modern
 * upstream's `input_required`, as a modern caller's retry is refused); `askedOnStream` tells the
 * upstream that asked by request only that the gateway refused it, and its call goes on.
 */
async function askLegacy(a: Asking, r: JsonRpcRequest): Promise<ServerRequestAnswer> {
  const { ctx } = a;
  // Declared to it as not there (`roots: false`): a server that asks anyway gets what it was told.
  const undeclared = r.method === 'roots/list' && a.via.cfg.roots === false;
  const refused = undeclared
    ? { error: { code: -32601, message: 'the client does not support `roots/list`' } }
    : refusal(ctx, r);
  if (refused) return refused;
  if (!ctx.outlet.ask) return { error: { code: -32601, message: `the client cannot be asked \`${r.method}\` now` } };
  // Only the params are scrubbed: the caller answers the gateway's own id.
  const params = a.scrub(r.method, withElicitationId(r.method, r.params ?? {}));
  const upstreamId = r.params?.elicitationId;
  if (r.method === 'elicitation/create' && params.mode === 'url' && typeof upstreamId === 'string')
    remember(a, upstreamId, params.elicitationId);
  const answer = await ctx.outlet.ask(r.method, params, ctx.signal);
  a.check(r.method, answer);
  return answer;
}

/** A question an upstream asked by request: a refused answer is an error to it, naming nothing of the answer. */
function askedOnStream(a: Asking, r: JsonRpcRequest): Promise<ServerRequestAnswer> {
  return askLegacy(a, r).catch((err: unknown) => {
    if (!(err instanceof GatehouseError) || err.code !== 'E_POLICY_DENIED') throw err;
    return { error: { code: -32603, message: "the gateway refused the client's answer" } };
  });
}

/** The upstream's URL elicitation `id` was shown to this caller as `shown`: its completion is for this session. */
function remember(a: Asking, id: string, shown: unknown): void {
  if (a.ctx.session && typeof shown === 'string') elicitationRoutes(a.via).asked(id, a.ctx.session, shown, a.call);
}

/** What to declare to a modern upstream on the caller's behalf: only what the caller declared and we can carry. */
function declaredFor(ctx: RequestContext): JsonObject {
  const out: JsonObject = {};
  for (const cap of ['sampling', 'elicitation', 'roots'])
    if (ctx.clientCapabilities[cap]) out[cap] = ctx.clientCapabilities[cap];
  return out;
}

/**
 * What a held call's `requestState` is bound to: the exact principal (its key: via, issuer, tenant,
 * subject — a subject alone is a name another tenant's identity provider may also issue), the
 * endpoint, the method, the server and its target. Presented by anyone else it is an invalid state.
 */
function binding(up: Upstream, ctx: RequestContext, method: string, params: JsonObject | undefined): string {
  const what = JSON.stringify([ctx.principal.key, ctx.scope, method, up.name, params?.name ?? params?.uri ?? '']);
  return hash('sha256', what, 'base64url');
}

export async function forward(
  up: Upstream,
  ctx: RequestContext,
  method: string,
  params: JsonObject | undefined,
  holds: Holds,
  headers?: Record<string, string>,
  scrubs: Scrubs = { questions: (_method, params) => params, notices: asIs, answers: () => {} },
  beforeSend?: () => Promise<void>,
): Promise<JsonObject> {
  const token = ctx.progressToken !== undefined ? `${TOKEN_PREFIX}-${++tokenSeq}` : undefined;
  if (token !== undefined) ctx.upstreamProgressToken = token;
  const scrub = scrubs.questions;
  const askable = ASKABLE.some((c) => ctx.clientCapabilities[c]);

  if (ctx.era === 'modern') {
    const state = params?.requestState;
    if (holds.isOurs(state)) {
      const bound = binding(up, ctx, method, params);
      const at = holds.locate(state, bound);
      if ('held' in at) return resumeHeld(holds, ctx, params, at.held, scrub);
      // Held on another replica: the retry goes there (its seal checked here first), the outcome comes back.
      const { principal } = ctx;
      const retry = { state, binding: bound, principal: principal.key, tenant: principal.tenant };
      const inputResponses = params?.inputResponses as JsonObject | undefined;
      return holds.elsewhere(
        at.replica,
        { ...retry, inputResponses, capabilities: ctx.clientCapabilities },
        ctx.signal,
      );
    }
    const base = upstreamParams(params, token);
    // A modern caller's retry of a modern upstream's input_required goes back verbatim.
    if (params?.inputResponses !== undefined) base.inputResponses = params.inputResponses;
    if (typeof state === 'string') base.requestState = state;
    const held = holds.create(binding(up, ctx, method, params));
    held.scrubs = { questions: scrub, result: scrubs.notices };
    const onNotification = relay(ctx, token, scrubs.notices);
    held.start((ask) =>
      up
        .request(method, base, {
          tenant: ctx.principal.tenant,
          signal: ctx.signal,
          headers,
          clientCapabilities: declaredFor(ctx),
          onNotification,
          askable,
          beforeSend,
          onServerRequest: (r) => (r.method === 'ping' ? Promise.resolve({ result: {} }) : ask(r)),
        })
        .then((r) => knownQuestions(up, r)),
    );
    return resumeHeld(holds, ctx, params, held, scrub);
  }

  // Legacy caller. One that can be asked questions is served over a 2025-11-25 session when the
  // upstream speaks both eras: there, a server asks by request (what servers written against the
  // classic API do), where 2026-07-28 would need `input_required`.
  const via = MAY_ASK.has(method) && askable ? ((await up.legacySession()) ?? up) : up;
  const asking: Asking = { ctx, scrub, check: scrubs.answers, via, call: { notify: (n) => ctx.outlet.notify(n) } };
  const opts = { headers, beforeSend, askable, onNotification: relay(ctx, token, scrubs.notices) };
  try {
    return await forwardLegacy(asking, method, params, token, opts);
  } finally {
    asking.call.notify = undefined; // answered: a completion after this goes to the session's stream only
  }
}

/** A legacy caller's request, its questions asked on its stream (a modern upstream's `input_required` too). */
async function forwardLegacy(
  asking: Asking,
  method: string,
  params: JsonObject | undefined,
  token: string | undefined,
  opts: Pick<CallOptions, 'headers' | 'beforeSend' | 'askable' | 'onNotification'>,
): Promise<JsonObject> {
  const { ctx, scrub, via } = asking;
  let p = upstreamParams(params, token);
  for (let round = 0; ; round++) {
    const result = await via
      .request(method, p, {
        ...opts,
        tenant: ctx.principal.tenant,
        signal: ctx.signal,
        clientCapabilities: declaredFor(ctx),
        onServerRequest: (r) => askedOnStream(asking, r),
      })
      .catch((err: unknown) => {
        // A -32042 asks the caller its URL elicitations (in the error, scrubbed by the questions'
        // rule in the pipeline, as here): their completion is for this session too.
        for (const e of urlElicitationsOf(err) ?? [])
          if (typeof e.elicitationId === 'string')
            remember(asking, e.elicitationId, scrub('elicitation/create', e).elicitationId);
        return Promise.reject(forLegacyCaller(err));
      });
    if (knownQuestions(via, result).resultType !== 'input_required') return legacyShape(result);
    if (round >= MAX_ROUNDS) throw new GatehouseError('E_UPSTREAM_PROTOCOL', 'upstream asked for input too many times');
    const requests = (result.inputRequests ?? {}) as Record<string, JsonRpcRequest>;
    const responses: JsonObject = {};
    for (const [key, req] of Object.entries(requests)) {
      const a = await askLegacy(asking, {
        jsonrpc: '2.0',
        id: key,
        method: String(req?.method),
        params: req?.params as JsonObject,
      });
      if ('error' in a)
        throw new GatehouseError('E_UPSTREAM_FAILED', `the client could not answer ${questionName(req?.method)}`);
      responses[key] = a.result;
    }
    p = { ...upstreamParams(params, token), inputResponses: responses };
    if (typeof result.requestState === 'string') p.requestState = result.requestState;
  }
}

/**
 * A 2026-07-28 result as a 2025-11-25 caller expects it: no `resultType`, no modern result `_meta`
 * keys (the related task's stays: 2025-11-25 says it, and the pipeline names the caller's handle in it).
 */
function legacyShape(r: JsonObject): JsonObject {
  if (r.resultType === undefined && r._meta === undefined) return r;
  const { resultType: _rt, ttlMs: _ttl, cacheScope: _cs, ...rest } = r;
  const meta = r._meta as JsonObject | undefined;
  if (meta) {
    const kept = Object.fromEntries(
      Object.entries(meta).filter(([k]) => k === RELATED_TASK || !k.startsWith('io.modelcontextprotocol/')),
    );
    if (Object.keys(kept).length) rest._meta = kept;
    else delete rest._meta;
  }
  return rest;
}

/** What of a caller a held call's next step depends on: when it leaves, and what it can be asked. */
type HeldCaller = Pick<RequestContext, 'signal' | 'clientCapabilities'>;

/**
 * A retry relayed from another replica (held-relay.ts), for a call held here: resumed as a local
 * retry is, with the scrubs of the request that made the hold (what goes back over Redis is already
 * what the caller may see); the caller's answers were checked on the replica it reached.
 */
export function resumeRelayed(
  holds: Holds,
  held: ReturnType<Holds['create']>,
  caller: HeldCaller,
  inputResponses: JsonObject | undefined,
  scrubs: HeldScrubs,
): Promise<JsonObject> {
  // An input_required's questions are scrubbed by their own rule already (a link keeps its format).
  const scrubbed = (r: JsonObject) => (r.resultType === 'input_required' ? r : scrubs.result(r));
  return resumeHeld(holds, caller, { inputResponses }, held, scrubs.questions).then(scrubbed, (err: unknown) => {
    throw err instanceof UpstreamRpcError
      ? new UpstreamRpcError(err.rpcCode, scrubs.result(err.message), scrubs.result(err.data))
      : err;
  });
}

async function resumeHeld(
  holds: Holds,
  ctx: HeldCaller,
  params: JsonObject | undefined,
  held: ReturnType<Holds['create']>,
  scrub: ScrubQuestion,
): Promise<JsonObject> {
  if (params?.inputResponses && typeof params.inputResponses === 'object')
    held.answer(params.inputResponses as JsonObject);
  try {
    return await stepHeld(holds, ctx, held, scrub);
  } catch (err) {
    // The caller left before it was ever given a request state: no retry can come for this call, so
    // its hold goes now (its caps and request bytes with it), not when it expires. Before, 20
    // dropped connections locked a principal out of every modern call for five minutes.
    if (ctx.signal.aborted && !held.sealed) {
      held.abandon();
      holds.release(held);
    }
    throw err;
  }
}

/** The held call's next step as the caller must see it: questions (as input_required), its result or its failure. */
async function stepHeld(
  holds: Holds,
  ctx: HeldCaller,
  held: ReturnType<Holds['create']>,
  scrub: ScrubQuestion,
): Promise<JsonObject> {
  let step = await held.next(ctx.signal);
  while ('questions' in step) {
    // Roots the caller did not declare are answered "unsupported" upstream; sampling or elicitation
    // it did not declare end the call with -32021 (2026-07-28), since the tool cannot go on without them.
    const missing: JsonObject = {};
    for (const q of step.questions) {
      const cap = capabilityFor(q.request.method);
      if (cap && ctx.clientCapabilities[cap]) continue;
      if (cap === 'roots' || !cap)
        held.answerHere(q.key, {
          error: { code: -32601, message: `the client does not support \`${q.request.method}\`` },
        });
      else missing[cap] = {};
    }
    if (Object.keys(missing).length) {
      held.abandon();
      holds.release(held);
      throw new GatehouseError(
        'E_MISSING_CAPABILITY',
        `missing required client capability: ${Object.keys(missing)
          .map((c) => `\`${c}\``)
          .join(', ')}`,
        { requiredCapabilities: missing },
      );
    }
    const asked = step.questions.filter((q) => ctx.clientCapabilities[capabilityFor(q.request.method) ?? '']);
    if (asked.length) {
      step = { questions: asked };
      break;
    }
    step = await held.next(ctx.signal);
  }
  if ('questions' in step) {
    const inputRequests: JsonObject = {};
    for (const q of step.questions)
      inputRequests[q.key] = { method: q.request.method, params: scrub(q.request.method, q.request.params ?? {}) };
    return { resultType: 'input_required', inputRequests, requestState: holds.seal(held) };
  }
  holds.release(held);
  if ('failed' in step) {
    const links = urlElicitationsOf(step.failed);
    if (links) return askInstead(ctx, links, scrub);
    throw step.failed;
  }
  return step.done;
}

/**
 * A -32042 (2025-11-25's URLElicitationRequiredError) for a 2026-07-28 caller, which has no such
 * error: the same question as 2026-07-28 asks it, `input_required` with the URL elicitations, and no
 * request state, since nothing waits here: the caller's retry is the request again (its
 * `inputResponses` are not sent to a 2025-11-25 server: upstream.ts), which is what the upstream
 * asked for once the user has been to the links. A caller that did not declare URL elicitation gets
 * -32021 naming it, as for a question it cannot answer.
 */
function askInstead(ctx: HeldCaller, links: JsonObject[], scrub: ScrubQuestion): JsonObject {
  if (!(ctx.clientCapabilities.elicitation as JsonObject | undefined)?.url)
    throw new GatehouseError('E_MISSING_CAPABILITY', 'missing required client capability: `elicitation.url`', {
      requiredCapabilities: { elicitation: { url: {} } },
    });
  const inputRequests: JsonObject = {};
  links.forEach((e, i) => {
    inputRequests[`elicitation-${i + 1}`] = { method: 'elicitation/create', params: scrub('elicitation/create', e) };
  });
  return { resultType: 'input_required', inputRequests };
}
