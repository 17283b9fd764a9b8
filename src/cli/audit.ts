/**
 * `gatehouse audit verify|checkpoints|key|run|search|export|prune`: the audit trail for operators and incident
 * responders. They read the store named by the config, so they work with or without a running gateway.
 * The two-person operations (prune, retention) are in audit-two-person.ts.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import {
  exportCheckpoints,
  latestCheckpoints,
  parseCheckpointExport,
  signingKeyId,
  type CheckpointExport,
  type CheckpointsChecked,
} from '../audit/checkpoint.ts';
import { once } from 'node:events';
import type { AuditQuery } from '../storage/types.ts';
import { verifyAudit } from '../audit/verify.ts';
import { timeline } from '../audit/timeline.ts';
import { runRecords, searchAll } from '../audit/runs.ts';
import { recordDetail } from './audit-detail.ts';
import { EXPORT_FORMATS, formatRecords, type ExportFormat } from '../audit/export-formats.ts';
import { render } from './format.ts';
import type { CliContext } from './context.ts';
import { withStore } from './store.ts';
import { asOption, requirePlatform } from './scope.ts';
import type { AdminScope } from '../identity/authenticator.ts';
import { LIVE_MS } from '../incident/acks.ts';
import { progress } from './progress.ts';
import { kindOption, printResult, scopeFor, timeRange } from './audit-common.ts';
import { OUTCOMES } from '../model/audit-event.ts';
import { registerAuditPrune, registerAuditRetention } from './audit-two-person.ts';
import { identifier } from '../util/marks.ts';

/** A tenant admin's view: its own tenant's records only. */
const inScope = (scope: AdminScope) => (e: { actor?: { tenant?: string } }) =>
  scope.platform || e.actor?.tenant === scope.tenant;

/** Why an output file (opened exclusively) could not be written. */
function outputFailure(output: string, err: NodeJS.ErrnoException): string {
  if (err.code === 'EEXIST') return `\`${output}\` exists: choose another file`;
  return `cannot write \`${output}\`: ${err.code}`;
}

export function registerAudit(program: Command, ctx: CliContext): void {
  const audit = program
    .command('audit')
    .description('the audit trail: verify the chain, reconstruct a run, search, export');
  registerAuditVerify(audit, ctx);
  registerAuditCheckpoints(audit, ctx);
  registerAuditKey(audit, ctx);
  registerAuditRun(audit, ctx);
  registerAuditSearch(audit, ctx);
  registerAuditExport(audit, ctx);
  registerAuditPrune(audit, ctx);
  registerAuditRetention(audit, ctx);
}

type VerifyOpts = { config: string; json?: boolean; checkpoints?: string; trustKey?: string[]; as?: string };

function registerAuditVerify(audit: Command, ctx: CliContext): void {
  audit
    .command('verify')
    .description(
      "recompute every stream's hash chain: reports edited, missing and reordered records with their position",
    )
    .addOption(ctx.configOption())
    .option('--json', 'print the report as JSON')
    .option(
      '--checkpoints <file>',
      'signed checkpoints exported earlier (`gatehouse audit checkpoints`): also report streams cut short or deleted since',
    )
    .option('--trust-key <keyId...>', 'count only checkpoints signed by these key ids (default: any valid signature)')
    .addOption(asOption())
    .action((opts: VerifyOpts) => verifyAction(ctx, opts));
}

/** What `--checkpoints` checked: how many, of how many streams, signed by which keys. */
function checkpointsLine(c: CheckpointsChecked, file: string): string {
  const signed = c.keyIds.length
    ? `signed by key ${c.keyIds.join(', ')}`
    : `none with a valid${c.trusted ? ', trusted' : ''} signature`;
  const trust = c.trusted
    ? ' (only the keys given with --trust-key count)'
    : " (any valid signature counts: pass --trust-key with your gateways' key ids to check who signed them)";
  return `checked ${c.checked} checkpoint(s) of ${c.streams} stream(s) from ${file}, ${signed}${c.keyIds.length ? trust : ''}`;
}

function readCheckpoints(ctx: CliContext, file: string | undefined): CheckpointExport | undefined {
  if (!file) return undefined;
  try {
    return parseCheckpointExport(readFileSync(file, 'utf8'));
  } catch (err) {
    return ctx.fail(`cannot read checkpoints from \`${file}\`: ${(err as Error).message}`, 2);
  }
}

