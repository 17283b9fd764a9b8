/**
 * `gatehouse mode set|clear|list`: the incident switch. A mode set here (disabled, read_only,
 * shadow, enforce) for the gateway, a tenant, a server or a tool overrides the policy files' modes
 * on every gateway sharing the store within a second, and is recorded in the audit trail.
 */
import type { Command } from 'commander';
import type { ModeRecord } from '../storage/types.ts';
import { policyModes, scopeKey } from '../policy/runtime-modes.ts';
import { relative } from 'node:path';
import { MODES } from '../policy/model.ts';
import { actorName, type CliContext } from './context.ts';
import { recordAdmin } from './admin-record.ts';
import { jsonText, render } from './format.ts';
import { withStore } from './store.ts';
import { announce } from '../sessions/fanout.ts';
import { checkTarget, IncidentError } from '../incident/incident.ts';
import type { Config } from '../config/schema.ts';
import { confirmed, LIVE_MS, liveNow, modeClearedKey, modeKey } from '../incident/acks.ts';
import { confirmationText, waiting } from './confirmation.ts';

type ScopeOpts = { tool?: string; server?: string; tenant?: string; gateway?: boolean };
const scopeOptions = (c: Command) =>
  c
    .option('--tool <tool>', 'one tool (namespaced)')
    .option('--server <server>', 'every tool of a server')
    .option('--tenant <tenant>', 'every call of a tenant')
    .option('--gateway', 'every call');

type SetOpts = ScopeOpts & {
  reason: string;
  allowUnknown?: boolean;
  unseen?: boolean;
  by?: string;
  timeout: string;
  config: string;
  json?: boolean;
};

/**
 * A tool, server or tenant scope names one that exists (or, for a tenant, one seen): a misspelt
 * name would be reported set while nothing was switched.
 */
async function checkNamed(ctx: CliContext, config: Config, opts: SetOpts): Promise<void> {
  const kind = (['tool', 'server', 'tenant'] as const).find((k) => opts[k] !== undefined);
  if (!kind) return;
  try {
    await withStore(config, (s) =>
      checkTarget(s, config, kind, String(opts[kind]), {
        allowUnknown: opts.allowUnknown,
        howToAllow: '--allow-unknown',
        unseen: opts.unseen,
        howToAllowUnseen: '--unseen',
      }),
    );
  } catch (err) {
    if (err instanceof IncidentError) ctx.fail(err.message, 2);
    throw err;
  }
}

export function registerMode(program: Command, ctx: CliContext): void {
  const mode = program
    .command('mode')
    .description('the incident switch: disable, read-only or shadow a tool, server, tenant or the gateway, at once');

  scopeOptions(
    mode
      .command('set')
      .description('set a mode for one scope (overrides the policy files); recorded with who, when and why')
      .argument('<mode>', `one of ${MODES.join(', ')}`),
  )
    .requiredOption('--reason <text>', 'why (recorded)')
    .option('--allow-unknown', 'the tool may be one its server has not listed yet')
    .option('--unseen', 'the tenant may be one the gateway has not seen yet (named nowhere)')
    .option('--by <name>', 'who (recorded); default: cli:<user>@<host>')
    .option('--timeout <seconds>', 'how long to wait for every live gateway to confirm', '30')
    .addOption(ctx.configOption())
    .option('--json', 'print the record and its confirmation as JSON')
    .action((m: string, opts: SetOpts) => setMode(ctx, m, opts));

  scopeOptions(mode.command('clear').description('remove a run-time mode: the policy files decide again'))
    .option('--reason <text>', 'why (recorded)')
    .option('--by <name>', 'who (recorded)')
    .option('--timeout <seconds>', 'how long to wait for every live gateway to confirm', '30')
    .addOption(ctx.configOption())
    .option('--json', 'print the result and its confirmation as JSON')
    .action((opts: ClearOpts) => clearMode(ctx, opts));

  mode
    .command('list')
    .description('the modes in force: those set at run time, then those of the policy files')
    .addOption(ctx.configOption())
    .option('--json', 'print as JSON')
    .action(async (opts: { config: string; json?: boolean }) => {
      const config = await ctx.load(opts.config);
      const rows = await withStore(config, (s) => s.modes.list());
      // The policy files' modes are in force too, under any set here for the same scope.
      const set = new Set(rows.map((r) => r.scope));
      const files = policyModes(config.policy?.compiled).map((p) => ({ ...p, overridden: set.has(p.scope) }));
      if (opts.json) return void process.stdout.write(jsonText({ modes: rows, policy: files }));
      process.stdout.write(
        render(
          'table',
          ['scope', 'mode', 'set by', 'set at', 'reason'],
          [
            ...rows.map((r) => [r.scope, r.mode, r.setBy, new Date(r.setAt).toISOString(), r.reason]),
            ...files.map((p) => [
              p.scope,
              p.overridden ? `${p.mode} (overridden by the mode set above)` : p.mode,
              'policy file',
              '-',
              `${relative(process.cwd(), p.file) || p.file}:${p.line}`,
            ]),
          ],
          null,
        ),
      );
    });
}

