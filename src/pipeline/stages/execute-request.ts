/**
 * execute: the only stage that talks to the upstream. Exactly what validate made canonical goes out,
 * under the upstream's own names, on the caller's connection. Shadow simulates and says so. A task
 * handle comes back sealed for this caller, and keeps the call's concurrency slots while the task
 * runs (src/pipeline/task-leases.ts); a subscription is kept on the caller's session (or 2026-07-28
 * listen stream), keyed by its tenant's connection, so only that tenant hears of updates.
 */
import { forward } from '../../gateway/forward.ts';
import { connectionOwner } from '../../credentials/broker.ts';
import { sessionOwnedBy } from '../../sessions/owner.ts';
import { expectedParamHeaders } from '../../protocol/param-headers.ts';
import { GatehouseError, quote } from '../../protocol/errors.ts';
import type { JsonObject } from '../../protocol/jsonrpc.ts';
import type { Stage } from '../types.ts';
import { connectionOf, routeOf, serverConfigOf, upstreamOf } from './needs.ts';
import { beforeSending, settingsChanged } from './recheck.ts';
import { inspectAnswers, noteCancelReason } from './inspect-arguments.ts';
import { scrubForCaller, scrubQuestionForCaller } from './redact-result.ts';
import { followTask } from '../task-leases.ts';
import { askHolder } from '../task-holder.ts';
import { asksForTask, shadowError } from '../task-answers.ts';
import { namedTask, taskAnswer, taskError, taskScrubs } from '../task-results.ts';

export const executeRequest: Stage = async (s, deps) => {
  const { holds, credentials, sessions } = deps;
  const route = routeOf(s);
  // The intent's write took a while: settings replaced meanwhile decide the request again first.
  const recheckNow = beforeSending(s, deps);
  if (settingsChanged(deps)) await recheckNow();
  if (s.decision?.effect === 'shadow') {
    // Shadow: recorded as proposed (the intent), and nothing runs. The caller is told so plainly.
    const text = `Shadow mode: Gatehouse recorded this call to ${route.qualified} as proposed and did NOT run it (policy rule \`${s.decision.rule}\`). Nothing was changed.`;
    // A tool that declares an output schema must return content of that shape unless the result is an
    // error; nothing ran, so there is none: said as an error result (clients validate the rest).
    const isError = route.def.outputSchema !== undefined;
    s.result = { content: [{ type: 'text', text }], isError, _meta: { 'io.gatehouse/shadow': true } };
    // A task-augmented call gets no task (nothing ran): the same words, as an error (task-answers.ts).
    if (asksForTask(s)) s.answerAsError = shadowError(text, s.decision.rule);
    return;
  }
  if (s.method === 'resources/subscribe' || s.method === 'resources/unsubscribe') {
    // A legacy session's, or a 2026-07-28 listen stream's (`resourceSubscriptions`).
    const holder = s.ctx.session ?? s.ctx.subscriber;
    if (!holder) throw new GatehouseError('E_METHOD_NOT_FOUND', `method ${quote(s.method)} needs a 2025-11-25 session`);
    const key = `${route.server}\u0000${String(upstreamOf(s).uri)}`;
    // The upstream subscription belongs to the tenant's connection, shared by its sessions and listen
    // streams: it is made by the first of them and ended by the last, never under another's feet.
    const p = s.ctx.principal;
    const owner = connectionOwner(serverConfigOf(credentials, route.server), p.tenant, p.subject);
    const mine = holder.subscriptions;
    const others = [
      ...[...(sessions?.all() ?? [])].map((x) => ({ subscriptions: x.subscriptions, principal: x.record.principal })),
      ...(deps.listenSubscribers?.() ?? []),
    ].some((h) => h.subscriptions !== mine && h.subscriptions.has(key) && sessionOwnedBy(h.principal, owner));
    if (s.method === 'resources/subscribe') mine.add(key);
    else mine.delete(key);
    // A 2026-07-28 upstream has no resources/subscribe: the gateway keeps the subscription itself.
    if (connectionOf(s).identity?.era === 'modern' || others) {
      s.result = {};
      return;
    }
  }
  // x-mcp-header parameters are mirrored for the upstream by the gateway itself, from the checked arguments.
  const mirrored =
    s.method === 'tools/call'
      ? expectedParamHeaders(route.def.inputSchema, upstreamOf(s).arguments as JsonObject | undefined)
      : new Map();
  const headers = mirrored.size
    ? Object.fromEntries([...mirrored.values()].map((h) => [`mcp-param-${h.name}`, h.text]))
    : undefined;
  // Whatever the upstream says to the caller on the way is scrubbed as its result will be: its
  // questions (sampling, elicitation), its progress and log messages.
  // And what the caller answers them goes back checked as its arguments were.
  // And where they name a task, they name the caller's handle for it.
  const known = namedTask(s);
  const scrubs = taskScrubs(
    s,
    deps,
    {
      questions: scrubQuestionForCaller(s, deps),
      notices: scrubForCaller(s, deps),
      answers: inspectAnswers(s, deps),
    },
    known,
  );
  // A task another replica's connection holds is asked there (its answer comes back here).
  const result = await (route.holder
    ? askHolder(s, deps, route.holder, scrubs.notices)
    : forward(connectionOf(s), s.ctx, s.method, s.upstream, holds, headers, scrubs, recheckNow)
  ).catch((err: unknown) => {
    noteCancelReason(s);
    throw taskError(err, known);
  });
  // A task keeps the call's concurrency slots while it runs; an ended one gives them back.
  await followTask(s, deps, result);
  s.result = s.method === 'tools/call' || known ? taskAnswer(s, deps, result, known) : result;
};
