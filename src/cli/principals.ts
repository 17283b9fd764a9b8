/**
 * `gatehouse principals revoke|restore|list`: token principals revoked like API keys — every token of
 * a subject (of one issuer, or of every issuer and the API keys acting for that person), or one token
 * by its id (`jti`). Every gateway sharing the store applies a revocation within a second, and
 * `revoke` waits until each live one has confirmed it (as `incident open` does); each is recorded in the audit trail.
 */
import type { Command } from 'commander';
import type { PrincipalRevocation } from '../storage/types.ts';
import { reasonOption, recordAdmin, withReason } from './admin-record.ts';
import { actorName, type CliContext } from './context.ts';
import { jsonText, render } from './format.ts';
import { withStore } from './store.ts';
import { announce } from '../sessions/fanout.ts';
import { anonymousMeaning } from '../identity/revocations.ts';
import { confirmed, LIVE_MS, liveNow, principalKey as ackKey } from '../incident/acks.ts';
import { confirmationText, waiting } from './confirmation.ts';
import { unknownName } from '../incident/known.ts';
import { ANONYMOUS_SUBJECT } from '../identity/principal.ts';
import type { Config } from '../config/schema.ts';

interface Target {
  subject?: string;
  tokenId?: string;
  issuer?: string;
}

function target(ctx: CliContext, opts: Target): { kind: PrincipalRevocation['kind']; value: string; issuer: string } {
  const value = opts.subject ?? opts.tokenId;
  if (value === undefined || Boolean(opts.subject) === Boolean(opts.tokenId))
    ctx.fail('give exactly one of `--subject` or `--token-id`', 2);
  if (value.length > 1024) ctx.fail('the value is too long', 2);
  return { kind: opts.subject ? 'subject' : 'jti', value, issuer: opts.issuer ?? '' };
}

export function registerPrincipals(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('principals')
    .description('revoke token principals (a subject, or one token by its jti), like API keys');
  registerPrincipalsRevoke(cmd, ctx);
  registerPrincipalsRestore(cmd, ctx);
  registerPrincipalsList(cmd, ctx);
}

type RevokeOpts = Target & {
  reason: string;
  unseen?: boolean;
  by?: string;
  timeout: string;
  config: string;
  json?: boolean;
};

function registerPrincipalsRevoke(cmd: Command, ctx: CliContext): void {
  cmd
    .command('revoke')
    .description('refuse every token of a subject, or one token, on every live gateway, and confirm it')
    .option(
      '--subject <subject>',
      'the subject (`sub`); also refuses API keys acting for this person unless --issuer is given',
    )
    .option('--token-id <jti>', 'one token, by its `jti`')
    .option('--issuer <issuer>', 'only tokens of this issuer (default: every issuer)')
    .requiredOption('--reason <text>', 'why (recorded)')
    .option('--unseen', 'the subject may be one the gateway has not seen yet (named nowhere): revoked before it calls')
    .option('--by <name>', 'who revokes (recorded); default: cli:<user>@<host>')
    .option('--timeout <seconds>', 'how long to wait for every live gateway to confirm', '30')
    .addOption(ctx.configOption())
    .option('--json', 'print the revocation and its confirmation as JSON')
    .action((opts: RevokeOpts) => revokePrincipal(ctx, opts));
}

/** How long the audit trail is searched for the subject (the CLI is its own process: no one else waits on it). */
const CLI_SEARCH_MS = 5000;

/**
 * A subject must be one the gateway knows, as `incident open --principal` requires (../incident/known.ts):
 * a misspelt one would be reported revoked while the person it meant still calls. `--unseen` revokes one
 * not seen yet; `anonymous` (callers without a credential) needs no lookup. A token id cannot be checked.
 */
async function checkSubject(ctx: CliContext, config: Config, t: Target, unseen?: boolean): Promise<void> {
  if (t.subject === undefined || t.subject === ANONYMOUS_SUBJECT) return;
  const subject = t.subject;
  const why = await withStore(config, (s) =>
    unknownName(s, config, 'principal', subject, { unseen, howToAllow: '--unseen', budgetMs: CLI_SEARCH_MS }),
  );
  if (why) ctx.fail(why, 2);
}

