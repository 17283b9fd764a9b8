/**
 * What a start checks and makes before anything opens (the store, the sandbox, a connection): server
 * names that can be namespaced, bubblewrap for sandboxed servers, the state directory.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { GatehouseError, quote } from '../protocol/errors.ts';
import { findExecutable } from '../sandbox/paths.ts';
import { sandboxUnavailable } from '../sandbox/sandbox.ts';

/** Before anything opens: server names that can be namespaced, bubblewrap for sandboxed servers, the state directory. */
export async function prepareHost(config: Config): Promise<void> {
  checkServerNames(config);
  const jailed = config.servers.find((s) => !s.disabled && s.transport === 'stdio' && s.sandbox);
  if (jailed && !findExecutable('bwrap')) throw new Error(sandboxUnavailable(jailed.name));
  await mkdir(config.gateway.stateDir, { recursive: true, mode: 0o700 });
  await mkdir(join(config.gateway.stateDir, 'sandbox'), { recursive: true, mode: 0o700 });
}

/** A server name must not contain the namespace separator, or `a__b` + `c` could pass for `a` + `b__c`. */
export function checkServerNames(config: Config): void {
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
