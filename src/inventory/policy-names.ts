/**
 * The policy's tool and mode names against what the config configures and what the inventory lists
 * (../policy/unknown-tools.ts judges them): one reading for `gatehouse config validate`, the gateway
 * at start and at each reload, and `gatehouse check` (item 3.1), so they never disagree on what a
 * typo is. An inventory that lists no tool yet (nothing discovered) is no evidence against any name:
 * then only the servers are checked.
 */
import { isItemName } from '../catalog/names.ts';
import type { Config } from '../config/schema.ts';
import { unknownToolWarnings, type UnknownToolWarning } from '../policy/unknown-tools.ts';

/** `listed`: the inventory's tools (prompts, resources and templates are skipped); undefined when it cannot be read. */
export function policyNameWarnings(
  config: Pick<Config, 'servers' | 'gateway' | 'policy'>,
  listed?: ReadonlyArray<{ server: string; tool: string }>,
): UnknownToolWarning[] {
  const policy = config.policy?.compiled;
  if (!policy) return [];
  const separator = config.gateway.namespaceSeparator;
  const names = (listed ?? []).filter((t) => !isItemName(t.tool)).map((t) => `${t.server}${separator}${t.tool}`);
  return unknownToolWarnings(policy, {
    servers: new Set(config.servers.map((s) => s.name)),
    tools: names.length ? new Set(names) : undefined,
    separator,
  });
}
