/**
 * redact: before anything of the answer leaves the gateway or is recorded, the secrets injected into
 * this caller's connection are removed from it in every encoding, at any depth (past the depth bound
 * the rest is withheld, never passed through), including a secret split across content items. On the
 * aggregate endpoint, resource URIs in the answer are namespaced so a follow-up read is routed back.
 */
import { namespaceUris } from '../../catalog/uris.ts';
import type { Scrub } from '../../gateway/forward.ts';
import type { CallState, PipelineDeps, Stage } from '../types.ts';
import { routeOf } from './needs.ts';

/**
 * What of the upstream's words may reach the caller: without the secrets injected into this call's
 * connection and, when configured (`secrets.results: redact`), without well-known secret formats (an
 * AWS key a tool read somewhere). One rule for the result, the upstream's error (index.ts) and the
 * log and progress messages relayed during the call (execute): a token the result would not show
 * must not arrive by another of them.
 */
export function scrubForCaller(s: CallState, { credentials, resultSecrets }: PipelineDeps): Scrub {
  return (v) => {
    const scrubbed = credentials.scrubber.value(v, s.injected ?? []);
    return resultSecrets === 'redact' ? credentials.scrubber.patterns(scrubbed) : scrubbed;
  };
}

export const redactResult: Stage = (s, deps) => {
  if (!s.result) return;
  const scrubbed = scrubForCaller(s, deps)(s.result);
  // A task's result is the result of the tools/call that started it.
  s.result = s.ctx.scope
    ? scrubbed
    : namespaceUris(s.method === 'tasks/result' ? 'tools/call' : s.method, scrubbed, routeOf(s).server);
};
