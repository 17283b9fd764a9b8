/**
 * `gatehouse approvals list|show|approve|deny`: the approval queue from a terminal. With `--as
 * <credential>` the approver is that verified principal, with its own tenant and roles, and sees only
 * what the page would show it. Without, the operator (who holds the store) decides as `--by` with the
 * roles given (`--role`). The same rules apply as on the page either way: not the requester, the
 * request's tenant, an allowed role or subject, a person, distinct approvers for a two-person rule.
 * Every decision is in the audit trail.
 */
import type { Command } from 'commander';
import { decide, isExpired, isRequester, maySee, OWN_REQUEST } from '../approvals/lifecycle.ts';
import { receipt } from '../approvals/receipt.ts';
import { decisionRecord } from '../approvals/decision-record.ts';
import { identifier, outsideAsciiNotice, visible } from '../util/marks.ts';
import { argsJson, NAME_FIELDS, namesOutsideAscii } from '../approvals/names.ts';
import { cliAuditLog } from './admin-record.ts';
import { actorName, type CliContext } from './context.ts';
import { jsonText, render } from './format.ts';
import { withStore } from './store.ts';
import { asOption, caller, type Caller } from './scope.ts';
import { approverSubjectLabel, type ApprovalRequest } from '../model/approval.ts';
import type { Receipt } from '../approvals/receipt.ts';

/** What the page would let this caller see: who could decide it, never the requester (the operator sees everything). */
function visibleTo(c: Caller, r: ApprovalRequest): boolean {
  if (!c.principal) return true;
  const p = c.principal;
  return maySee(r, { ...p, person: c.identity.isPerson(p) });
}

export function registerApprovals(program: Command, ctx: CliContext): void {
  const approvals = program.command('approvals').description('calls waiting for a human decision');
  registerApprovalsList(approvals, ctx);
  registerApprovalsShow(approvals, ctx);
  for (const decision of ['approve', 'deny'] as const) registerApprovalsDecide(approvals, ctx, decision);
}

type ListOpts = { all?: boolean; tenant?: string; config: string; json?: boolean; as?: string };

function registerApprovalsList(approvals: Command, ctx: CliContext): void {
  approvals
    .command('list')
    .description('pending requests (or all with --all)')
    .option('--all', 'every status')
    .option('--tenant <tenant>', 'one tenant')
    .addOption(ctx.configOption())
    .option('--json', 'print as JSON')
    .addOption(asOption())
    .action((opts: ListOpts) => listApprovals(ctx, opts));
}

async function listApprovals(ctx: CliContext, opts: ListOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const rows = await withStore(config, async (s) => {
    const c = await caller(ctx, config, s, opts.as);
    return (await s.approvals.list({ status: opts.all ? undefined : 'pending', tenant: opts.tenant })).filter((r) =>
      visibleTo(c, r),
    );
  });
  if (opts.json) return void process.stdout.write(jsonText({ approvals: rows }));
  process.stdout.write(
    render(
      'table',
      ['id', 'status', 'tenant', 'requester', 'tool', 'class', 'action', 'expires'],
      rows.map((r) => [
        r.id,
        isExpired(r, Date.now()) && r.status === 'pending' ? 'expired' : r.status,
        r.tenant,
        identifier(r.requester.subject),
        identifier(r.tool),
        r.toolClass,
        visible(r.summary),
        new Date(r.expiresAt).toISOString(),
      ]),
      null,
    ),
  );
}

type ShowOpts = { config: string; json?: boolean; as?: string };

function registerApprovalsShow(approvals: Command, ctx: CliContext): void {
  approvals
    .command('show')
    .description(
      'one request: the action, tool, target, arguments, decisions (the diff against the current content is on its page)',
    )
    .argument('<id>')
    .addOption(ctx.configOption())
    .option('--json', 'print as JSON')
    .addOption(asOption())
    .action((id: string, opts: ShowOpts) => showApproval(ctx, id, opts));
}

/** A line saying which names of the request hold characters outside ASCII, when any does. */
function lookalikeNotice(r: ApprovalRequest): string[] {
  const which = namesOutsideAscii(r);
  return which.length ? [`  warning: ${outsideAsciiNotice(which)}`] : [];
}

/** The receipt as the terminal shows it: the diff, one line per field, or the arguments as JSON. */
function receiptText(rc: Receipt, args: unknown): string {
  if (rc.kind === 'diff') return visible(rc.unified);
  if (rc.kind === 'fields')
    return rc.rows.map(([k, v]) => `  ${k}: ${NAME_FIELDS.has(k) ? identifier(v) : visible(v)}`).join('\n');
  return visible(argsJson(args));
}

