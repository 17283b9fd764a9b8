/**
 * What every `gatehouse` subcommand shares: the --config option, loading the config with errors that
 * point at file:line, failing with an exit status, and the name of the person at the terminal.
 */
import { existsSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { ConfigError, loadConfig } from '../config/load.ts';
import { flagTakenAsValue } from './flag-values.ts';
import type { Config } from '../config/schema.ts';

export interface CliContext {
  configOption: () => Option;
  load: (file: string) => Promise<Config>;
  fail: (message: string, code?: number, detail?: Record<string, unknown>) => never;
}

const configOption = (): Option =>
  new Option('-c, --config <file>', 'configuration file').default(
    process.env.GATEHOUSE_CONFIG ?? 'gatehouse.yaml',
    '$GATEHOUSE_CONFIG or gatehouse.yaml',
  );

/** Whether the command being run was given `--json` (set once its options are parsed). */
let json = false;

/**
 * Failures of a command given `--json` (anywhere before a `--`) are printed as JSON too, on stdout
 * where its answer would have gone (as `config validate --json` prints an invalid file), so a script
 * reading it never gets plain text instead: `{"error", "exitCode"}`, with `file` and `issues` for an invalid config.
 */
export function jsonFailures(program: Command, wantsJson: boolean): void {
  program.hook('preAction', (_program, action) => {
    // `--json` anywhere before a `--` (docs/operations.md), even where an option took it as its value.
    json = wantsJson || action.opts().json === true;
    const taken = flagTakenAsValue(process.argv.slice(2), action);
    if (taken) action.error(taken, { exitCode: 2, code: 'commander.optionMissingArgument' });
  });
}

/** Prints a failure: a line on stderr, or with `--json` an object on stdout. */
export function printFailure(message: string, code: number, detail: Record<string, unknown> = {}): void {
  if (json) process.stdout.write(`${JSON.stringify({ error: message, exitCode: code, ...detail })}\n`);
  else process.stderr.write(`gatehouse: ${message}\n`);
}

/** Exit status: 1 failure, 2 bad input (usage, invalid config). */
function fail(message: string, code = 1, detail?: Record<string, unknown>): never {
  printFailure(message, code, detail);
  process.exit(code);
}

async function load(given: string): Promise<Config> {
  const file = resolve(given);
  if (!existsSync(file)) fail(`config file \`${file}\` not found (create one with \`gatehouse init\`)`, 2, { file });
  try {
    return await loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) fail(`invalid configuration:\n${err.message}`, 2, { file, issues: err.issues });
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
