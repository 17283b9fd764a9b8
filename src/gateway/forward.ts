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

/**
 * What the gateway answers itself, for the connection `via`, when an upstream asks a question during
 * a call, whoever the caller: what its row of the table (src/protocol/upstream-methods.ts) says the
 * gateway hears (ping: an empty result), and `roots/list` of a server configured `roots: false`
 * (declared to it as not there: it gets what it was told). Undefined: a question for the caller.
 */
function gatewayAnswer(via: Upstream, method: string): ServerRequestAnswer | undefined {
  const row = upstreamRequest(method);
  if (row?.inCall === 'gateway') return { result: {} };
  if (!row || (method === 'roots/list' && via.cfg.roots === false))
    return { error: { code: -32601, message: `the client does not support \`${method}\`` } };
  return undefined;
}

/**
 * THE rule for a question an upstream asks during a call, asked by request (a 2025-11-25 server) or in
 * an `input_required` result (2026-07-28), of a caller of either era: the gateway's own answer
 * (gatewayAnswer), or -32601 when the caller did not declare the capability its row needs; undefined
 * when the caller is to be asked.
 */
function answerHere(via: Upstream, caps: JsonObject, method: string): ServerRequestAnswer | undefined {
  const own = gatewayAnswer(via, method);
  if (own) return own;
  const cap = capabilityFor(method);
  if (!cap || !caps[cap]) return { error: { code: -32601, message: `the client does not support \`${method}\`` } };
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
 * -32601 to), counted and logged as the connection's refusal; nothing of it reaches the caller. The
 * rest then meet the rule of a question asked by request (answerHere: askLegacy, sortQuestions).
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

/** What a modern caller's call to a 2026-07-28 upstream gives back: its result, or the answers the gateway gives for it. */
type Sorted = { result: JsonObject } | { answers: JsonObject; state: unknown };

/**
 * A 2026-07-28 upstream's `input_required` for a modern caller, its questions put to the one rule
 * (answerHere) a question asked by request meets: only those for the caller reach it. What the gateway
 * answers itself (ping) goes back upstream in a retry of its own when no question is left for the
 * caller (a caller's retry would not carry it). 2026-07-28 has no error answer in `inputResponses`, so
 * a question the gateway refuses ends the call, as it ends a legacy caller's: -32021 naming the
 * sampling or elicitation capability the caller did not declare (as for a question asked by request),
 * else (roots: not declared, or the server configured `roots: false`) the client could not answer it.
 */
function sortQuestions(up: Upstream, caps: JsonObject, result: JsonObject): Sorted {
  const requests = knownQuestions(up, result).inputRequests;
  if (result.resultType !== 'input_required' || !requests || typeof requests !== 'object') return { result };
  const mine: JsonObject = {};
  const answers: JsonObject = {};
  const missing: JsonObject = {};
  for (const [key, q] of Object.entries(requests as JsonObject)) {
    const method = String((q as JsonObject).method);
    const own = answerHere(up, caps, method);
    if (!own) mine[key] = q;
    else if ('result' in own) answers[key] = own.result;
    else if (method !== 'roots/list' && !caps[capabilityFor(method) ?? '']) missing[capabilityFor(method) ?? ''] = {};
    else throw new GatehouseError('E_UPSTREAM_FAILED', `the client could not answer ${questionName(method)}`);
  }
  if (Object.keys(missing).length) throw missingCapabilities(missing);
  if (Object.keys(mine).length || !Object.keys(answers).length) return { result: { ...result, inputRequests: mine } };
  return { answers, state: result.requestState };
}

/** A modern caller's call to a modern upstream: the questions the gateway answers itself are answered upstream here. */
async function modernUpstreamCall(
  up: Upstream,
  ctx: RequestContext,
  method: string,
  params: JsonObject,
  opts: Parameters<Upstream['request']>[2],
): Promise<JsonObject> {
  let p = params;
  for (let round = 0; ; round++) {
    const sorted = sortQuestions(up, ctx.clientCapabilities, await up.request(method, p, opts));
    if ('result' in sorted) return sorted.result;
    if (round >= MAX_ROUNDS) throw new GatehouseError('E_UPSTREAM_PROTOCOL', 'upstream asked for input too many times');
    const { requestState: _s, ...rest } = params;
    p = { ...rest, inputResponses: sorted.answers };
    if (typeof sorted.state === 'string') p.requestState = sorted.state;
  }
}

/** The refusal of questions the caller cannot be asked: the capabilities they need, named (-32021). */
function missingCapabilities(missing: JsonObject): GatehouseError {
  const named = Object.keys(missing)
    .map((c) => `\`${c}\``)
    .join(', ');
  return new GatehouseError('E_MISSING_CAPABILITY', `missing required client capability: ${named}`, {
    requiredCapabilities: missing,
  });
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
  const refused = answerHere(a.via, ctx.clientCapabilities, r.method);
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

/** A question an upstream asked by request: a refused answer (a credential, text that is not Unicode) is an error to it, naming nothing of the answer. */
function askedOnStream(a: Asking, r: JsonRpcRequest): Promise<ServerRequestAnswer> {
  return askLegacy(a, r).catch((err: unknown) => {
    if (!(err instanceof GatehouseError) || (err.code !== 'E_POLICY_DENIED' && err.code !== 'E_INVALID_PARAMS'))
      throw err;
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
      modernUpstreamCall(up, ctx, method, base, {
        tenant: ctx.principal.tenant,
        signal: ctx.signal,
        headers,
        clientCapabilities: declaredFor(ctx),
        onNotification,
        askable,
        beforeSend,
        // The caller's capabilities are checked when its questions are put to it (stepHeld).
        onServerRequest: (r) => {
          const own = gatewayAnswer(up, r.method);
          return own ? Promise.resolve(own) : ask(r);
        },
      }),
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
      throw missingCapabilities(missing);
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
