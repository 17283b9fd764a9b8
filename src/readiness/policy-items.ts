/**
 * Section 3 of the readiness checklist, policy: a tool allowlist, resource allowlists, approval
 * for WRITE and DESTRUCTIVE calls, rate limits and concurrency caps.
 */
import type { Config } from '../config/schema.ts';
import { effectiveClass } from '../inventory/review.ts';
import { policyNameWarnings } from '../inventory/policy-names.ts';
import type { InventoryData } from '../inventory/report.ts';
import { item, list, type CheckItem, type Facts } from './checklist.ts';

export function policyItems({ config, inv, present, classes }: Facts): CheckItem[] {
  const pol = config.policy?.compiled;
  const risky = present.filter((t) => effectiveClass(t, classes.get(t.server)?.get(t.tool)).class !== 'READ').length;
  return [
    allowlistItem(config, inv.tools),
    item(
      '3.2',
      'exact resource allowlists bound what tools may touch',
      pol?.resources.length ? 'pass' : 'fail',
      pol?.resources.length
        ? `${pol.resources.length} resource extraction rule(s); paths, URLs and ids canonicalised and checked`
        : 'no resource rules: arguments are not checked against allowed repositories, folders or URLs',
      'add `resources:` extraction rules and resource patterns to the policy',
    ),
    item(
      '3.3',
      'WRITE and DESTRUCTIVE calls need approval',
      pol ? 'pass' : 'fail',
      pol
        ? 'the policy sends WRITE and DESTRUCTIVE calls for approval unless a rule allows their class or names the tool'
        : `no policy: ${risky} WRITE or DESTRUCTIVE tool(s) run without approval`,
      'write a policy (`policy.files`); approvers per rule or `defaults.approvers`',
    ),
    limitsItem(config),
  ];
}

/**
 * 3.1: a policy, and one whose rules and modes name what exists. A name that matches nothing (a typo,
 * a removed server) grants or forbids nothing while reading as if it did: a warning, each at its
 * file and line, read as `gatehouse config validate` and the gateway read it.
 */
function allowlistItem(config: Config, listed: InventoryData['tools']): CheckItem {
  const title = 'a tool allowlist decides who may call what';
  const fix = 'write a policy (`policy.files`) and test it with `gatehouse policy test`';
  const pol = config.policy?.compiled;
  if (!pol) return item('3.1', title, 'fail', 'no policy is configured: every caller may call every active tool', fix);
  const why = `policy revision ${pol.revision}: ${pol.rules.length} rule(s), deny by default`;
  const unknown = policyNameWarnings(config, listed);
  if (!unknown.length) return item('3.1', title, 'pass', why, fix);
  return item(
    '3.1',
    title,
    'warn',
    `${why}; ${unknown.length} name(s) match nothing, so they allow or forbid nothing: ${list(
      unknown.map((w) => `${w.at}: ${w.message}`),
      3,
    )}`,
    'correct or remove those names in the policy (`gatehouse config validate` lists each at its line)',
  );
}

/** What to add to `limits.rules`, given what they lack. */
function limitsFix(rate: boolean, concurrency: boolean): string {
  const replicas = '`limits.redis` for several replicas';
  if (!rate && !concurrency) return `add \`limits.rules\` (rate and concurrency; ${replicas})`;
  if (!concurrency)
    return 'add a rule with `concurrency:` to `limits.rules` (a cap on calls at once, e.g. per principal and tool)';
  if (!rate) return 'add a rule with `rate:` to `limits.rules` (points per period, e.g. per principal)';
  return `adjust \`limits.rules\` (${replicas})`;
}

function limitsItem(config: Config): CheckItem {
  const title = 'rate limits and concurrency caps per user and per tool';
  const lim = config.limits?.rules ?? [];
  const rate = lim.some((r) => r.rate);
  const concurrency = lim.some((r) => r.concurrency);
  const fix = limitsFix(rate, concurrency);
  if (!lim.length) return item('3.4', title, 'fail', 'no rate limit or concurrency cap is configured', fix);
  // The check reads the config, not the running replicas: whether their Redis answers is in their
  // log and metrics (gatehouse_limits_degraded, gatehouse_fanout_up), so only "configured" is said.
  const where = config.limits?.redis
    ? ', to be shared through the configured Redis (whether it answers: `gatehouse_limits_degraded` on each replica)'
    : ', in memory (one process)';
  return item(
    '3.4',
    title,
    rate && concurrency ? 'pass' : 'warn',
    `${lim.length} rule(s)${where}${concurrency ? '' : '; no concurrency cap'}${rate ? '' : '; no rate limit'}`,
    fix,
  );
}