type ClearOpts = ScopeOpts & { reason?: string; by?: string; timeout: string; config: string; json?: boolean };

/** `mode clear`: recorded, announced, and waited for until every live gateway applied it, as `mode set` is. */
async function clearMode(ctx: CliContext, opts: ClearOpts): Promise<void> {
  const scope = scopeKey(opts);
  if (!scope) ctx.fail('give exactly one of --tool, --server, --tenant or --gateway', 2);
  const config = await ctx.load(opts.config);
  const reason = opts.reason?.slice(0, 500);
  const by = actorName(opts.by);
  const at = Date.now();
  const wait = waiting(opts.json);
  const c = await withStore(config, async (s) => {
    // A gateway acknowledges a clear with the `setAt` of the record it saw go (acks.ts).
    const removed = (await s.modes.list()).find((r) => r.scope === scope);
    const live = await s.revocations.live(LIVE_MS);
    if (!removed || !(await s.modes.clear(scope))) return undefined;
    await recordAdmin(s, config.gateway.stateDir, by, 'mode.clear', { scope, ...(reason ? { reason } : {}) });
    await announce(config.limits?.redis, { kind: 'modes.changed' });
    return confirmed(live, () => s.applyAcks.acks(modeClearedKey(scope)), {
      at,
      version: removed.setAt,
      timeoutMs: Number(opts.timeout) * 1000,
      onWait: wait.onWait,
      stillLive: liveNow(s.revocations),
    });
  }).finally(() => wait.end());
  if (!c) return ctx.fail(`no run-time mode is set for ${scope}`, 2);
  process.exitCode = c.confirmed ? 0 : 1;
  if (opts.json) return void process.stdout.write(jsonText({ cleared: scope, ...c }));
  process.stdout.write(`${confirmationText(`${scope}: cleared (by ${by})`, c, opts.timeout, 'applied it')}\n`);
}

/** `mode set`: recorded, announced, and waited for until every live gateway applied it. */
async function setMode(ctx: CliContext, m: string, opts: SetOpts): Promise<void> {
  if (!(MODES as readonly string[]).includes(m)) ctx.fail(`unknown mode \`${m}\`: use ${MODES.join(', ')}`, 2);
  const scope = scopeKey(opts);
  if (!scope) ctx.fail('give exactly one of --tool, --server, --tenant or --gateway', 2);
  const config = await ctx.load(opts.config);
  await checkNamed(ctx, config, opts);
  const rec: ModeRecord = {
    scope,
    mode: m as ModeRecord['mode'],
    reason: opts.reason.slice(0, 500),
    setBy: actorName(opts.by),
    setAt: Date.now(),
  };
  // Like a revocation, the command returns once every live gateway applies it (walk R: a call made
  // right after `mode set` ran under the mode before), or says which did not.
  const wait = waiting(opts.json);
  const c = await withStore(config, async (s) => {
    const live = await s.revocations.live(LIVE_MS);
    await s.modes.set(rec);
    await recordAdmin(s, config.gateway.stateDir, rec.setBy, 'mode.set', {
      scope,
      mode: rec.mode,
      reason: rec.reason,
    });
    // Replicas sharing Redis apply it at once rather than at their next poll (best effort, bounded).
    await announce(config.limits?.redis, { kind: 'modes.changed' });
    return confirmed(live, () => s.applyAcks.acks(modeKey(scope)), {
      at: rec.setAt,
      version: rec.setAt,
      timeoutMs: Number(opts.timeout) * 1000,
      onWait: wait.onWait,
      stillLive: liveNow(s.revocations),
    });
  }).finally(() => wait.end());
  process.exitCode = c.confirmed ? 0 : 1;
  if (opts.json) return void process.stdout.write(jsonText({ ...rec, ...c }));
  process.stdout.write(
    `${confirmationText(`${scope}: ${rec.mode} (set by ${rec.setBy})`, c, opts.timeout, 'applied it')}\n`,
  );
}
