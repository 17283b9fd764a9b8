/**
 * Section 7 of the readiness checklist, rollout: shadow mode, switching a server or tool off at
 * once, revoking credentials during an incident, exports that keep up, owners who can be notified.
 */
import type { ServerConfig } from '../config/schema.ts';
import { exportsJudged } from './audit-items.ts';
import { item, list, type CheckItem, type Facts } from './checklist.ts';
import { exercisedModeItem } from './mode-items.ts';
import type { ReadinessState } from './state.ts';

export function rolloutItems(f: Facts): CheckItem[] {
  // Notifying needs an owner; repository and location are item 1.1's.
  const ownerless = f.enabled.filter((s) => !s.owner).map((s) => s.name);
  return [
    exercisedModeItem(
      f,
      '7.1',
      'shadow mode: proposed writes are recorded, nothing executes',
      'shadow',
      '`gatehouse mode set shadow ...`, or `modes` in the policy; the caller is told nothing ran',
    ),
    exercisedModeItem(
      f,
      '7.2',
      'a server or tool can be switched off at once',
      'disabled',
      '`gatehouse mode set disabled --tool|--server ...` applies on every gateway within a second, audited',
    ),
    revocationItem(f.enabled, f.state.revocations),
    exportLagItem(f.state.audit),
    item(
      '7.5',
      'owners can be notified',
      ownerless.length ? 'fail' : 'pass',
      ownerless.length ? `no owner recorded for ${list(ownerless)}` : 'every server has an owner on record',
      'set `servers[].owner`',
    ),
  ];
}

function revocationItem(enabled: ServerConfig[], rev: ReadinessState['revocations']): CheckItem {
  const title = 'credentials can be revoked during an incident';
  if (!rev)
    return item('7.3', title, 'fail', 'the revocation records cannot be read from the store', 'check the store');
  const fix = 'reference upstream secrets with `servers[].credentials`';
  const brokeredServers = enabled
    .filter((s) => s.credentials || (s.transport !== 'stdio' && s.oauth))
    .map((s) => s.name);
  if (brokeredServers.length)
    return item(
      '7.3',
      title,
      'pass',
      `\`gatehouse credentials revoke <ref>\` stops every connection holding it: ${list(brokeredServers)} use brokered credentials; ${rev.liveGateways} live gateway(s) follow revocations`,
      fix,
    );
  return item(
    '7.3',
    title,
    'warn',
    'no server uses brokered credentials: there is nothing Gatehouse can revoke (secrets would have to be revoked at each server)',
    fix,
  );
}

function exportLagItem(au: ReadinessState['audit']): CheckItem {
  const title = 'logs can be exported for an incident';
  if (!au) return item('7.4', title, 'fail', 'the audit trail cannot be read from the store', 'check the store');
  const fix = 'check the export destinations (`gatehouse audit export` meanwhile)';
  const names = Object.keys(au.exports);
  const readable = `${au.records} record(s) readable for \`gatehouse audit export\` and \`gatehouse audit run\``;
  // Behind or stalled only warns here: the trail itself stays readable from the store.
  const { problems } = exportsJudged(names, au.exports);
  if (problems.length) return item('7.4', title, 'warn', `${readable}; ${list(problems)}`, fix);
  return item('7.4', title, 'pass', `${readable}; ${names.length} export(s) up to date`, fix);
}
