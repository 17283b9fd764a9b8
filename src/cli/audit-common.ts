/**
 * What the `gatehouse audit` commands (audit.ts, audit-two-person.ts) share: the caller's scope, a time
 * given on the command line, and a result printed as text or JSON.
 */
import type { Config } from '../config/schema.ts';
import { parseTime } from '../audit/timeline.ts';
import type { CliContext } from './context.ts';
import { withStore } from './store.ts';
import { adminScopeOf, caller } from './scope.ts';
import type { Store } from '../storage/types.ts';
import type { AdminScope } from '../identity/authenticator.ts';
import { unknownKind } from '../model/audit-event.ts';

/** `--as` given: the scope of that credential; else the operator's (every tenant). */
export async function scopeFor(
  ctx: CliContext,
  config: Config,
  as: string | undefined,
): Promise<{ scope: AdminScope; person?: string }> {
  return withStore(config, async (s: Store) => {
    const c = await caller(ctx, config, s, as);
    const scope = adminScopeOf(ctx, c);
    if (c.principal && !c.identity.isPerson(c.principal)) return { scope };
    return { scope, person: c.principal?.subject };
  });
}

/** A time given on the command line; fails (exit 2) when it is none. */
export function parseTimeOption(ctx: CliContext, flag: string, v: string): number {
  const t = parseTime(v);
  if (t === undefined)
    ctx.fail(
      `\`${flag} ${v}\` is not a time: use an ISO date (2026-11-29T10:00:00Z) or a duration ago (30m, 24h, 7d)`,
      2,
    );
  return t;
}

function timeOption(ctx: CliContext, flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  return parseTimeOption(ctx, flag, v);
}

/**
 * `--since` and `--until` as times, the range checked: one that ends before it starts holds nothing,
 * and would be reported as an empty search or export rather than as the mistake it is (exit 2).
 */
export function timeRange(
  ctx: CliContext,
  opts: { since?: string; until?: string },
): { since?: number; until?: number } {
  const since = timeOption(ctx, '--since', opts.since);
  const until = timeOption(ctx, '--until', opts.until);
  if (since !== undefined && until !== undefined && since > until)
    ctx.fail(
      `\`--since ${opts.since}\` (${new Date(since).toISOString()}) is after \`--until ${opts.until}\` (${new Date(until).toISOString()}): the range holds nothing; the earlier time is --since (a duration counts back from now: --since 2h --until 1h)`,
      2,
    );
  return { since, until };
}

/** Prints a result: `json` as one line of JSON with --json, else `text`. */
export function printResult(asJson: boolean | undefined, json: unknown, text: string): void {
  process.stdout.write(asJson ? `${JSON.stringify(json)}\n` : `${text}\n`);
}

/** A `--kind` is one of the fixed list: a misspelt one would search for nothing and print an empty table. */
export function kindOption(ctx: CliContext, v: string | undefined): string | undefined {
  const why = v === undefined ? undefined : unknownKind(v);
  return why ? ctx.fail(why, 2) : v;
}
