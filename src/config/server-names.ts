/**
 * Server names the gateway can namespace: checked before anything starts (src/gateway/host.ts), at
 * each reload, and before servers start ahead of the gateway (src/upstream/early-start.ts).
 */
import type { Config } from './schema.ts';
import { GatehouseError, quote } from '../protocol/errors.ts';

/** A server name must not contain the namespace separator, or `a__b` + `c` could pass for `a` + `b__c`. */
export function checkServerNames(config: Pick<Config, 'servers' | 'gateway'>): void {
  const sep = config.gateway.namespaceSeparator;
  for (const s of config.servers) {
    if (s.name.includes(sep)) {
      throw new GatehouseError(
        'E_INVALID_PARAMS',
        `server name ${quote(s.name)} contains the namespace separator ${quote(sep)}: rename it or change gateway.namespaceSeparator`,
      );
    }
  }
}
