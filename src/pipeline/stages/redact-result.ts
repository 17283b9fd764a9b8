/**
 * redact: before anything of the answer leaves the gateway or is recorded, the secrets injected into
 * this caller's connection are removed from it in every encoding, at any depth (past the depth bound
 * the rest is withheld, never passed through), including a secret split across content items. On the
 * aggregate endpoint, resource URIs in the answer are namespaced so a follow-up read is routed back.
 */
import { namespaceUris } from '../../catalog/uris.ts';
import type { Scrub, ScrubQuestion } from '../../gateway/forward.ts';
import { UpstreamRpcError, urlElicitationsOf } from '../../protocol/errors.ts';
import type { JsonObject } from '../../protocol/jsonrpc.ts';
import type { CallState, PipelineDeps, Stage } from '../types.ts';
import { routeOf } from './needs.ts';

/**
 * What of the upstream's words may reach the caller: without the secrets injected into this call's
 * connection and, when configured (`secrets.results: redact`), without well-known secret formats (an
 * AWS key a tool read somewhere). One rule for the result, the upstream's error (index.ts), the log
 * and progress messages relayed during the call (execute) and its questions (scrubQuestionForCaller):
 * a token the result would not show must not arrive by another of them.
 */
export function scrubForCaller(s: CallState, { credentials, resultSecrets }: PipelineDeps): Scrub {
  return (v) => {
    const scrubbed = credentials.scrubber.value(v, s.injected ?? []);
    return resultSecrets === 'redact' ? credentials.scrubber.patterns(scrubbed) : scrubbed;
  };
}

/**
 * The same rule for the params of a question the upstream asks the caller (sampling, elicitation,
 * roots; asked on a legacy caller's stream or in an `input_required` result), but for the `url` and
 * `elicitationId` of a URL-mode elicitation: these lose secret values only. The link is where a
 * sign-in flow carries its one-time token (`?token=...`, a JWT), which a format would break; its
 * `message` is scrubbed as any text (docs/architecture/0010-complete-mediation.md).
 */
export function scrubQuestionForCaller(s: CallState, deps: PipelineDeps): ScrubQuestion {
  const scrub = scrubForCaller(s, deps);
  const { credentials, resultSecrets } = deps;
  return (method, params) => {
    if (method !== 'elicitation/create' || params.mode !== 'url' || resultSecrets !== 'redact') return scrub(params);
    const { url, elicitationId, ...rest } = credentials.scrubber.value(params, s.injected ?? []);
    // Only a link (a string) keeps its formats: anything else under these names is no link.
    const out = credentials.scrubber.patterns({
      ...rest,
      ...(url === undefined || typeof url === 'string' ? {} : { url }),
      ...(elicitationId === undefined || typeof elicitationId === 'string' ? {} : { elicitationId }),
    });
    if (typeof url === 'string') out.url = url;
    if (typeof elicitationId === 'string') out.elicitationId = elicitationId;
    return out;
  };
}

const isObject = (v: unknown): v is JsonObject => !!v && typeof v === 'object' && !Array.isArray(v);

/**
 * An upstream's JSON-RPC error as the caller may see it: message and data by the result's rule, but
 * for the URL elicitations a -32042 carries, which are questions like those asked during a call (the
 * user opens the link, then retries) and go by the questions' rule: their `url` and `elicitationId`
 * lose secret values only, so a sign-in link's one-time token still works.
 */
export function scrubErrorForCaller(s: CallState, deps: PipelineDeps): (err: UpstreamRpcError) => UpstreamRpcError {
  const scrub = scrubForCaller(s, deps);
  const ask = scrubQuestionForCaller(s, deps);
  return (err) => {
    const elicitations = urlElicitationsOf(err);
    if (!elicitations) return new UpstreamRpcError(err.rpcCode, scrub(err.message), scrub(err.data));
    const { elicitations: _asked, ...rest } = err.data as JsonObject;
    const data = { ...scrub(rest), elicitations: elicitations.map((e) => ask('elicitation/create', e)) };
    return new UpstreamRpcError(err.rpcCode, scrub(err.message), data);
  };
}

/** An `input_required` result: its requests by the questions' rule, the rest (keys, requestState) as any result. */
function scrubAsking(r: JsonObject, scrub: Scrub, ask: ScrubQuestion): JsonObject {
  const { inputRequests, ...rest } = r;
  if (!isObject(inputRequests)) return scrub(r);
  const asked: JsonObject = {};
  for (const [key, q] of Object.entries(inputRequests)) {
    if (isObject(q) && typeof q.method === 'string' && isObject(q.params)) {
      const { params: _params, ...request } = q;
      asked[scrub(key)] = { ...scrub(request), params: ask(q.method, q.params) };
    } else asked[scrub(key)] = scrub(q);
  }
  return { ...scrub(rest), inputRequests: asked };
}

export const redactResult: Stage = (s, deps) => {
  if (!s.result) return;
  const scrub = scrubForCaller(s, deps);
  const scrubbed =
    s.result.resultType === 'input_required'
      ? scrubAsking(s.result, scrub, scrubQuestionForCaller(s, deps))
      : scrub(s.result);
  // A task's result is the result of the tools/call that started it.
  s.result = s.ctx.scope
    ? scrubbed
    : namespaceUris(s.method === 'tasks/result' ? 'tools/call' : s.method, scrubbed, routeOf(s).server);
};
