/**
 * The decision for one tools/call: a pure function of the input, the compiled policy and the clock.
 *
 * Order, and why:
 * 1. Mode (modes.ts). `disabled` denies before anything else: the off switch must not depend on the
 *    policy. `read_only` denies every tool that is not READ, whatever the rules say.
 * 2. Resources: extracted and canonicalised (resources.ts) unless the caller passed them; a refused
 *    value denies (`resource:refused`) — a target the policy cannot read is not one it can allow.
 * 3. Rules that match (all of subjects, tools, classes, resources, validUntil must hold; an absent
 *    condition holds for everything). Then, by strength:
 *    - any `deny` wins (deny overrides);
 *    - else any `shadow` (the call is recorded and simulated, nothing executes — stronger than
 *      approve, because nothing runs even after approval);
 *    - else any `approve` (approvers: the rule's, else the policy's `defaults.approvers`);
 *    - else an `allow`: enough for READ. For WRITE and DESTRUCTIVE it is enough only when an allow
 *      rule names the call's class in `classes`, or names the tool by its exact name (no wildcard) in
 *      `tools`. A wildcard allow (`tools: ['*']`, `github__*`) without `classes` turns into
 *      `approve` with rule `default:class-approval`: nobody writes by accident of a broad glob;
 *    - nothing matched: `deny`, rule `default:deny`.
 *    Within a strength, the first rule in policy order names the decision.
 * 4. Mode `shadow`: an allow or approve of a non-READ tool becomes `shadow` (rule `mode:shadow`,
 *    `shadowOf` says what enforcement would have decided). Shadow never relaxes: a deny stays a deny.
 *
 * A rule with `resources` matches a call only when the call has resources: a `deny` when ANY of
 * them matches one of its patterns, any other effect when EVERY one of them matches one — an allow
 * must cover the whole call, a deny needs to catch only part of it.
 */
import { modeAllows, resolveMode } from './modes.ts';
import { extractResources, extractionFor, matchResource } from './resources.ts';
import { globMatches } from './glob.ts';
import { approverSubjectLabel, namesSubject } from '../model/approval.ts';
import type {
  Decision,
  Effect,
  EvaluationInput,
  Policy,
  PolicyPrincipal,
  Resource,
  ResourceKind,
  Rule,
  TargetKind,
  ToolClass,
} from './model.ts';

export interface RuleCheck {
  rule: Rule;
  matched: boolean;
  /** Why it did not match (empty when it did). */
  why: string;
}

export interface CallFacts {
  principal: PolicyPrincipal;
  tool: string;
  /** Default `tool`. */
  kind?: TargetKind;
  toolClass: ToolClass;
  /** undefined: not known (listings) — resource conditions are then ignored, except by kind: */
  resources?: readonly Resource[];
  /** When resources are not known: the kinds the target can have (a tool's extraction rule), so a rule whose patterns can never match them does not count. */
  resourceKinds?: readonly ResourceKind[];
  now?: number;
}

function subjectsWhy(rule: Rule, p: PolicyPrincipal): string {
  const s = rule.subjects;
  if (!s) return '';
  if (s.tenants && !s.tenants.includes(p.tenant)) return `tenant \`${p.tenant}\` is not one of ${list(s.tenants)}`;
  if (s.subjects && !s.subjects.some((x) => namesSubject(x, p)))
    return `subject \`${p.subject}\`${p.issuer ? ` of \`${p.issuer}\`` : ''} is not one of ${list(s.subjects.map(approverSubjectLabel))}`;
  if (s.clients && !s.clients.includes(p.client)) return `client \`${p.client}\` is not one of ${list(s.clients)}`;
  if (s.roles && !s.roles.some((r) => p.roles.includes(r)))
    return `roles ${p.roles.length ? list(p.roles) : '(none)'} include none of ${list(s.roles)}`;
  return '';
}

const list = (xs: readonly string[]): string => xs.map((x) => `\`${x}\``).join(', ');

