/** `gatehouse init` (a commented starter config) and `gatehouse config validate` (errors at file:line). */
import type { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ConfigError, loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { ConfigIssue } from '../config/issues.ts';
import { starterConfig } from '../config/starter.ts';
import { policyNameWarnings } from '../inventory/policy-names.ts';
import type { InventoryTool } from '../storage/types.ts';
import { type CliContext, printFailure } from './context.ts';
import { withStore } from './store.ts';

/**
 * The tools the inventory lists, so that a policy naming a tool its server never listed is warned
 * of. Undefined when the store is not read: an SQLite file not made yet (validating must not create
 * it), PostgreSQL (validating must not wait on a network or migrate a database: a pipeline validates
 * where the database is out of reach), a store that does not answer; only configured servers are
 * checked then.
 */
async function listedTools(config: Config): Promise<InventoryTool[] | undefined> {
  if (config.storage.driver !== 'sqlite' || !existsSync(config.storage.sqlitePath)) return undefined;
  try {
    return await withStore(config, (s) => s.inventory.tools());
  } catch {
    return undefined;
  }
}

/** `loaded`: the loader's own warnings (a credential in clear), at their file, line and key. */
async function report(path: string, config: Config, loaded: ConfigIssue[], json: boolean | undefined): Promise<void> {
  const names = policyNameWarnings(config, await listedTools(config));
  if (json) {
    // In the shape of `issues`; stderr stays quiet, so the output is one JSON document.
    const listed = names.map((w) => ({ file: w.file, line: w.line, column: 1, path: 'policy', message: w.message }));
    const warnings = [...loaded, ...listed];
    process.stdout.write(`${JSON.stringify({ valid: true, file: path, servers: config.servers.length, warnings })}\n`);
    return;
  }
  process.stdout.write(`${path}: valid (${config.servers.length} server${config.servers.length === 1 ? '' : 's'})\n`);
  for (const w of loaded) process.stderr.write(`warning: ${w.file}:${w.line}:${w.column}: ${w.path}: ${w.message}\n`);
  for (const w of names) process.stderr.write(`warning: ${w.at}: ${w.message}\n`);
}

async function validate(ctx: CliContext, path: string, json: boolean | undefined): Promise<void> {
  try {
    const warnings: ConfigIssue[] = [];
    const config = await loadConfig(path, process.env, warnings);
    await report(path, config, warnings, json);
  } catch (err) {
    // With --json, a failure in the shape of every command's (`{"error", "exitCode"}`, with `file` and
    // `issues` for a file that does not load), and `valid: false` as the answer to the question asked.
    if (err instanceof ConfigError) {
      if (json)
        printFailure(`invalid configuration:\n${err.message}`, 2, { valid: false, file: path, issues: err.issues });
      else process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    const code = (err as NodeJS.ErrnoException).code;
    ctx.fail(
      code === 'ENOENT'
        ? `config file \`${path}\` not found (create one with \`gatehouse init\`)`
        : (err as Error).message,
      2,
      { valid: false, file: path },
    );
  }
}

/**
 * Why `init` will not write `file`, if it will not. A missing folder is not made: a mistyped path
 * would otherwise leave folders behind, and the person meant some other place.
 */
function initRefusal(file: string, force: boolean): string | undefined {
  const folder = dirname(resolve(file));
  if (!existsSync(folder))
    return `the folder \`${dirname(file)}\` does not exist: create it first (mkdir -p ${dirname(file)}), or give another path`;
  if (!statSync(folder).isDirectory()) return `\`${dirname(file)}\` is not a folder: give another path`;
  if (!existsSync(file)) return undefined;
  if (statSync(file).isDirectory())
    return `\`${file}\` is a folder: give the path of a file, such as ${join(file, 'gatehouse.yaml')}`;
  return force ? undefined : `\`${file}\` exists: nothing was written; use --force to overwrite it`;
}

export function registerInit(program: Command, ctx: CliContext): void {
  program
    .command('init')
    .description('write a commented starter configuration')
    .argument('[file]', 'where to write it', 'gatehouse.yaml')
    .option('-f, --force', 'overwrite an existing file')
    .action(async (file: string, opts: { force?: boolean }) => {
      const refused = initRefusal(file, opts.force === true);
      if (refused) ctx.fail(refused, 2);
      try {
        await writeFile(file, starterConfig(), { mode: 0o600 });
      } catch (err) {
        ctx.fail(`cannot write \`${file}\`: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 1);
      }
      process.stdout.write(`wrote ${file}; check it with: gatehouse config validate ${file}\n`);
    });
}

export function registerConfig(program: Command, ctx: CliContext): void {
  const configCmd = program.command('config').description('work with the configuration file');
  configCmd
    .command('validate')
    .description('check a configuration file; errors name the file, line and key')
    .argument('[file]', 'the file (default: --config)')
    .addOption(ctx.configOption())
    .option('--json', 'print the result as JSON')
    .action((file: string | undefined, opts: { config: string; json?: boolean }) =>
      validate(ctx, resolve(file ?? opts.config), opts.json),
    );
}
