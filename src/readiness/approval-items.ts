/**
 * Section 4 of the readiness checklist, approval: every decision on record with its approver and
 * time, a target approvers can see for every tool the policy may send them, the approval page where
 * notifications can reach it, approvers notified.
 */
import type { Config } from '../config/schema.ts';
import { effectiveClass } from '../inventory/review.ts';
import { mayAskApproval } from '../policy/evaluate.ts';
import { extractionFor } from '../policy/resources.ts';
import { exposedHost, item, list, type CheckItem, type Facts } from './checklist.ts';
import type { ReadinessState } from './state.ts';

export function approvalItems(f: Facts): CheckItem[] {
  const { config, state } = f;
  return [
    approvalRecordItem(config, state.approvals, config.policy ? untargeted(f) : undefined),
    item(
      '4.2',
      'approvers are notified',
      config.approvals.webhook ? 'pass' : 'warn',
      config.approvals.webhook
        ? 'a signed webhook (Slack-compatible) links to each request'
        : 'no webhook: approvers must watch the page or `gatehouse approvals list`',
      'set `approvals.webhook`',
    ),
  ];
}

/**
 * WRITE and DESTRUCTIVE tools (catalogued, or classified in the config before discovery) that the
 * policy may send for approval with no `resources:` extraction: approvers would see no target.
 */
function untargeted({ config, enabled, present, classes }: Facts): string[] {
  const policy = config.policy?.compiled;
  if (!policy) return [];
  const sep = config.gateway.namespaceSeparator;
  const tools = new Map<string, { server: string; tool: string; class: string }>();
  for (const s of enabled)
    for (const [tool, cls] of classes.get(s.name) ?? [])
      tools.set(`${s.name}${sep}${tool}`, { server: s.name, tool, class: cls });
  for (const t of present)
    tools.set(`${t.server}${sep}${t.tool}`, {
      server: t.server,
      tool: t.tool,
      class: effectiveClass(t, classes.get(t.server)?.get(t.tool)).class,
    });
  return [...tools]
    .filter(([name, t]) => t.class !== 'READ' && mayAskApproval(policy, name, t.class as 'WRITE' | 'DESTRUCTIVE'))
    .filter(([name]) => !extractionFor(policy.resources, name))
    .map(([name]) => name)
    .sort();
}

/** `noTarget`: the tools approvers would see no target for; undefined without a policy (nothing is sent). */
function approvalRecordItem(
  config: Config,
  appr: ReadinessState['approvals'],
  noTarget: string[] | undefined,
): CheckItem {
  const title = 'approvers see the action, tool, target and diff; who approved and when is recorded';
  if (!appr)
    return item(
      '4.1',
      title,
      'fail',
      'the approval records cannot be read from the store',
      'check the store (approvals)',
    );
  if (appr.unrecorded)
    return item(
      '4.1',
      title,
      'fail',
      `${appr.unrecorded} decided approval(s) without an approver and time on record`,
      'check the store (approvals)',
    );
  if (noTarget?.length)
    return item(
      '4.1',
      title,
      'fail',
      `approvers would see no target for ${list(noTarget)}: the policy may send them for approval and names no argument as their resource`,
      'add a `resources:` extraction for each (the argument naming the path, repository, URL or id)',
    );
  const targets = noTarget
    ? 'every tool the policy may send for approval has a target'
    : 'no policy, so nothing is sent for approval';
  if (!appr.decided)
    return item(
      '4.1',
      title,
      'warn',
      `${targets}; not yet exercised: no approval has been decided`,
      noTarget
        ? 'try one: a WRITE call the policy sends for approval, then `gatehouse approvals approve <id> --role <role>` with a role its rule names (`gatehouse approvals show <id>` lists them), or the page'
        : 'write a policy (`policy.files`) that sends WRITE calls for approval, approvers per rule or `defaults.approvers`; then try one',
    );
  const pageBase = config.approvals.baseUrl ?? config.gateway.publicUrl;
  return item(
    '4.1',
    title,
    pageBase || !exposedHost(config) ? 'pass' : 'warn',
    `${targets}; ${appr.decided}${appr.capped ? '+' : ''} decision(s) on record, each with approver and time; approval pages at ${pageBase ?? 'the listen address'}`,
    'set `approvals.baseUrl` (or `gateway.publicUrl`) so links in notifications reach the page',
  );
}
