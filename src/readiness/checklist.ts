/**
 * What every section of the readiness checklist shares: an item (id, section, title, status, why
 * and fix) and how one is made, the facts each section reads, and a test that more than one
 * section uses (a listener off loopback; a secret-looking name is ../config/static-secrets.ts's).
 */
import type { Config } from '../config/schema.ts';
import type { InventoryData } from '../inventory/report.ts';
import type { ToolClass } from '../model/tool-class.ts';
import type { InventoryTool } from '../storage/types.ts';
import type { ReadinessState } from './state.ts';

export type Status = 'pass' | 'warn' | 'fail';

export interface CheckItem {
  id: string;
  section: string;
  title: string;
  status: Status;
  why: string;
  fix: string;
}

const SECTIONS = [
  '1 inventory',
  '2 identity and credentials',
  '3 policy',
  '4 approval',
  '5 audit',
  '6 safe execution',
  '7 rollout',
] as const;

export function list(items: string[], max = 5): string {
  return items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}

export function item(id: string, title: string, status: Status, why: string, fix = ''): CheckItem {
  const section = SECTIONS[Number(id.split('.')[0]) - 1];
  return { id, section, title, status, why, fix };
}

/** A server as the loaded config holds it (defaults filled). */
export type Server = Config['servers'][number];

/** What every section reads: the config, the inventory and what was read of the running system. */
export interface Facts {
  config: Config;
  inv: InventoryData;
  state: ReadinessState;
  enabled: Server[];
  classes: Map<string, Map<string, ToolClass>>;
  /** Tools, prompts, resources and templates the enabled servers list now. */
  presentItems: InventoryTool[];
  /** Of those, the tools (prompts, resources and templates only read: classes are for tools). */
  present: InventoryTool[];
}

export function exposedHost(config: Config): boolean {
  return !['127.0.0.1', '::1', 'localhost'].includes(config.gateway.listen.host);
}
