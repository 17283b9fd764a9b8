/**
 * redact: before anything of the answer leaves the gateway or is recorded, the secrets injected into
 * this caller's connection are removed from it in every encoding, at any depth (past the depth bound
 * the rest is withheld, never passed through), including a secret split across content items. On the
 * aggregate endpoint, resource URIs in the answer are namespaced so a follow-up read is routed back.
 */
import { namespaceUris } from '../../catalog/uris.ts';
import type { Stage } from '../types.ts';
import { routeOf } from './needs.ts';

export const redactResult: Stage = (s, { credentials, resultSecrets }) => {
  if (!s.result) return;
  let scrubbed = credentials.scrubber.value(s.result, s.injected ?? []);
  // Secrets the gateway did not inject (an AWS key a tool read somewhere) go too, when configured.
  if (resultSecrets === 'redact') scrubbed = credentials.scrubber.patterns(scrubbed);
  // A task's result is the result of the tools/call that started it.
  s.result = s.ctx.scope
    ? scrubbed
    : namespaceUris(s.method === 'tasks/result' ? 'tools/call' : s.method, scrubbed, routeOf(s).server);
};
