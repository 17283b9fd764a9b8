/**
 * `gatehouse check`: the running configuration (and what the inventory recorded) against the
 * seven-section readiness checklist (DESIGN.md section 1), item by item. Pure: the CLI and the admin
 * API pass in the config, the inventory and what they read of the running system (state.ts). No item
 * is a constant: each is computed from the config or that state, and one whose state cannot be read
 * fails, saying so — a readiness report that passes what it did not look at would be worse than none.
 */
import { isItemName } from '../catalog/names.ts';
import type { ReadinessState } from './state.ts';
import type { Config, StdioServerConfig } from '../config/schema.ts';
import { sandboxFacts, type SandboxFacts } from '../sandbox/readiness.ts';
import type { InventoryData } from '../inventory/report.ts';
import { configuredClasses } from '../inventory/inventory.ts';
import type { CheckItem, Facts, Status } from './checklist.ts';
import { approvalItems } from './approval-items.ts';
import { auditItems } from './audit-items.ts';
import { executionItems } from './execution-items.ts';
import { identityItems } from './identity-items.ts';
import { inventoryItems } from './inventory-items.ts';
import { policyItems } from './policy-items.ts';
import { rolloutItems } from './rollout-items.ts';

export function readiness(
  config: Config,
  inv: InventoryData,
  host?: SandboxFacts,
  state: ReadinessState = {},
): CheckItem[] {
  const enabled = config.servers.filter((s) => !s.disabled);
  const stdio = enabled.filter((s): s is StdioServerConfig & (typeof enabled)[number] => s.transport === 'stdio');
  // The one look at the host: bubblewrap, and who can read the state directory and a database kept
  // outside it (tests pass their own).
  host ??= sandboxFacts(
    stdio,
    config.gateway.stateDir,
    config.storage.driver === 'sqlite' ? config.storage.sqlitePath : undefined,
  );
  // Prompts, resources and templates are pinned and quarantined like tools, but only read: classes are for tools.
  const presentItems = inv.tools.filter((t) => t.present && enabled.some((s) => s.name === t.server));
  const f: Facts = {
    config,
    inv,
    state,
    enabled,
    classes: configuredClasses(config),
    presentItems,
    present: presentItems.filter((t) => !isItemName(t.tool)),
  };
  const items = [
    ...inventoryItems(f),
    ...identityItems(f),
    ...policyItems(f),
    ...approvalItems(f),
    ...auditItems(f),
    ...executionItems(f, stdio, host),
    ...rolloutItems(f),
  ];
  const order = (id: string) => id.split('.').map(Number);
  return items.sort((a, b) => order(a.id)[0] - order(b.id)[0] || order(a.id)[1] - order(b.id)[1]);
}

export function summary(items: CheckItem[]): Record<Status, number> {
  const out: Record<Status, number> = { pass: 0, warn: 0, fail: 0 };
  for (const i of items) out[i.status]++;
  return out;
}
