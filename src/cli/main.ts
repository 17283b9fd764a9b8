/**
 * The `gatehouse` command. Every command takes --config (default: $GATEHOUSE_CONFIG or
 * gatehouse.yaml) and prints data as text, or as JSON with --json. Exit status: 0 ok, 1 failure,
 * 2 bad input (usage, invalid config).
 */
import { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { loadConfig, ConfigError } from '../config/load.ts';
import { starterConfig } from '../config/starter.ts';
import { watchConfig } from '../config/watch.ts';
import { unknownToolWarnings } from '../policy/unknown-tools.ts';
import type { Config } from '../config/schema.ts';
import { Gateway } from '../main.ts';
import { createLogger } from '../observability/logger.ts';
import { serveStdio } from '../listeners/stdio.ts';
import { GatehouseError } from '../protocol/errors.ts';
import { registerCheck, registerInventory } from './inventory.ts';
import { registerKeys } from './keys.ts';
import { registerAudit } from './audit.ts';
import { registerPolicy } from './policy.ts';
import { registerMode } from './mode.ts';
import { registerSecrets } from './secrets.ts';
import { registerApprovals } from './approvals.ts';
import { registerUpstream } from './upstream.ts';
import { registerPrincipals } from './principals.ts';

const configOption = () =>
  new Option('-c, --config <file>', 'configuration file').default(
    process.env.GATEHOUSE_CONFIG ?? 'gatehouse.yaml',
    '$GATEHOUSE_CONFIG or gatehouse.yaml',
  );

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

// `gatehouse inventory | head`: the reader left; that is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = new Command('gatehouse')
  .description('Gatehouse: the control plane between AI agents and MCP servers')
  .version('0.1.0')
  .showHelpAfterError()
  .configureHelp({ showGlobalOptions: true });

program
  .command('start')
  .description('run the gateway: listen for MCP clients over HTTP and connect the configured servers')
  .addOption(configOption())
  .option('--json', 'log the startup summary as one JSON line on stdout')
  .action(async (opts: { config: string; json?: boolean }) => {
    const file = resolve(opts.config);
    const config = await load(file);
    const log = createLogger();
    let gw: Gateway;
    try {
      gw = await Gateway.start(config, { log });
    } catch (err) {
      const msg =
        err instanceof GatehouseError
          ? err.message
          : (err as NodeJS.ErrnoException).code === 'EADDRINUSE'
            ? `address ${config.gateway.listen.host}:${config.gateway.listen.port} is already in use`
            : (err as Error).message;
      fail(`could not start: ${msg}`);
    }
    const reload = async (next: Config) => {
      try {
        const notes = await gw.reload(next);
        log.info({ notes }, 'configuration reloaded');
      } catch (err) {
        log.error({ err: (err as Error).message }, 'configuration reload refused; keeping the last good configuration');
        await gw.reloadRefused(file, err as Error);
      }
    };
    const watcher = watchConfig(file, {
      policyFiles: config.policy?.files,
      onChange: (next) => void reload(next),
      onError: (err) => {
        log.error({ err: err.message }, 'configuration reload refused; keeping the last good configuration');
        void gw.reloadRefused(file, err);
      },
    });
    process.on('SIGHUP', () => watcher.reload());
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      watcher.close();
      await gw.stop();
      process.exit(0);
    };
    process.on('SIGINT', () => void stop());
    process.on('SIGTERM', () => void stop());
    // Announced only once a signal stops it cleanly: whoever reads the address may stop it at once.
    const summary = {
      url: `${gw.url}/mcp`,
      servers: config.servers.map((s) => s.name),
      stateDir: config.gateway.stateDir,
      storage: config.storage.driver,
    };
    if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else {
      process.stdout.write(
        `gatehouse listening on ${summary.url} (servers: ${summary.servers.join(', ') || 'none'}; state: ${summary.stateDir}, ${summary.storage})\n`,
      );
    }
    if (config.identity) {
      const issuers = config.identity.issuers.map((i) => i.issuer);
      process.stderr.write(
        `gatehouse: authentication required (resource ${config.identity.resource}; ${[...(issuers.length ? [`tokens from ${issuers.join(', ')}`] : []), ...(config.identity.apiKeys ? ['api keys'] : [])].join(', ')})\n`,
      );
    } else if (config.gateway.allowUnauthenticated === 'loopback') {
      process.stderr.write(
        'gatehouse: WARNING: no identity provider is configured: unauthenticated callers are accepted from loopback addresses only\n',
      );
    }
  });