async function showApproval(ctx: CliContext, id: string, opts: ShowOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const { r, own } = await withStore(config, async (s) => {
    const c = await caller(ctx, config, s, opts.as);
    const found = await s.approvals.get(id);
    // The requester is told the request is its own, as the page and approve|deny tell it, and shown
    // nothing of it; anyone else who may not see it learns nothing (it does not exist).
    if (found && c.principal && isRequester(found, c.principal)) return { r: undefined, own: true };
    return { r: found && visibleTo(c, found) ? found : undefined, own: false };
  });
  if (own) ctx.fail(`not shown: ${ownRequest()}`, 2);
  if (!r) ctx.fail(`no approval request \`${id}\``, 2);
  if (opts.json) return void process.stdout.write(jsonText(r));
  process.stdout.write(
    [
      `${visible(r.summary)}`,
      `  id ${r.id}  status ${r.status}  class ${r.toolClass}`,
      `  tool ${identifier(r.tool)} on ${identifier(r.server)}${r.resource ? `, target ${identifier(r.resource)}` : ''}`,
      ...lookalikeNotice(r),
      `  requested by ${identifier(r.requester.subject)} (tenant ${r.tenant}, client ${r.requester.client}) at ${new Date(r.createdAt).toISOString()}, expires ${new Date(r.expiresAt).toISOString()}`,
      `  approvers: ${approversOf(r)}, ${r.approversRule.count} needed`,
      ...r.decisions.map(
        (d) =>
          `  ${d.decision} by ${d.by.subject} at ${new Date(d.at).toISOString()}${d.reason ? `: ${visible(d.reason)}` : ''}`,
      ),
      '',
      receiptText(receipt(r), r.args),
      '',
    ].join('\n'),
  );
}

type Decision = 'approve' | 'deny';
/** Who the request's rule lets decide: its roles and its people. */
function approversOf(r: ApprovalRequest): string {
  const rule = r.approversRule;
  return [...(rule.roles ?? []).map((x) => `role ${x}`), ...(rule.subjects ?? []).map(approverSubjectLabel)].join(
    ' or ',
  );
}

function notAnApprover(r: ApprovalRequest, withCredential: boolean, roles: string): string {
  const needed = r.approversRule.roles ?? [];
  const held = roles.trim() ? `the roles given (${roles})` : 'no role (`--role` not given)';
  const how =
    withCredential || !needed.length ? '' : `; you hold ${held}: give the role you hold with \`--role ${needed[0]}\``;
  return `you are not an approver for this request: it needs ${approversOf(r)}${how}`;
}

/** OWN_REQUEST as a CLI message (after `not recorded: ` or `not shown: `). */
function ownRequest(): string {
  return OWN_REQUEST.charAt(0).toLowerCase() + OWN_REQUEST.slice(1);
}

type DecideOpts = { by?: string; role: string; reason?: string; config: string; json?: boolean; as?: string };

function registerApprovalsDecide(approvals: Command, ctx: CliContext, decision: Decision): void {
  approvals
    .command(decision)
    .description(`${decision} a pending request, as who runs the command, with the roles given`)
    .argument('<id>')
    .option('--by <name>', 'who decides (recorded); default: cli:<user>@<host>')
    .option('--role <roles>', 'the approver roles you hold (comma-separated), checked against the request', '')
    .option('--reason <text>', 'why (recorded)')
    .addOption(ctx.configOption())
    .option('--json', 'print the request as JSON')
    .addOption(asOption())
    .action((id: string, opts: DecideOpts) => decideApproval(ctx, decision, id, opts));
}

/** With a credential: that verified person, its tenant and roles. Without: the operator, as --by, with the roles given. */
function approverFor(c: Caller, by: string, r: ApprovalRequest, roles: string) {
  if (c.principal) {
    const p = c.principal;
    return {
      key: p.key,
      subject: p.subject,
      tenant: p.tenant,
      roles: p.roles,
      issuer: p.issuer,
      person: c.identity.isPerson(p),
    };
  }
  return {
    key: `cli:${by}`,
    subject: by,
    tenant: r.tenant,
    roles: roles
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  };
}

async function decideApproval(ctx: CliContext, decision: Decision, id: string, opts: DecideOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  let by = actorName(opts.by);
  const result = await withStore(config, async (s) => {
    const c = await caller(ctx, config, s, opts.as);
    const r = await s.approvals.get(id);
    const p = c.principal;
    // The requester is told why; anyone else who may not see it learns nothing (it does not exist).
    if (r && p && isRequester(r, p)) return { ok: false as const, message: ownRequest() };
    if (!r || !visibleTo(c, r)) return { ok: false as const, message: 'no such request' };
    if (p) by = p.subject;
    const t = decide(r, approverFor(c, by, r, opts.role), decision, opts.reason, Date.now());
    if (!t.ok) {
      if (t.request) await s.approvals.transition(t.request, r.status);
      // Say who may decide, and, for the operator without a credential, how to claim the role.
      if (t.code === 'not_an_approver') return { ...t, message: notAnApprover(r, p !== undefined, opts.role) };
      return t;
    }
    if (!(await s.approvals.transition(t.request, 'pending')))
      return { ok: false as const, message: 'the request changed meanwhile' };
    const log = cliAuditLog(s, config.gateway.stateDir);
    await log.append(
      decisionRecord(t.request, decision, opts.reason, {
        subject: by,
        tenant: r.tenant,
        via: p ? `cli:${p.via}` : 'cli',
        issuer: p?.issuer ?? '',
      }),
    );
    await log.close();
    return t;
  });
  if (!result.ok) ctx.fail(`not recorded: ${result.message}`, 2);
  if (opts.json) return void process.stdout.write(jsonText(result.request));
  process.stdout.write(
    `${id}: ${decision === 'approve' ? 'approved' : 'denied'} by ${by}; the request is now ${result.request.status}\n`,
  );
}
