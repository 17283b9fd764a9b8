/**
 * `gatehouse policy explain`: the decision for one call, and for every rule whether it matched and,
 * when it did not, the first condition that failed. Built from the same functions evaluate uses, so
 * the explanation cannot drift from the decision.
 */
import { evaluate, checkRule } from './evaluate.ts';
import { resolveMode } from './modes.ts';
import { extractResources } from './resources.ts';
import type { EvaluationInput, Policy, Resource } from './model.ts';

/**
 * `origin` says more about where the mode in force was set (`gatehouse mode set`: by whom, why) given
 * the scope it came from; the policy files' modes need nothing more.
 */
export function explain(
  input: EvaluationInput,
  policy: Policy,
  now: Date | number = Date.now(),
  origin: (from: string) => string | undefined = () => undefined,
): string[] {
  const at = typeof now === 'number' ? now : now.getTime();
  const p = input.principal;
  const lines = [
    `policy revision ${policy.revision}`,
    `call: \`${input.tool}\` (${input.toolClass}) on server \`${input.server}\` by subject \`${p.subject}\`, tenant \`${p.tenant}\`, client \`${p.client}\`, roles ${p.roles.length ? p.roles.map((r) => `\`${r}\``).join(', ') : '(none)'}`,
  ];
  const m = resolveMode(policy.modes, { tenant: p.tenant, server: input.server, tool: input.tool });
  const set = origin(m.from);
  lines.push(`mode: ${m.mode} (${m.from}${set ? `, ${set}` : ''})`);
  let resources: readonly Resource[] | undefined = input.resources;
  if (resources === undefined) {
    const x = extractResources(policy.resources, input.tool, input.arguments);
    if (x.ok) resources = x.resources;
    else lines.push(`resources: refused: ${x.reason}${x.path ? ` (at \`${x.path}\`)` : ''}`);
  }
  if (resources)
    lines.push(
      `resources: ${resources.length ? resources.map((r) => `${r.kind} \`${r.value}\``).join(', ') : '(none extracted)'}`,
    );
  for (const rule of policy.rules) {
    const c = checkRule(rule, {
      principal: p,
      tool: input.tool,
      toolClass: input.toolClass,
      resources: resources ?? [],
      now: at,
    });
    lines.push(
      `  rule \`${rule.id}\` (${rule.effect}, ${rule.at.file}:${rule.at.line}): ${c.matched ? 'matched' : `no: ${c.why}`}`,
    );
  }
  const d = evaluate(input, policy, at);
  lines.push(
    `decision: ${d.effect} by \`${d.rule}\`${d.shadowOf ? ` (enforcement would be ${d.shadowOf.effect} by \`${d.shadowOf.rule}\`)` : ''}`,
  );
  for (const r of d.reasons) lines.push(`  because ${r}`);
  if (d.approvers) {
    const who = [
      ...(d.approvers.roles ?? []).map((r) => `role \`${r}\``),
      ...(d.approvers.subjects ?? []).map((s) =>
        typeof s === 'string' ? `subject \`${s}\`` : `subject \`${s.subject}\` of \`${s.issuer}\``,
      ),
    ];
    lines.push(`approvers: ${d.approvers.count} of ${who.join(', ')}`);
  }
  return lines;
}