program
  .command('stdio')
  .description('serve one MCP client over stdin/stdout (for desktop clients that launch a command)')
  .addOption(configOption())
  .option('-s, --server <name>', 'expose only this server, under its own tool names')
  .action(async (opts: { config: string; server?: string }) => {
    const config = await load(resolve(opts.config));
    if (opts.server && !config.servers.some((s) => s.name === opts.server))
      fail(`unknown server \`${opts.server}\``, 2);
    const gw = await Gateway.start(config, { log: createLogger(), noHttp: true });
    await gw.waitForUpstreams(15_000);
    await serveStdio(process.stdin, process.stdout, opts.server ?? '', () => gw.endpoint);
    await gw.stop();
    process.exit(0);
  });

program
  .command('init')
  .description('write a commented starter configuration')
  .argument('[file]', 'where to write it', 'gatehouse.yaml')
  .option('-f, --force', 'overwrite an existing file')
  .action(async (file: string, opts: { force?: boolean }) => {
    if (existsSync(file) && !opts.force) fail(`\`${file}\` exists; use --force to overwrite it`, 2);
    await writeFile(file, starterConfig(), { mode: 0o600 });
    process.stdout.write(`wrote ${file}; check it with: gatehouse config validate ${file}\n`);
  });

const configCmd = program.command('config').description('work with the configuration file');
configCmd
  .command('validate')
  .description('check a configuration file; errors name the file, line and key')
  .argument('[file]', 'the file (default: --config)')
  .addOption(configOption())
  .option('--json', 'print the result as JSON')
  .action(async (file: string | undefined, opts: { config: string; json?: boolean }) => {
    const path = resolve(file ?? opts.config);
    try {
      const config = await loadConfig(path);
      if (opts.json)
        process.stdout.write(`${JSON.stringify({ valid: true, file: path, servers: config.servers.length })}\n`);
      else process.stdout.write(`${path}: valid (${config.servers.length} servers)\n`);
      const policy = config.policy?.compiled;
      const warnings = policy
        ? unknownToolWarnings(policy, {
            servers: new Set(config.servers.map((s) => s.name)),
            separator: config.gateway.namespaceSeparator,
          })
        : [];
      for (const w of warnings) process.stderr.write(`warning: ${w.at}: ${w.message}\n`);
    } catch (err) {
      if (err instanceof ConfigError) {
        if (opts.json) process.stdout.write(`${JSON.stringify({ valid: false, file: path, issues: err.issues })}\n`);
        else process.stderr.write(`${err.message}\n`);
        process.exit(2);
      }
      const code = (err as NodeJS.ErrnoException).code;
      fail(code === 'ENOENT' ? `config file \`${path}\` not found` : (err as Error).message, 2);
    }
  });

registerInventory(program, { configOption, load, fail });
registerCheck(program, { configOption, load, fail });
registerKeys(program, { configOption, load, fail });
registerAudit(program, { configOption, load, fail });
registerPolicy(program, { configOption, load, fail });
registerMode(program, { configOption, load, fail });
registerSecrets(program, { configOption, load, fail });
registerApprovals(program, { configOption, load, fail });
registerUpstream(program, { configOption, load, fail });
registerPrincipals(program, { configOption, load, fail });
(await import('./incident.ts')).registerIncident(program, { configOption, load, fail });

await program.parseAsync(process.argv);
