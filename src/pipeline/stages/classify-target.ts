/**
 * classify: the target's class, pin and quarantine from the inventory. A tool's class is the
 * operator's (DESTRUCTIVE while unreviewed); prompts and resources only read. A quarantined item (its
 * definition changed since it was accepted, it failed the poisoning scan, it is new and unreviewed,
 * or its server's instructions are) is noted here and refused at authorize — after visibility, so a
 * caller who may not use it learns nothing, not even that it is quarantined.
 */
import type { Stage } from '../types.ts';
import { routeOf } from './needs.ts';

export const classifyTarget: Stage = (s, { inventory }) => {
  const route = routeOf(s);
  if (s.kind === 'tool') {
    const t = inventory.tool(route.server, route.tool);
    s.toolClass = t.class;
    s.toolPin = t.pin;
    s.quarantine = t.serverQuarantine ?? t.quarantine;
    return;
  }
  // A resource the server did not list (nor any template matches) has no inventory item of its own:
  // only its server's standing applies.
  const t = inventory.item(route.server, route.item);
  s.toolClass = 'READ';
  s.toolPin = t.pin;
  // A server that lists one resource under two spellings of its URI: either's quarantine holds.
  const twin = route.also?.map((i) => inventory.item(route.server, i).quarantine).find((q) => q);
  s.quarantine = t.serverQuarantine ?? t.quarantine ?? twin ?? null;
};
