/**
 * The inventory as an admin may read it. Listed resources of a server whose connections differ by
 * tenant are data of the discovery tenant's connection (ADR 0010: each tenant is shown its own), so a
 * tenant admin reads none of them — not their names, URIs or descriptions, not in the rows, the
 * review queue or the history. A platform admin reads everything.
 */
import type { Config } from '../config/schema.ts';
import { variesByOwner } from '../credentials/broker.ts';
import type { Store } from '../storage/types.ts';
import type { InventoryData } from './report.ts';

/** Whether an inventory item (`tool` as stored: a tool, `prompt:…`, `template:…`, `resource:…`) is shown. */
function shownTo(config: Config, platform: boolean): (server: string, tool: string | null) => boolean {
  if (platform) return () => true;
  const varies = new Set(config.servers.filter((s) => variesByOwner(s)).map((s) => s.name));
  return (server, tool) => !(tool?.startsWith('resource:') && varies.has(server));
}

export async function inventoryFor(
  store: Pick<Store, 'inventory'>,
  config: Config,
  platform: boolean,
): Promise<InventoryData> {
  const [servers, tools] = await Promise.all([store.inventory.servers(), store.inventory.tools()]);
  const shown = shownTo(config, platform);
  return { servers, tools: tools.filter((t) => shown(t.server, t.tool)) };
}

export async function inventoryEventsFor(
  store: Pick<Store, 'inventory'>,
  config: Config,
  platform: boolean,
  opts: { server?: string; afterSeq?: number; limit?: number },
): Promise<Awaited<ReturnType<Store['inventory']['events']>>> {
  const shown = shownTo(config, platform);
  return (await store.inventory.events(opts)).filter((e) => shown(e.server, e.tool));
}
