/**
 * `gatehouse audit prune|retention`: the audit trail's two-person operations. One person asks, another
 * confirms; each step is recorded.
 */
import type { Command } from 'commander';
import type { Config } from '../config/schema.ts';
import type { CliContext } from './context.ts';
import { withStore } from './store.ts';
import { recordAdmin } from './admin-record.ts';
import { actorName } from './context.ts';
import { confirmDual, requestDual } from '../identity/dual-control.ts';
import { asOption, requirePlatform } from './scope.ts';
import { parseTimeOption, printResult, scopeFor } from './audit-common.ts';

/**
 * Who performs a two-person audit operation (prune, retention): with a credential, the verified person
 * (never what --by says), who must be a platform admin; a service key is nobody and is refused.
 */
async function twoPersonActor(ctx: CliContext, config: Config, opts: { as?: string; by?: string }): Promise<string> {
  const who = await scopeFor(ctx, config, opts.as);
  requirePlatform(ctx, who.scope);
  if ((opts.as ?? process.env.GATEHOUSE_CREDENTIAL) && !who.person)
    ctx.fail('forbidden: two-person operations need a person: this credential is a service key', 2);
  return who.person ?? actorName(opts.by);
}

type PruneOpts = {
  config: string;
  olderThan?: string;
  reason?: string;
  confirm?: string;
  pending?: boolean;
  by?: string;
  json?: boolean;
  as?: string;
};

export function registerAuditPrune(audit: Command, ctx: CliContext): void {
  audit
    .command('prune')
    .description(
      'delete records older than the retention (audit.retentionDays), keeping the chain verifiable; needs two people: one asks, another confirms',
    )
    .addOption(ctx.configOption())
    .option('--older-than <duration>', 'instead of the configured retention, e.g. 30d')
    .option('--reason <text>', 'why (recorded; required to ask)')
    .option('--confirm <request>', 'confirm and run a prune another person asked for')
    .option('--pending', 'list prune requests waiting for a second person')
    .option('--by <name>', 'who asks or confirms (recorded); default: cli:<user>@<host>')
    .option('--json', 'print the result as JSON')
    .addOption(asOption())
    .action((opts: PruneOpts) => pruneAction(ctx, opts));
}

async function pruneAction(ctx: CliContext, opts: PruneOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const by = await twoPersonActor(ctx, config, opts);
  if (opts.pending) return listPendingPrunes(config, opts.json);
  if (opts.confirm) return confirmPrune(ctx, config, opts.confirm, by, opts.json);
  return requestPrune(ctx, config, opts, by);
}

async function listPendingPrunes(config: Config, json: boolean | undefined): Promise<void> {
  const rows = await withStore(config, (s) => s.dualControl.list('pending'));
  printResult(
    json,
    { pending: rows },
    rows
      .map(
        (r) =>
          `${r.id}  asked by ${r.requestedBy} at ${new Date(r.requestedAt).toISOString()}: older than ${new Date(Number(r.params.before)).toISOString()} (${String(r.params.reason)})`,
      )
      .join('\n') || 'nothing waits',
  );
}

async function confirmPrune(
  ctx: CliContext,
  config: Config,
  request: string,
  by: string,
  json: boolean | undefined,
): Promise<void> {
  const result = await withStore(config, async (s) => {
    const r = await confirmDual(s.dualControl, request, 'audit.prune', by);
    if (!r.ok) {
      await recordAdmin(s, config.gateway.stateDir, by, 'audit.prune.refused', { request, code: r.code });
      return r;
    }
    const before = Number(r.record.params.before);
    const removed = await s.audit.prune(before);
    await recordAdmin(s, config.gateway.stateDir, by, 'audit.pruned', {
      removed,
      before: new Date(before).toISOString(),
      request: r.record.id,
      requestedBy: r.record.requestedBy,
      confirmedBy: by,
      reason: r.record.params.reason,
    });
    return { ok: true as const, removed, before, requestedBy: r.record.requestedBy };
  });
  if (!result.ok) ctx.fail(`not pruned: ${result.message}`, 2);
  printResult(
    json,
    {
      removed: result.removed,
      before: new Date(result.before).toISOString(),
      requestedBy: result.requestedBy,
      confirmedBy: by,
    },
    `removed ${result.removed} records older than ${new Date(result.before).toISOString()} (asked by ${result.requestedBy}, confirmed by ${by}); checkpoints keep the rest verifiable`,
  );
}

