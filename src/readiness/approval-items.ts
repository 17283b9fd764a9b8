/**
 * Section 4 of the readiness checklist, approval: every decision on record with its approver and
 * time, the approval page where notifications can reach it, approvers notified.
 */
import type { Config } from '../config/schema.ts';
import { exposedHost, item, type CheckItem, type Facts } from './checklist.ts';
import type { ReadinessState } from './state.ts';

export function approvalItems({ config, state }: Facts): CheckItem[] {
  return [
    approvalRecordItem(config, state.approvals),
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

function approvalRecordItem(config: Config, appr: ReadinessState['approvals']): CheckItem {
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
  const pageBase = config.approvals.baseUrl ?? config.gateway.publicUrl;
  return item(
    '4.1',
    title,
    pageBase || !exposedHost(config) ? 'pass' : 'warn',
    `${appr.decided} decision(s) on record, each with approver and time; approval pages at ${pageBase ?? 'the listen address'}`,
    'set `approvals.baseUrl` (or `gateway.publicUrl`) so links in notifications reach the page',
  );
}
