/**
 * What callers may do (./weakening.ts): the policy's effective decisions, compared between the
 * running and the new policy by evaluating both (the real evaluator, modes included) on every
 * class, for every tool, tenant, role, subject and client either policy or the servers name, and one
 * each names nothing. A decision that allows more (deny < shadow < approve < allow) is noted at warn
 * level naming what widened; a policy edit is the policy's own review (`gatehouse policy test`), so
 * it is not refused, but never applied in silence. Rules whose conditions a probe does not exercise
 * (resources, prompts, expiry, issuer-bound subjects) are named when added, changed or removed.
 */
import type { Config } from './schema.ts';
import type { Effect, Policy, PolicyPrincipal, Rule, ToolClass } from '../policy/model.ts';
import { evaluate } from '../policy/evaluate.ts';
import { resolveMode } from '../policy/modes.ts';
import { type Weakening, refuse, warn } from './weakening-kinds.ts';

const CLASSES: readonly ToolClass[] = ['READ', 'WRITE', 'DESTRUCTIVE'];
const RANK: Record<Effect, number> = { deny: 0, shadow: 1, approve: 2, allow: 3 };
/** A name no policy uses: the probe of "anyone else". */
const OTHER = '~other';
/** Beyond this many evaluations, the comparison is not made and the change is named for review. */
const MAX_PROBES = 50_000;

export function policyWeakenings(running: Config, next: Config): Weakening[] {
  if (!running.policy) return [];
  if (!next.policy)
    return [refuse('policy', 'policy removed: every call would be allowed, WRITE and DESTRUCTIVE without approval')];
  const [was, now] = [running.policy.compiled, next.policy.compiled];
  const found: Weakening[] = [];
  if (running.policy.unknownTools === 'error' && next.policy.unknownTools !== 'error')
    found.push(warn('policy', 'policy.unknownTools: error -> warn: rules naming unconfigured tools load'));
  found.push(...shadowed(was, now));
  if (was.revision === now.revision) return found;
  found.push(...widened(was, now, next), ...unprobed(was, now));
  return found;
}

/** Every name either policy or the new config names: the probes' axes. */
function axes(was: Policy, now: Policy, next: Config) {
  const sep = next.gateway.namespaceSeparator;
  const [tenants, tools, roles, subjects, clients] = [
    new Set([OTHER]),
    new Set([OTHER]),
    new Set<string>(),
    new Set<string>(),
    new Set<string>(),
  ];
  for (const p of [was, now]) {
    for (const r of p.rules) {
      for (const t of r.subjects?.tenants ?? []) tenants.add(t);
      for (const t of r.subjects?.roles ?? []) roles.add(t);
      for (const t of r.subjects?.clients ?? []) clients.add(t);
      for (const t of r.subjects?.subjects ?? []) if (typeof t === 'string') subjects.add(t);
      for (const g of r.tools ?? []) if (g.literal) tools.add(g.source);
    }
    for (const t of Object.keys(p.modes.tenants)) tenants.add(t);
    for (const t of Object.keys(p.modes.tools)) tools.add(t);
    for (const s of Object.keys(p.modes.servers)) tools.add(`${s}${sep}${OTHER}`);
  }
  for (const s of next.servers) {
    tools.add(`${s.name}${sep}${OTHER}`);
    for (const t of Object.keys(s.tools ?? {})) tools.add(`${s.name}${sep}${t}`);
  }
  const base: PolicyPrincipal = { subject: OTHER, tenant: OTHER, client: OTHER, roles: [] };
  const principals = [
    base,
    ...[...roles].map((r) => ({ ...base, roles: [r] })),
    ...[...subjects].map((subject) => ({ ...base, subject })),
    ...[...clients].map((client) => ({ ...base, client })),
  ];
  return { sep, tenants: [...tenants], tools: [...tools], principals };
}

function widened(was: Policy, now: Policy, next: Config): Weakening[] {
  const { sep, tenants, tools, principals } = axes(was, now, next);
  if (tenants.length * tools.length * principals.length * CLASSES.length > MAX_PROBES)
    return [warn('policy', `policy revision ${was.revision} -> ${now.revision}: too large to compare: review it`)];
  // What widened, by class, effect and principal: the tools it widened for.
  const seen = new Map<string, Set<string>>();
  const at = Date.now();
  for (const tenant of tenants)
    for (const p of principals)
      for (const tool of tools)
        for (const toolClass of CLASSES) {
          const input = {
            principal: { ...p, tenant },
            server: tool.split(sep)[0],
            tool,
            toolClass,
            arguments: {},
            resources: [],
          };
          const [a, b] = [evaluate(input, was, at).effect, evaluate(input, now, at).effect];
          if (RANK[b] <= RANK[a]) continue;
          const group = `${toolClass} ${a} -> ${b}${whom(tenant, p)}`;
          seen.set(group, (seen.get(group) ?? new Set()).add(toolName(tool, sep)));
        }
  if (!seen.size) return [];
  const list = [...seen].map(
    ([group, names]) => `${group}: ${[...names].slice(0, 8).join(', ')}${names.size > 8 ? ', …' : ''}`,
  );
  return [
    warn(
      'policy',
      `policy allows more than it did (revision ${was.revision} -> ${now.revision}): ${list.slice(0, 6).join('; ')}${list.length > 6 ? `; and ${list.length - 6} more` : ''}`,
    ),
  ];
}

