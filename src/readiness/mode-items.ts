/**
 * The readiness item of a mode that has been used, not only one that could be: a store that can be
 * read says a switch would be followed, not that anyone has ever thrown it. An item passes when the
 * mode is in force now or the audit trail records it set (a drill counts); otherwise it warns that
 * the switch is not yet exercised. A store that cannot be read fails, as `modeItem` says.
 */
import { item, type CheckItem, type Facts } from './checklist.ts';
import { modeItem } from './execution-items.ts';

/** Whether `mode` is in force now: set at run time (the store), or by the policy. */
function inForce({ config, state }: Facts, mode: string): boolean {
  const m = config.policy?.compiled.modes;
  const policy: Array<string | undefined> = m
    ? [m.gateway, ...Object.values(m.tenants), ...Object.values(m.servers), ...Object.values(m.tools)]
    : [];
  return (state.modes ?? []).some((r) => r.mode === mode) || policy.includes(mode);
}

export function exercisedModeItem(f: Facts, id: string, title: string, mode: string, how: string): CheckItem {
  const base = modeItem(f, id, title, mode, how);
  if (base.status !== 'pass' || inForce(f, mode)) return base;
  const last = f.state.modeSets?.filter((s) => s.mode === mode).at(-1);
  if (last) return { ...base, why: `${base.why}; last set for ${last.scope} by ${last.by} at ${last.time}` };
  if (!f.state.modeSets)
    return item(
      id,
      title,
      'warn',
      `${how}; whether it was ever used cannot be read from the audit trail`,
      'check the store',
    );
  return item(
    id,
    title,
    'warn',
    `not yet exercised: no \`mode set ${mode}\` in the audit trail and none in force (${how})`,
    `try it on one tool: \`gatehouse mode set ${mode} --tool <tool> --reason drill\`, then \`gatehouse mode clear --tool <tool>\``,
  );
}
