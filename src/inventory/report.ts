/**
 * The inventory as operators read it: one row per tool (and one per configured server nobody has
 * discovered yet), joining what the config declares with what discovery found. Pure.
 */
import { isItemName } from '../catalog/names.ts';
import { lazyRequire } from '../util/lazy.ts';

const diff = lazyRequire<typeof import('diff')>('diff');
import type { Config } from '../config/schema.ts';
import type { InventoryServer, InventoryTool } from '../storage/types.ts';
import type { ToolClass } from '../model/tool-class.ts';
import { configuredClasses } from './inventory.ts';
import { effectiveClass, serverQuarantine, toolQuarantine } from './review.ts';
import type { Finding } from './scan.ts';

export interface InventoryRow {
  server: string;
  /** Namespaced, as clients call it ('' for a server row). */
  tool: string;
  class: ToolClass | '';
  /** Who set the class: config, an operator (CLI), or nobody yet (treated as DESTRUCTIVE). */
  review: 'config' | 'operator' | 'unreviewed' | 'read-only item' | '';
  proposed: ToolClass | '';
  status: 'active' | 'quarantined' | 'removed' | 'not discovered' | 'disabled';
  reason: string;
  pin: string;
  owner: string;
  repository: string;
  location: string;
  environment: string;
  transport: string;
  scopes: string[];
  resources: string[];
}

export interface InventoryData {
  servers: InventoryServer[];
  tools: InventoryTool[];
}

/** A listed item's status: removed, else disabled with its server, else quarantined (it or its server), else active. */
/**
 * Where a server runs, as the inventory, the admin API and readiness item 1.1 show it: the configured
 * `location`, else what its transport says (a stdio server is local, a remote one is at its URL).
 */
export function serverLocation(s: Config['servers'][number]): string {
  return s.location ?? (s.transport === 'stdio' ? 'local (stdio)' : s.url);
}

function toolStatus(present: boolean, disabled: boolean, quarantined: boolean): InventoryRow['status'] {
  if (!present) return 'removed';
  if (disabled) return 'disabled';
  return quarantined ? 'quarantined' : 'active';
}

export function inventoryRows(config: Config, data: InventoryData): InventoryRow[] {
  const classes = configuredClasses(config);
  const sep = config.gateway.namespaceSeparator;
  const rows: InventoryRow[] = [];
  for (const s of config.servers) {
    const base = {
      server: s.name,
      owner: s.owner ?? '',
      repository: s.repository ?? '',
      location: serverLocation(s),
      environment: s.environment ?? '',
      transport: s.transport,
      scopes: s.scopes ?? [],
      resources: s.resources ?? [],
    };
    const record = data.servers.find((r) => r.server === s.name);
    const tools = data.tools.filter((t) => t.server === s.name);
    if (!record) {
      rows.push({
        ...base,
        tool: '',
        class: '',
        review: '',
        proposed: '',
        status: s.disabled ? 'disabled' : 'not discovered',
        reason: 'no discovery recorded yet',
        pin: '',
      });
      continue;
    }
    const sq = serverQuarantine(record);
    if (sq)
      rows.push({
        ...base,
        tool: '',
        class: '',
        review: '',
        proposed: '',
        status: 'quarantined',
        reason: sq,
        pin: record.instructionsPin.slice(0, 19),
      });
    for (const t of tools) {
      // Prompts, resources and templates only read: pinned and reviewed like tools, never classified.
      const cls = isItemName(t.tool)
        ? { class: 'READ' as ToolClass, source: 'read-only item' as const }
        : effectiveClass(t, classes.get(s.name)?.get(t.tool));
      const q = toolQuarantine(t);
      rows.push({
        ...base,
        tool: `${s.name}${sep}${t.tool}`,
        class: cls.class,
        review: cls.source,
        proposed: t.proposedClass as ToolClass,
        status: toolStatus(t.present, s.disabled === true, Boolean(q || sq)),
        reason: !t.present ? 'no longer listed by the server' : (q ?? sq ?? ''),
        pin: t.pin.slice(0, 19),
      });
    }
  }
  return rows;
}

/** A unified diff between the accepted and the current definition (pretty JSON), or '' when equal. */
export function definitionDiff(name: string, accepted: unknown, current: unknown): string {
  const a = accepted === null || accepted === undefined ? '' : `${JSON.stringify(accepted, null, 2)}\n`;
  const b = `${JSON.stringify(current, null, 2)}\n`;
  if (a === b) return '';
  return diff().createTwoFilesPatch(`${name} (accepted)`, `${name} (current)`, a, b, undefined, undefined, {
    context: 3,
  });
}

export interface ReviewChange {
  /** `server<sep>tool`, or the server name for its instructions. */
  name: string;
  reason: string;
  accepted: unknown;
  current: unknown;
  diff: string;
  /** What the poisoning scan found in the current definition (`where: what`): accepting it needs a confirmation. */
  findings: string[];
}

const said = (findings: unknown[]) => (findings as Finding[]).map((f) => `${f.where}: ${f.detail}`);

/** What waits for review (everything quarantined), or one tool or server's state when `target` is given. */
export function reviewChanges(
  data: InventoryData,
  sep: string,
  target?: { server: string; tool: string | null },
): ReviewChange[] {
  const changes: ReviewChange[] = [];
  for (const s of data.servers) {
    if (target && (target.server !== s.server || target.tool !== null)) continue;
    const reason = serverQuarantine(s);
    if (reason || target) {
      changes.push({
        name: s.server,
        reason: reason ?? 'accepted',
        accepted: s.acceptedInstructions,
        current: s.instructions,
        diff: definitionDiff(`${s.server} instructions`, s.acceptedInstructions, s.instructions),
        findings: said(s.findings),
      });
    }
  }
  for (const t of data.tools) {
    if (!t.present || (target && (target.server !== t.server || target.tool !== t.tool))) continue;
    const reason = toolQuarantine(t);
    const full = `${t.server}${sep}${t.tool}`;
    if (reason || target)
      changes.push({
        name: full,
        reason: reason ?? 'accepted',
        accepted: t.acceptedDef,
        current: t.def,
        diff: definitionDiff(full, t.acceptedDef, t.def),
        findings: said(t.findings),
      });
  }
  return changes;
}
