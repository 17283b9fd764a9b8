/**
 * What every `gatehouse` subcommand shares: the --config option, loading the config with errors that
 * point at file:line, failing with an exit status, and the name of the person at the terminal.
 */
import { existsSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { Option } from 'commander';
import { ConfigError, loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';

export interface CliContext {
  configOption: () => Option;
  load: (file: string) => Promise<Config>;
  fail: (message: string, code?: number) => never;
}

const configOption = (): Option =>
  new Option('-c, --config <file>', 'configuration file').default(
    process.env.GATEHOUSE_CONFIG ?? 'gatehouse.yaml',
    '$GATEHOUSE_CONFIG or gatehouse.yaml',
  );

/** Exit status: 1 failure, 2 bad input (usage, invalid config). */
function fail(message: string, code = 1): never {
  process.stderr.write(`gatehouse: ${message}\n`);
  process.exit(code);
}

async function load(given: string): Promise<Config> {
  const file = resolve(given);
  if (!existsSync(file)) fail(`config file \`${file}\` not found (create one with \`gatehouse init\`)`, 2);
  try {
    return await loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) fail(`invalid configuration:\n${err.message}`, 2);
    throw err;
  }
}

export const cliContext: CliContext = { configOption, load, fail };

/** Who is acting: `--by` when given, else `cli:<user>@<host>`. */
export function actorName(by: string | undefined): string {
  if (by) return by;
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers): keep 'unknown'
  }
  return `cli:${user}@${hostname()}`;
}