/** Does one rule match the call, and if not, the first condition that failed. */
export function checkRule(rule: Rule, f: CallFacts): RuleCheck {
  const no = (why: string): RuleCheck => ({ rule, matched: false, why });
  if (rule.validUntil !== undefined && f.now !== undefined && f.now >= rule.validUntil)
    return no(`expired at ${new Date(rule.validUntil).toISOString()}`);
  const who = subjectsWhy(rule, f.principal);
  if (who) return no(who);
  const kind = f.kind ?? 'tool';
  if (kind !== 'tool' && rule.tools) return no(`the rule names tools; this is a ${kind}`);
  if (kind !== 'prompt' && rule.prompts) return no(`the rule names prompts; this is a ${kind}`);
  if (rule.tools && !rule.tools.some((g) => globMatches(g, f.tool)))
    return no(`tool \`${f.tool}\` matches none of ${list(rule.tools.map((g) => g.source))}`);
  if (rule.prompts && !rule.prompts.some((g) => globMatches(g, f.tool)))
    return no(`prompt \`${f.tool}\` matches none of ${list(rule.prompts.map((g) => g.source))}`);
  if (rule.classes && !rule.classes.includes(f.toolClass))
    return no(`class ${f.toolClass} is not one of ${rule.classes.join(', ')}`);
  if (rule.resources && f.resources === undefined && f.resourceKinds !== undefined) {
    const kinds = f.resourceKinds;
    if (!rule.resources.some((p) => kinds.includes(p.kind ?? (p.match === 'glob' ? 'id' : (p.shape ?? 'id'))))) {
      return no(
        kinds.length
          ? `no resource pattern of the rule can match a ${kinds.join(' or ')}`
          : 'the target has no extracted resource',
      );
    }
  }
  if (rule.resources && f.resources !== undefined) {
    const pats = rule.resources;
    if (f.resources.length === 0) return no('the call has no extracted resource');
    const hit = (r: Resource) => pats.some((p) => matchResource(p, r));
    const misses = f.resources.filter((r) => !hit(r));
    // A deny rule needs one resource to match it; an allow rule, every one.
    if (rule.effect === 'deny' ? misses.length === f.resources.length : misses.length > 0) {
      return no(`resource \`${misses[0].value}\` matches none of ${list(pats.map((p) => p.source))}`);
    }
  }
  return { rule, matched: true, why: '' };
}

/** An allow rule that waives class approval for a WRITE/DESTRUCTIVE call (see the header). */
function namesExplicitly(rule: Rule, tool: string, cls: ToolClass): boolean {
  return (rule.classes?.includes(cls) ?? false) || (rule.tools?.some((g) => g.literal && g.source === tool) ?? false);
}

/**
 * Whether a call to `tool` (of class `cls`) with no extracted resource could be sent for approval, for
 * some caller at some time: an approve rule covers it, or a WRITE or DESTRUCTIVE call matches an allow
 * rule that names neither its class nor the tool (step 3: class approval). Subjects, validUntil and
 * deny rules are not weighed: this says what approvers may be asked about, not what a caller gets.
 */
export function mayAskApproval(policy: Policy, tool: string, cls: ToolClass): boolean {
  const covers = (r: Rule) =>
    !r.resources &&
    (r.tools ? r.tools.some((g) => globMatches(g, tool)) : !r.prompts) &&
    (!r.classes || r.classes.includes(cls));
  return policy.rules.some(
    (r) =>
      covers(r) &&
      (r.effect === 'approve' || (r.effect === 'allow' && cls !== 'READ' && !namesExplicitly(r, tool, cls))),
  );
}

type Verdict = Pick<Decision, 'effect' | 'rule' | 'reasons' | 'approvers'>;

/** Step 3 of the header: the policy's verdict, before modes. */
function decideRules(policy: Policy, f: CallFacts): Verdict {
  const matched = policy.rules.filter((r) => checkRule(r, f).matched);
  const first = (e: Effect) => matched.find((r) => r.effect === e);
  const seen = matched.map((r) => `rule \`${r.id}\` (${r.effect}) matched`);
  const deny = first('deny') ?? first('shadow');
  if (deny) return { effect: deny.effect, rule: deny.id, reasons: seen };
  const approve = first('approve');
  if (approve) {
    const approvers = approve.approvers ?? policy.defaultApprovers;
    return { effect: 'approve', rule: approve.id, reasons: seen, ...(approvers ? { approvers } : {}) };
  }
  const allows = matched.filter((r) => r.effect === 'allow');
  if (allows.length === 0) return { effect: 'deny', rule: 'default:deny', reasons: ['no rule allows this call'] };
  if (f.toolClass === 'READ') return { effect: 'allow', rule: allows[0].id, reasons: seen };
  const explicit = allows.find((r) => namesExplicitly(r, f.tool, f.toolClass));
  if (explicit) return { effect: 'allow', rule: explicit.id, reasons: seen };
  const reasons = [
    ...seen,
    `${f.toolClass} needs approval: no matching allow rule names class ${f.toolClass} or tool \`${f.tool}\` exactly`,
  ];
  return {
    effect: 'approve',
    rule: 'default:class-approval',
    reasons,
    ...(policy.defaultApprovers ? { approvers: policy.defaultApprovers } : {}),
  };
}

