/**
 * The readiness item of a mode that has been used, not only one that could be: a store that can be
 * read says a switch would be followed, not that anyone has ever thrown it. An item passes when the
 * mode is in force now or the audit trail records it set (a drill counts); otherwise it warns that
 * the switch is not yet exercised. A store that cannot be read fails, as `modeItem` says.
 */
import { item, list, type CheckItem, type Facts } from './checklist.ts';

/** Where mode `mode` is in force now: set at run time (the store), or by the policy. */
function inForce({ config, state }: Facts, mode: string): string[] {
  const pol = config.policy?.compiled;
  return [
    ...(state.modes ?? []).filter((r) => r.mode === mode).map((r) => r.scope),
    ...Object.entries({ ...(pol?.modes.tenants ?? {}), ...(pol?.modes.servers ?? {}), ...(pol?.modes.tools ?? {}) })
      .filter(([, v]) => v === mode)
      .map(([k]) => `${k} (policy)`),
    ...(pol?.modes.gateway === mode ? ['gateway (policy)'] : []),
  ];
}

/** The item of a mode: it passes only when the run-time modes can be read (else a switch would not be followed). */
function modeItem(f: Facts, id: string, title: string, mode: string, how: string): CheckItem {
  if (!f.state.modes)
    return item(
      id,
      title,
      'fail',
      'the run-time modes cannot be read from the store, so a switch would not be followed',
      'check the store',
    );
  const now = inForce(f, mode);
  return item(id, title, 'pass', `${how}; in force now: ${now.length ? list(now) : 'none'}`, 'check the store');
}

export function exercisedModeItem(f: Facts, id: string, title: string, mode: string, how: string): CheckItem {
  const base = modeItem(f, id, title, mode, how);
  if (base.status !== 'pass' || inForce(f, mode).length) return base;
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
