/** Shared test fixture (not a test file itself): a pending request with the given shown arguments. */
import { newRequest } from './lifecycle.ts';
import type { ApprovalRequest } from '../model/approval.ts';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

export function fixtureRequest(tool: string, args: unknown, over: Partial<ApprovalRequest> = {}): ApprovalRequest {
  const req = newRequest({
    id: 'apr_AAAAAAAAAAAAAAAAAAAAAA',
    now: T0,
    ttlMs: 15 * 60_000,
    call: {
      tenant: 'acme',
      principalKey: 'key:alice',
      client: 'claude',
      server: tool.split('__')[0],
      tool,
      args,
      pin: 'sha256:pin',
      policyRevision: 'rev1',
    },
    subject: 'alice',
    toolClass: 'WRITE',
    shownArgs: args,
    rule: 'writes-need-approval',
    approversRule: { roles: ['approver'], count: 1 },
    summary: `Do ${tool}`,
  });
  return { ...req, ...over };
}
