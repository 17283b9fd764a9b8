/**
 * The diff an approver sees is read with the REQUESTER's rights: the file's current content comes
 * through the server's configured READ tool (`approvals.readTools`) only when the policy would let
 * the requester call that tool on that path itself. Otherwise there is no diff, and the page says
 * why: approving a write must never become a way to read what the requester may not. Every read (and
 * every refusal) is an `approval.event` record naming whose rights it used.
 */
import type { AuditInput } from '../audit/log.ts';
import type { Policy } from '../policy/model.ts';
import { evaluate } from '../policy/evaluate.ts';
import { PATH_ARGS } from './receipt.ts';
import type { ApprovalRequest, CurrentContent } from '../model/approval.ts';
import { requesterActor } from '../model/audit-event.ts';

export interface ReadForApproverDeps {
  /** The configured READ tool for this request's tool, if any. */
  readTool: string | undefined;
  /** `server__tool` -> its server and the tool's own name. */
  split(tool: string): { server: string; name: string } | undefined;
  /** The policy in force (undefined: none configured, calls are not restricted by policy). */
  policy: Policy | undefined;
  /**
   * Call the READ tool (`target`) with `{ path }` on the request's tenant's connection: its result
   * (scrubbed of the connection's secrets), undefined when it could not be called.
   */
  read(target: { server: string; name: string }, path: string): Promise<unknown>;
  record(input: AuditInput): Promise<unknown>;
  now?: number;
}

export async function readForApprover(req: ApprovalRequest, deps: ReadForApproverDeps): Promise<CurrentContent> {
  const args = req.args && typeof req.args === 'object' ? (req.args as Record<string, unknown>) : {};
  const path = PATH_ARGS.map((k) => args[k]).find((v): v is string => typeof v === 'string');
  const readTool = deps.readTool;
  if (!readTool || path === undefined) return undefined;
  const target = deps.split(readTool);
  if (!target || target.server !== req.server) return undefined;
  const r = req.requester;
  const principal = { subject: r.subject, issuer: r.issuer, tenant: r.tenant, client: r.client, roles: r.roles ?? [] };
  const readArgs = { path };
  let rule = 'builtin:no-policy';
  if (deps.policy) {
    const d = evaluate(
      { principal, server: target.server, tool: readTool, toolClass: 'READ', arguments: readArgs },
      deps.policy,
      deps.now ?? Date.now(),
    );
    rule = d.rule;
    if (d.effect !== 'allow') {
      await deps.record({
        kind: 'approval.event',
        tool: req.tool,
        server: req.server,
        approval: { status: req.status, id: req.id },
        actor: requesterActor(r, r.tenant),
        runId: req.runId,
        detail: { event: 'diff.withheld', readTool, path, as: r.subject, tenant: r.tenant, rule, effect: d.effect },
      });
      return {
        withheld: `No diff: ${r.subject} may not read ${path} (policy rule ${rule}), so the current content is not shown. The arguments below are exactly what will run.`,
      };
    }
  }
  await deps.record({
    kind: 'approval.event',
    tool: req.tool,
    server: req.server,
    approval: { status: req.status, id: req.id },
    actor: requesterActor(r, r.tenant),
    runId: req.runId,
    detail: { event: 'diff.read', readTool, path, as: r.subject, tenant: r.tenant, rule },
  });
  const text = textOf(await deps.read(target, path));
  return text === undefined ? { withheld: 'No diff: the current content could not be read.' } : { content: text };
}

/** The text a READ tool answered: its text blocks joined; null for a tool error (no such file yet: the write creates it). */
export function textOf(result: unknown): string | null | undefined {
  if (!result || typeof result !== 'object') return undefined;
  const r = result as { isError?: unknown; content?: unknown };
  if (r.isError === true) return null;
  if (!Array.isArray(r.content)) return undefined;
  const texts = r.content.filter(
    (c): c is { type: 'text'; text: string } => c?.type === 'text' && typeof c.text === 'string',
  );
  return texts.map((c) => c.text).join('');
}