async function verifyAction(ctx: CliContext, opts: VerifyOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  requirePlatform(ctx, (await scopeFor(ctx, config, opts.as)).scope);
  const checkpoints = readCheckpoints(ctx, opts.checkpoints);
  const trustedKeys = opts.trustKey ? new Set(opts.trustKey) : undefined;
  const shown = opts.json ? undefined : progress();
  const report = await withStore(config, async (s) =>
    verifyAudit(s.audit, {
      checkpoints,
      trustedKeys,
      onProgress: shown && ((n: number) => shown.update(`verified ${n} records`)),
      // The streams of running gateways are still being written: no closing record yet is no loss.
      liveStreams: new Set(await s.revocations.live(LIVE_MS)),
    }),
  );
  shown?.end();
  if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    for (const p of report.problems)
      process.stdout.write(
        `${p.problem.toUpperCase()}: stream ${p.stream} seq ${p.seq}${p.position === null ? '' : ` (position ${p.position})`}: ${p.detail}\n`,
      );
    process.stdout.write(
      `${report.records} records in ${report.streams} streams: ${report.ok ? 'the chain is intact' : 'TAMPERING OR LOSS DETECTED'}\n`,
    );
    if (report.checkpoints && opts.checkpoints)
      process.stdout.write(`${checkpointsLine(report.checkpoints, opts.checkpoints)}\n`);
  }
  process.exitCode = report.ok ? 0 : 1;
}

type CheckpointsOpts = { config: string; output?: string; json?: boolean };

function registerAuditCheckpoints(audit: Command, ctx: CliContext): void {
  audit
    .command('checkpoints')
    .description(
      'the latest signed checkpoint of every stream, to keep elsewhere: `audit verify --checkpoints` then detects cut and deleted streams',
    )
    .addOption(ctx.configOption())
    .option('-o, --output <file>', 'write here (mode 0600) instead of stdout')
    .option('--json', 'with --output: print what was written as JSON (the checkpoints are JSON either way)')
    .action((opts: CheckpointsOpts) => checkpointsAction(ctx, opts));
}

