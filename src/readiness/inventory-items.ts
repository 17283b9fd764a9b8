/**
 * Section 1 of the readiness checklist, inventory: every server documented (owner, repository,
 * location) and discovered, every tool classified by an operator, nothing waiting in quarantine,
 * permissions and resources written down, new tools held for review.
 */
import type { ServerConfig } from '../config/schema.ts';
import { effectiveClass, serverQuarantine, toolQuarantine } from '../inventory/review.ts';
import { item, list, type CheckItem, type Facts } from './checklist.ts';
import { serverLocation } from '../inventory/report.ts';

/** Each server missing its owner or repository, with what it misses (`files (owner, repository)`). */
function undocumentedServers(enabled: ServerConfig[]): string[] {
  return enabled.flatMap((s) => {
    const missing = (['owner', 'repository'] as const).filter((k) => !s[k]);
    return missing.length ? [`${s.name} (${missing.join(', ')})`] : [];
  });
}

export function inventoryItems(f: Facts): CheckItem[] {
  const { config, enabled, inv, present } = f;
  const undocumented = undocumentedServers(enabled);
  const undiscovered = enabled.filter((s) => !inv.servers.some((r) => r.server === s.name)).map((s) => s.name);
  // A server whose secret is missing never starts: no refresh discovers it until 2.3 is fixed.
  const noSecret = new Set(f.state.missingSecrets?.map((m) => m.server));
  const blocked = undiscovered.filter((n) => noSecret.has(n));
  const noScopes = enabled.filter((s) => !s.scopes?.length).map((s) => s.name);
  const noResources = enabled.filter((s) => !s.resources?.length).map((s) => s.name);
  const quarantineNew = config.inventory.newTools === 'quarantine';
  return [
    item(
      '1.1',
      'every server has an owner, a source repository and a location',
      undocumented.length ? 'fail' : 'pass',
      undocumented.length
        ? `missing for ${list(undocumented)}`
        : `${enabled.length} server(s) documented: ${list(enabled.map((s) => `${s.name} (${serverLocation(s)})`))}`,
      'set `owner` and `repository` on each server in the config (`location` when where it runs is not its transport)',
    ),
    item(
      '1.2',
      'every server has been discovered and catalogued',
      undiscovered.length ? 'fail' : 'pass',
      undiscovered.length
        ? `never discovered: ${list(undiscovered)}${blocked.length ? `; ${list(blocked)} cannot start: credentials unavailable (2.3)` : ''}`
        : `${enabled.length} server(s), ${present.length} tool(s) catalogued`,
      `${blocked.length ? 'give the servers their missing secrets (2.3), then ' : ''}start the gateway, or run \`gatehouse inventory --refresh\``,
    ),
    classificationItem(f),
    quarantineItem(f),
    item(
      '1.5',
      'the upstream permissions each server needs are written down',
      noScopes.length ? 'warn' : 'pass',
      noScopes.length ? `no \`scopes\` for ${list(noScopes)}` : 'scopes documented',
      'list the OAuth scopes or roles in `servers[].scopes` (an empty list is not enough)',
    ),
    item(
      '1.6',
      'the resources each server may touch are written down',
      noResources.length ? 'warn' : 'pass',
      noResources.length ? `no \`resources\` for ${list(noResources)}` : 'in-bounds resources documented',
      'list repositories, projects, folders or URLs in `servers[].resources`',
    ),
    item(
      '1.7',
      'tool definitions are pinned and new tools wait for review',
      quarantineNew ? 'pass' : 'warn',
      quarantineNew
        ? 'changed definitions and new tools are quarantined until accepted'
        : 'new tools are accepted on first sight (`inventory.newTools: accept`)',
      'set `inventory.newTools: quarantine`',
    ),
  ];
}

/** A tool as the CLI takes it (`gatehouse inventory classify|accept <server><sep><tool>`). */
function toolName(f: Facts, t: { server: string; tool: string }): string {
  return `${t.server}${f.config.gateway.namespaceSeparator}${t.tool}`;
}

function classificationItem(f: Facts): CheckItem {
  const { present, classes } = f;
  const title = 'every tool is classified READ / WRITE / DESTRUCTIVE by an operator';
  const sep = f.config.gateway.namespaceSeparator;
  const fix = `set \`servers[].tools.<tool>.class\` in the config, or run \`gatehouse inventory classify <server>${sep}<tool> <class>\``;
  const unreviewed = present
    .filter((t) => !effectiveClass(t, classes.get(t.server)?.get(t.tool)).reviewed)
    .map((t) => toolName(f, t));
  if (unreviewed.length)
    return item(
      '1.3',
      title,
      'fail',
      `${unreviewed.length} unreviewed (treated as DESTRUCTIVE): ${list(unreviewed)}`,
      `set \`servers[].tools.<tool>.class\` in the config, or run \`gatehouse inventory classify ${unreviewed[0]} <READ|WRITE|DESTRUCTIVE>\` (and so for each)`,
    );
  if (!present.length) return item('1.3', title, 'fail', 'no tools catalogued', fix);
  return item('1.3', title, 'pass', `${present.length} tool(s) classified`, fix);
}

function quarantineItem(f: Facts): CheckItem {
  const { presentItems, inv, enabled } = f;
  const quarantined = presentItems.filter((t) => toolQuarantine(t)).map((t) => toolName(f, t));
  const qServers = inv.servers
    .filter((r) => enabled.some((s) => s.name === r.server) && serverQuarantine(r))
    .map((r) => r.server);
  const waiting = quarantined.length || qServers.length;
  return item(
    '1.4',
    'no tool or server is waiting in quarantine',
    waiting ? 'warn' : 'pass',
    waiting ? `quarantined: ${list([...qServers, ...quarantined])}` : 'nothing quarantined',
    'review with `gatehouse inventory diff`, then `gatehouse inventory accept <tool>`',
  );
}