/** The time before which records are pruned: --older-than, else the configured retention; undefined when it is off. */
function pruneBefore(ctx: CliContext, olderThan: string | undefined, days: number | undefined): number | undefined {
  if (olderThan) return parseTimeOption(ctx, '--older-than', olderThan);
  if (days) return Date.now() - days * 86_400_000;
  return undefined;
}

async function requestPrune(ctx: CliContext, config: Config, opts: PruneOpts, by: string): Promise<void> {
  const before = pruneBefore(ctx, opts.olderThan, config.audit.retentionDays);
  if (before === undefined) ctx.fail('retention is off (audit.retentionDays: 0): give --older-than', 2);
  const reason = opts.reason;
  if (!reason) ctx.fail('give `--reason`: pruning destroys records, and why is recorded', 2);
  const r = await withStore(config, async (s) => {
    const req = await requestDual(s.dualControl, 'audit.prune', { before, reason: reason.slice(0, 500) }, by);
    await recordAdmin(s, config.gateway.stateDir, by, 'audit.prune.requested', {
      request: req.id,
      before: new Date(before).toISOString(),
      reason,
    });
    return req;
  });
  printResult(
    opts.json,
    {
      request: r.id,
      status: 'pending',
      before: new Date(before).toISOString(),
      expiresAt: new Date(r.expiresAt).toISOString(),
    },
    `prune of records older than ${new Date(before).toISOString()} asked as ${r.id}; another person runs it with: gatehouse audit prune --confirm ${r.id}`,
  );
}

type RetentionOpts = {
  config: string;
  days?: string;
  reason?: string;
  confirm?: string;
  by?: string;
  json?: boolean;
  as?: string;
};

export function registerAuditRetention(audit: Command, ctx: CliContext): void {
  audit
    .command('retention')
    .description(
      'shorten (or lengthen) the retention the gateway may prune to; needs two people: one asks, another confirms. Pruning never goes below the last approved retention, whatever the config says',
    )
    .addOption(ctx.configOption())
    .option('--days <n>', 'the retention to approve, in days (0: forever)')
    .option('--reason <text>', 'why (recorded; required to ask)')
    .option('--confirm <request>', 'confirm a retention change another person asked for')
    .option('--by <name>', 'who asks or confirms (recorded); default: cli:<user>@<host>')
    .option('--json', 'print the result as JSON')
    .addOption(asOption())
    .action((opts: RetentionOpts) => retentionAction(ctx, opts));
}

async function retentionAction(ctx: CliContext, opts: RetentionOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const by = await twoPersonActor(ctx, config, opts);
  if (opts.confirm) return confirmRetention(ctx, config, opts.confirm, by, opts.json);
  return requestRetention(ctx, config, opts, by);
}

async function confirmRetention(
  ctx: CliContext,
  config: Config,
  request: string,
  by: string,
  json: boolean | undefined,
): Promise<void> {
  const r = await withStore(config, async (s) => {
    const done = await confirmDual(s.dualControl, request, 'audit.retention', by);
    if (done.ok)
      await recordAdmin(s, config.gateway.stateDir, by, 'audit.retention', {
        days: done.record.params.days,
        request: done.record.id,
        requestedBy: done.record.requestedBy,
        confirmedBy: by,
        reason: done.record.params.reason,
      });
    else await recordAdmin(s, config.gateway.stateDir, by, 'audit.retention.refused', { request, code: done.code });
    return done;
  });
  if (!r.ok) ctx.fail(`not changed: ${r.message}`, 2);
  printResult(
    json,
    { days: r.record.params.days, requestedBy: r.record.requestedBy, confirmedBy: by },
    `retention ${String(r.record.params.days)} days approved (asked by ${r.record.requestedBy}, confirmed by ${by})`,
  );
}

async function requestRetention(ctx: CliContext, config: Config, opts: RetentionOpts, by: string): Promise<void> {
  const days = Number(opts.days);
  if (opts.days === undefined || !Number.isInteger(days) || days < 0 || days > 36_500)
    ctx.fail('give `--days` (0-36500; 0 keeps records forever)', 2);
  const reason = opts.reason;
  if (!reason) ctx.fail('give `--reason`: it is recorded', 2);
  const r = await withStore(config, async (s) => {
    const req = await requestDual(s.dualControl, 'audit.retention', { days, reason: reason.slice(0, 500) }, by);
    await recordAdmin(s, config.gateway.stateDir, by, 'audit.retention.requested', { request: req.id, days, reason });
    return req;
  });
  printResult(
    opts.json,
    { request: r.id, status: 'pending', days },
    `retention of ${days} days asked as ${r.id}; another person approves it with: gatehouse audit retention --confirm ${r.id}`,
  );
}