async function checkpointsAction(ctx: CliContext, opts: CheckpointsOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const cps = await withStore(config, (s) => latestCheckpoints(s.audit));
  const text = `${JSON.stringify(exportCheckpoints(cps), null, 2)}\n`;
  if (!opts.output) return void process.stdout.write(text);
  try {
    writeFileSync(opts.output, text, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    ctx.fail(outputFailure(opts.output, err as NodeJS.ErrnoException), 2);
  }
  if (opts.json)
    return void process.stdout.write(`${JSON.stringify({ streams: cps.length, output: opts.output }, null, 2)}\n`);
  process.stderr.write(`${cps.length} stream checkpoint(s) written to ${opts.output}\n`);
}

type KeyOpts = { config: string; json?: boolean };

function registerAuditKey(audit: Command, ctx: CliContext): void {
  audit
    .command('key')
    .description(
      "this gateway's audit signing key id (its state directory's): run it on each replica and keep the list, to pass to `--trust-key`",
    )
    .addOption(ctx.configOption())
    .option('--json', 'print as JSON')
    .action((opts: KeyOpts) => keyAction(ctx, opts));
}

async function keyAction(ctx: CliContext, opts: KeyOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const { stateDir } = config.gateway;
  let keyId: string | undefined;
  try {
    keyId = signingKeyId(stateDir);
  } catch (err) {
    ctx.fail(
      `cannot read the signing key in ${stateDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  if (!keyId) ctx.fail(`no audit signing key in ${stateDir} yet: a gateway makes one as it starts`);
  printResult(opts.json, { keyId, stateDir }, `${keyId}  (${stateDir})`);
}

type RunOpts = { config: string; json?: boolean; as?: string; tenant?: string };

function registerAuditRun(audit: Command, ctx: CliContext): void {
  audit
    .command('run')
    .description(
      'the ordered timeline of a run (a session id, a run label or a trace id): calls, decisions, outcomes, times',
    )
    .argument('<run>', 'run, session or trace id')
    .addOption(ctx.configOption())
    .option('--tenant <tenant>', "only the records of this tenant's callers (a run label is the caller's own choice)")
    .option('--json', 'print the timeline as JSON')
    .addOption(asOption())
    .action((run: string, opts: RunOpts) => runAction(ctx, run, opts));
}

async function runAction(ctx: CliContext, run: string, opts: RunOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const { scope } = await scopeFor(ctx, config, opts.as);
  // All of the run, however long: a page of the store at a time (runs.ts), with no limit or time budget here.
  if (!scope.platform && opts.tenant !== undefined && opts.tenant !== scope.tenant)
    ctx.fail(`--tenant: you administer tenant \`${scope.tenant}\` only`, 2);
  const tenant = scope.platform ? opts.tenant : scope.tenant;
  const { rows } = await withStore(config, (s) =>
    runRecords(s.audit, run, { tenant, limit: Number.POSITIVE_INFINITY, budgetMs: Number.POSITIVE_INFINITY }),
  );
  if (!rows.length) ctx.fail(`no audit records for run \`${run}\``, 2);
  const entries = timeline(rows.map((r) => r.event));
  // A run label is chosen by the caller: callers of another tenant may have used the same one (walk AA).
  const tenants = [...new Set(rows.flatMap((r) => (r.event.actor?.tenant ? [r.event.actor.tenant] : [])))].sort();
  if (opts.json) return void process.stdout.write(`${JSON.stringify({ run, tenants, entries }, null, 2)}\n`);
  if (tenants.length > 1)
    process.stderr.write(
      `gatehouse: run \`${run}\` holds records of callers of ${tenants.length} tenants (${tenants.join(', ')}): a run label is the caller's own choice; --tenant shows one\n`,
    );
  process.stdout.write(
    render(
      'table',
      ['time', 'event', 'tool', 'class', 'actor', 'decision', 'outcome', 'ms'],
      entries.map((e) => [
        e.time,
        e.approval ? `${e.kind} ${e.approval.step} ${e.approval.id}` : e.kind,
        e.tool === undefined ? undefined : identifier(e.tool),
        e.class,
        e.actor === undefined ? undefined : identifier(e.actor),
        e.decision,
        e.error ? `${e.outcome} ${e.error}` : e.outcome,
        e.latencyMs === undefined ? '' : String(e.latencyMs),
      ]),
      null,
    ),
  );
}

type SearchOpts = {
  config: string;
  subject?: string;
  tenant?: string;
  tool?: string;
  outcome?: string;
  kind?: string;
  since?: string;
  until?: string;
  limit: string;
  json?: boolean;
  as?: string;
};

function registerAuditSearch(audit: Command, ctx: CliContext): void {
  audit
    .command('search')
    .description('records by actor, tenant, tool, outcome, kind and time')
    .addOption(ctx.configOption())
    .option('--subject <subject>', "the actor's subject")
    .option('--tenant <tenant>', "the actor's tenant")
    .option('--tool <tool>', 'namespaced tool name')
    .addOption(new Option('--outcome <outcome>', "the call's outcome").choices(OUTCOMES))
    .option('--kind <kind>', 'e.g. call.intent, call.outcome, call.refused, inventory.event')
    .option('--since <time>', 'ISO time or a duration ago (24h)')
    .option('--until <time>', 'ISO time or a duration ago')
    .option('-n, --limit <n>', 'at most this many', '200')
    .option('--json', 'print the records as JSON')
    .addOption(asOption())
    .action((opts: SearchOpts) => searchAction(ctx, opts));
}

async function searchAction(ctx: CliContext, opts: SearchOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const { scope } = await scopeFor(ctx, config, opts.as);
  if (!scope.platform && opts.tenant !== undefined && opts.tenant !== scope.tenant)
    ctx.fail(`forbidden: the credential's admin role covers tenant \`${scope.tenant}\` only`, 2);
  const q: AuditQuery = {
    subject: opts.subject,
    tenant: scope.platform ? opts.tenant : scope.tenant,
    tool: opts.tool,
    outcome: opts.outcome,
    kind: kindOption(ctx, opts.kind),
    ...timeRange(ctx, opts),
    limit: /^\d{1,9}$/.test(opts.limit) && Number(opts.limit) > 0 ? Number(opts.limit) : undefined,
  };
  if (q.limit === undefined) ctx.fail(`\`--limit ${opts.limit}\`: give a whole number of records, 1 or more`, 2);
  const limit = q.limit;
  // The store searches a while at a time; the command goes on to the end or the limit (searchAll).
  const shown = progress();
  const rows = await withStore(config, (s) =>
    searchAll(s.audit, { ...q, limit }, (through, found) =>
      shown.update(`searched through record #${through}, ${found} found`),
    ),
  );
  shown.end();
  if (opts.json)
    return void process.stdout.write(`${JSON.stringify({ records: rows.map((r) => r.event) }, null, 2)}\n`);
  const entries = timeline(rows.map((r) => r.event));
  const details = new Map(rows.map((r) => [r.event.id, recordDetail(r.event)]));
  // The run a record belongs to: what `gatehouse audit run <id>` takes.
  const runs = new Map(rows.map((r) => [r.event.id, r.event.runId ?? '']));
  process.stdout.write(
    render(
      'table',
      ['time', 'event', 'tool', 'actor', 'outcome', 'detail', 'id', 'run'],
      entries.map((e) => [
        e.time,
        e.kind,
        e.tool === undefined ? undefined : identifier(e.tool),
        e.actor === undefined ? undefined : identifier(e.actor),
        e.error ? `${e.outcome} ${e.error}` : e.outcome,
        details.get(e.id),
        e.id,
        runs.get(e.id),
      ]),
      null,
    ),
  );
}

type ExportOpts = {
  config: string;
  since?: string;
  until?: string;
  format: ExportFormat;
  output?: string;
  json?: boolean;
  as?: string;
};

function registerAuditExport(audit: Command, ctx: CliContext): void {
  audit
    .command('export')
    .description('records of a time range in a SIEM format, for incident hand-off (progress on stderr)')
    .addOption(ctx.configOption())
    .option('--since <time>', 'ISO time or a duration ago (24h)')
    .option('--until <time>', 'ISO time or a duration ago')
    .addOption(new Option('-f, --format <format>', 'output format').choices(EXPORT_FORMATS).default('jsonl'))
    .option('-o, --output <file>', 'write here (mode 0600) instead of stdout')
    .option('--json', 'with --output: print what was exported (records, file, format, range) as JSON, and no progress')
    .addOption(asOption())
    .action((opts: ExportOpts) => exportAction(ctx, opts));
}

/** What `export --json` prints: what was written where, and the range asked for and found (ISO, null when open or none). */
function exportSummary(
  opts: ExportOpts,
  asked: { since?: number; until?: number },
  written: { count: number; first?: string; last?: string },
) {
  const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString());
  return {
    records: written.count,
    output: opts.output,
    format: opts.format,
    since: iso(asked.since),
    until: iso(asked.until),
    first: written.first ?? null,
    last: written.last ?? null,
  };
}

async function exportAction(ctx: CliContext, opts: ExportOpts): Promise<void> {
  // The records go to stdout without a file: a summary there would be read as one of them.
  if (opts.json && !opts.output)
    ctx.fail(
      '`--json` prints a summary of what was written to `--output <file>`: give one (without it, the records themselves are on stdout)',
      2,
    );
  const config = await ctx.load(opts.config);
  const { scope } = await scopeFor(ctx, config, opts.as);
  const { since, until } = timeRange(ctx, opts);
  const output = opts.output;
  const out = output ? createWriteStream(output, { mode: 0o600, flags: 'wx' }) : process.stdout;
  if (output) await once(out, 'open').catch((err: NodeJS.ErrnoException) => ctx.fail(outputFailure(output, err), 2));
  const written: { count: number; first?: string; last?: string } = { count: 0 };
  const shown = opts.json ? undefined : progress();
  await withStore(config, async (s) => {
    for (let after = 0; ; ) {
      // A tenant admin's records through the tenant's index, not the whole trail read and filtered.
      const tenant = scope.platform ? undefined : scope.tenant;
      const rows = await s.audit.read({ afterPosition: after, since, until, tenant, limit: 1000 });
      if (!rows.length) break;
      const mine = rows.map((r) => r.event).filter(inScope(scope));
      if (mine.length && !out.write(formatRecords(opts.format, mine))) await once(out, 'drain');
      written.count += mine.length;
      written.first ??= mine[0]?.time;
      written.last = mine.at(-1)?.time ?? written.last;
      after = rows[rows.length - 1].position;
      if (output) shown?.update(`exported ${written.count} records`);
    }
  });
  if (output) {
    out.end();
    await once(out, 'finish');
    shown?.end(`exported ${written.count} records to ${output}`);
  } else {
    // The records on stdout; the count on stderr, so an export that found none says so.
    shown?.end(`exported ${written.count} records`);
  }
  if (opts.json) printResult(true, exportSummary(opts, { since, until }, written), '');
}
