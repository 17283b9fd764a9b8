/**
 * classify: the tool's class and pin from the inventory. A quarantined tool (its definition changed
 * since it was accepted, it failed the poisoning scan, it is new and unreviewed, or its server's
 * instructions are) is refused here, before anything reads its arguments. An unreviewed tool is
 * treated as DESTRUCTIVE.
 */
import { GatehouseError, quote } from '../../protocol/errors.ts';
import type { Stage } from '../types.ts';

export const classifyTool: Stage = (s, { inventory }) => {
  const route = s.route!;
  const t = inventory.tool(route.server, route.tool);
  const reason = t.serverQuarantine ?? t.quarantine;
  if (reason) {
    throw new GatehouseError('E_TOOL_QUARANTINED', `tool ${quote(s.requested)} is quarantined until an operator reviews it`);
  }
  s.toolClass = t.class;
  s.toolPin = t.pin;
};