export function evaluate(input: EvaluationInput, policy: Policy, now: Date | number): Decision {
  const at = typeof now === 'number' ? now : now.getTime();
  const { mode, from } = resolveMode(policy.modes, {
    tenant: input.principal.tenant,
    server: input.server,
    tool: input.tool,
  });
  const out = (v: Verdict): Decision => ({ ...v, mode, revision: policy.revision });
  if (mode === 'disabled')
    return out({ effect: 'deny', rule: 'mode:disabled', reasons: [`mode is disabled (${from})`] });
  if (mode === 'read_only' && input.toolClass !== 'READ')
    return out({
      effect: 'deny',
      rule: 'mode:read_only',
      reasons: [`mode is read_only (${from}) and the tool is ${input.toolClass}`],
    });
  let resources = input.resources;
  if (resources === undefined) {
    const x = extractResources(policy.resources, input.tool, input.arguments);
    if (!x.ok)
      return out({
        effect: 'deny',
        rule: 'resource:refused',
        reasons: [x.path ? `${x.reason} (at \`${x.path}\`)` : x.reason],
      });
    resources = x.resources.map(({ kind, value }) => ({ kind, value }));
  }
  const v = decideRules(policy, {
    principal: input.principal,
    tool: input.tool,
    kind: input.kind,
    toolClass: input.toolClass,
    resources,
    now: at,
  });
  if (mode === 'shadow' && input.toolClass !== 'READ' && (v.effect === 'allow' || v.effect === 'approve')) {
    return {
      ...out({
        effect: 'shadow',
        rule: 'mode:shadow',
        reasons: [...v.reasons, `mode is shadow (${from}): would be ${v.effect} by \`${v.rule}\`; nothing is executed`],
      }),
      shadowOf: { effect: v.effect, rule: v.rule },
    };
  }
  return out(v);
}

/**
 * Whether a tool appears in the principal's listings: not switched off by its mode, not denied to it
 * by a rule whatever the resource, and some rule could allow, approve or shadow a call to it (resource
 * conditions are ignored — the arguments are not known yet). `server` defaults to the part of the
 * name before the first `__` (pass it when the namespace separator is configured differently).
 */
/**
 * The kinds of resource a target can have before its arguments are known: a tool's from its
 * extraction rule; a prompt none (a rule that names only resources never covers one); a template
 * the kind its URIs are. Undefined: not known (a resource read, judged by its URI at decide).
 */
function resourceKindsOf(
  policy: Policy,
  tool: string,
  opts: { kind?: TargetKind; resourceKinds?: readonly ResourceKind[] },
): readonly ResourceKind[] | undefined {
  const kind = opts.kind ?? 'tool';
  if (kind === 'tool') return extractionFor(policy.resources, tool)?.resources.map((r) => r.kind) ?? [];
  if (kind === 'prompt') return [];
  return opts.resourceKinds;
}

export function visible(
  principal: PolicyPrincipal,
  tool: string,
  toolClass: ToolClass,
  policy: Policy,
  opts: {
    server?: string;
    now?: number;
    kind?: TargetKind;
    resources?: readonly Resource[];
    /** A resource template's: the kind its URIs are (`file:` a path, http(s) a url, else an id). */
    resourceKinds?: readonly ResourceKind[];
  } = {},
): boolean {
  const sep = tool.indexOf('__');
  const server = opts.server ?? (sep > 0 ? tool.slice(0, sep) : '');
  if (!modeAllows(policy.modes, { tenant: principal.tenant, server, tool }, toolClass)) return false;
  const facts: CallFacts = {
    principal,
    tool,
    kind: opts.kind,
    toolClass,
    now: opts.now,
    resources: opts.resources,
    resourceKinds: opts.resources === undefined ? resourceKindsOf(policy, tool, opts) : undefined,
  };
  const matched = policy.rules.filter((r) => checkRule(r, facts).matched);
  if (matched.some((r) => r.effect === 'deny' && (!r.resources || opts.resources !== undefined))) return false;
  return matched.some((r) => r.effect !== 'deny');
}