/** A probe's tool as the operator reads it: `any tool`, `server__*` (its unnamed tools), or the name. */
const toolName = (tool: string, sep: string) => {
  if (tool === OTHER) return 'any tool';
  return tool.endsWith(`${sep}${OTHER}`) ? `${tool.slice(0, -OTHER.length)}*` : tool;
};

/** Who a probe stands for, when it names anyone. */
function whom(tenant: string, p: PolicyPrincipal): string {
  const who = [
    tenant !== OTHER && `tenant ${tenant}`,
    p.roles[0] && `role ${p.roles[0]}`,
    p.subject !== OTHER && `subject ${p.subject}`,
    p.client !== OTHER && `client ${p.client}`,
  ].filter(Boolean);
  return who.length ? ` (${who.join(', ')})` : '';
}

/** A rule's conditions the probes do not exercise. */
const unprobedRule = (r: Rule) =>
  Boolean(
    r.resources?.length ||
      r.prompts?.length ||
      r.validUntil !== undefined ||
      r.subjects?.subjects?.some((s) => typeof s !== 'string') ||
      r.tools?.some((g) => !g.literal),
  );
const key = (r: Rule) =>
  JSON.stringify({
    ...r,
    at: undefined,
    tools: r.tools?.map((g) => g.source),
    prompts: r.prompts?.map((g) => g.source),
    resources: r.resources?.map((p) => p.source),
  });

function unprobed(was: Policy, now: Policy): Weakening[] {
  const [a, b] = [new Set(was.rules.map(key)), new Set(now.rules.map(key))];
  const ids = [
    ...now.rules.filter((r) => r.effect !== 'deny' && !a.has(key(r)) && unprobedRule(r)),
    ...was.rules.filter((r) => r.effect === 'deny' && !b.has(key(r)) && unprobedRule(r)),
  ].map((r) => r.id);
  if (!ids.length) return [];
  return [
    warn(
      'policy',
      `policy rule(s) ${[...new Set(ids)].join(', ')} added, changed or removed with conditions not compared (resources, prompts, validUntil, tool globs): review them`,
    ),
  ];
}

/** Whatever is newly in `shadow` by its effective mode (an entry removed counts: the level above then decides). */
function shadowed(was: Policy, now: Policy): Weakening[] {
  const found: Weakening[] = [];
  const target = { tenant: OTHER, server: OTHER, tool: OTHER };
  const check = (what: string, t: typeof target) => {
    if (resolveMode(now.modes, t).mode === 'shadow' && resolveMode(was.modes, t).mode !== 'shadow')
      found.push(warn('policy', `policy mode of ${what} -> shadow: calls are recorded, nothing is enforced or run`));
  };
  check('the gateway', target);
  const names = (level: 'tenants' | 'servers' | 'tools') =>
    new Set([...Object.keys(was.modes[level]), ...Object.keys(now.modes[level])]);
  for (const tenant of names('tenants')) check(`tenant ${tenant}`, { ...target, tenant });
  for (const server of names('servers')) check(`server ${server}`, { ...target, server });
  for (const tool of names('tools')) check(`tool ${tool}`, { ...target, tool });
  return found;
}

type LimitRule = NonNullable<Config['limits']>['rules'][number];

/** Limits removed (or a rule of them) is refused: calls would go unlimited; a rule loosened is warned. */
export function limitsWeakenings(running: Config, next: Config): Weakening[] {
  const was = running.limits?.rules ?? [];
  if (!was.length) return [];
  if (!next.limits?.rules.length) return [refuse('limits', 'limits removed: calls would no longer be limited')];
  const found: Weakening[] = [];
  const perSecond = (r: LimitRule) => (r.rate ? r.rate.points / r.rate.perSeconds : Number.POSITIVE_INFINITY);
  const burst = (r: LimitRule) => (r.rate ? (r.rate.burst ?? r.rate.points) : Number.POSITIVE_INFINITY);
  const cap = (r: LimitRule) => r.concurrency ?? Number.POSITIVE_INFINITY;
  for (const a of was) {
    const b = next.limits.rules.find((r) => r.id === a.id);
    if (!b) {
      found.push(refuse('limits', `limits rule ${a.id} removed: its calls would no longer be limited`));
      continue;
    }
    const looser = [
      perSecond(b) > perSecond(a) && 'rate raised',
      burst(b) > burst(a) && 'burst raised',
      cap(b) > cap(a) && 'concurrency raised',
      a.scope !== b.scope && `scope ${a.scope} -> ${b.scope}`,
      JSON.stringify(a.tools ?? null) !== JSON.stringify(b.tools ?? null) && 'tools changed',
    ].filter(Boolean);
    if (looser.length) found.push(warn('limits', `limits rule ${a.id}: ${looser.join(', ')}`));
  }
  return found;
}

/** Who may ask for what, and how tools enter the catalogue. */
export function approvalWeakenings(running: Config, next: Config): Weakening[] {
  const found: Weakening[] = [];
  if (running.inventory.newTools === 'quarantine' && next.inventory.newTools === 'accept')
    found.push(
      refuse('inventory', 'inventory.newTools: quarantine -> accept: a tool an upstream adds is callable unreviewed'),
    );
  const [a, b] = [running.approvals, next.approvals];
  for (const k of ['maxPendingPerPrincipal', 'maxPendingPerTenant', 'ttlSeconds'] as const)
    if ((b[k] ?? 0) > (a[k] ?? 0)) found.push(warn('policy', `approvals.${k} raised`));
  return found;
}
