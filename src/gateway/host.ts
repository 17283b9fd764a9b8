/**
 * What a start checks and makes before anything opens (the store, the sandbox, a connection): server
 * names that can be namespaced, bubblewrap for sandboxed servers, the state directory.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { checkServerNames } from '../config/server-names.ts';
import { findExecutable } from '../util/paths.ts';
import { sandboxUnavailable } from '../sandbox/sandbox.ts';

/** Before anything opens: server names that can be namespaced, bubblewrap for sandboxed servers, the state directory. */
export async function prepareHost(config: Config): Promise<void> {
  checkServerNames(config);
  const jailed = config.servers.find((s) => !s.disabled && s.transport === 'stdio' && s.sandbox);
  if (jailed && !findExecutable('bwrap')) throw new Error(sandboxUnavailable(jailed.name));
  await mkdir(config.gateway.stateDir, { recursive: true, mode: 0o700 });
  await mkdir(join(config.gateway.stateDir, 'sandbox'), { recursive: true, mode: 0o700 });
}