async function revokePrincipal(ctx: CliContext, opts: RevokeOpts): Promise<void> {
  const t = target(ctx, opts);
  const config = await ctx.load(opts.config);
  await checkSubject(ctx, config, opts, opts.unseen);
  const r: PrincipalRevocation = {
    ...t,
    reason: opts.reason.slice(0, 500),
    revokedBy: actorName(opts.by),
    revokedAt: Date.now(),
  };
  const wait = waiting(opts.json);
  const c = await withStore(config, async (s) => {
    const live = await s.revocations.live(LIVE_MS);
    await s.principalRevocations.revoke(r);
    // Revoking again keeps the first record: its time is the version gateways acknowledge.
    const inForce =
      (await s.principalRevocations.list()).find(
        (x) => x.kind === r.kind && x.value === r.value && x.issuer === r.issuer,
      ) ?? r;
    await recordAdmin(s, config.gateway.stateDir, r.revokedBy, 'principals.revoke', {
      kind: r.kind,
      value: r.value,
      issuer: r.issuer || '*',
      reason: r.reason,
    });
    // Replicas sharing Redis re-read at once rather than at their next poll (best effort, bounded).
    await announce(config.limits?.redis, { kind: 'revocations.changed' });
    return confirmed(live, () => s.applyAcks.acks(ackKey(inForce)), {
      at: r.revokedAt,
      version: inForce.revokedAt,
      timeoutMs: Number(opts.timeout) * 1000,
      onWait: wait.onWait,
      stillLive: liveNow(s.revocations),
    });
  }).finally(() => wait.end());
  process.exitCode = c.confirmed ? 0 : 1;
  if (opts.json) return void process.stdout.write(jsonText({ ...r, ...c }));
  const meaning = anonymousMeaning(r, Boolean(config.identity));
  const what = `${r.kind === 'subject' ? 'subject' : 'token'} ${r.value} revoked${r.issuer ? ` for issuer ${r.issuer}` : ' for every issuer'}${meaning ? ` (${meaning}, until \`gatehouse principals restore --subject ${r.value}\`)` : ''}`;
  process.stdout.write(`${confirmationText(what, c, opts.timeout, 'refuse it')}\n`);
}

type RestoreOpts = Target & { reason?: string; by?: string; config: string; json?: boolean };

function registerPrincipalsRestore(cmd: Command, ctx: CliContext): void {
  cmd
    .command('restore')
    .description('lift a revocation')
    .option('--subject <subject>', 'the subject (`sub`) whose revocation is lifted')
    .option('--token-id <jti>', 'the one token (`jti`) whose revocation is lifted')
    .option('--issuer <issuer>', 'as given when revoking')
    .addOption(reasonOption())
    .option('--by <name>', 'who restores (recorded)')
    .addOption(ctx.configOption())
    .option('--json', 'print the result as JSON')
    .action((opts: RestoreOpts) => restorePrincipal(ctx, opts));
}

async function restorePrincipal(ctx: CliContext, opts: RestoreOpts): Promise<void> {
  const t = target(ctx, opts);
  const config = await ctx.load(opts.config);
  const done = await withStore(config, async (s) => {
    const ok = await s.principalRevocations.restore(t.kind, t.value, t.issuer);
    if (ok)
      await recordAdmin(s, config.gateway.stateDir, actorName(opts.by), 'principals.restore', {
        kind: t.kind,
        value: t.value,
        issuer: t.issuer || '*',
        ...withReason(opts.reason),
      });
    return ok;
  });
  if (!done) ctx.fail(`no such revocation of ${t.kind} \`${t.value}\``, 2);
  if (opts.json)
    return void process.stdout.write(jsonText({ restored: { kind: t.kind, value: t.value, issuer: t.issuer || '*' } }));
  process.stdout.write(`${t.kind} ${t.value} restored\n`);
}

type ListOpts = { config: string; json?: boolean };

function registerPrincipalsList(cmd: Command, ctx: CliContext): void {
  cmd
    .command('list')
    .description('revoked subjects and tokens')
    .addOption(ctx.configOption())
    .option('--json', 'print as JSON')
    .action((opts: ListOpts) => listRevocations(ctx, opts));
}

async function listRevocations(ctx: CliContext, opts: ListOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const rows = await withStore(config, (s) => s.principalRevocations.list());
  if (opts.json) return void process.stdout.write(jsonText({ revoked: rows }));
  process.stdout.write(
    render(
      'table',
      ['kind', 'value', 'issuer', 'reason', 'by', 'at'],
      rows.map((r) => [r.kind, r.value, r.issuer || '*', r.reason, r.revokedBy, new Date(r.revokedAt).toISOString()]),
      null,
    ),
  );
}
