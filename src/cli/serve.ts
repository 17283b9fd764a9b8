/**
 * `gatehouse start` (the gateway over HTTP, reloading its config on change and SIGHUP, stopping
 * cleanly on SIGINT/SIGTERM) and `gatehouse stdio` (one MCP client over stdin/stdout).
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { watchConfig } from '../config/watch.ts';
import type { Config } from '../config/schema.ts';
import { Gateway } from '../main.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { serveStdio } from '../listeners/stdio.ts';
import { GatehouseError } from '../protocol/errors.ts';
import type { CliContext } from './context.ts';
import { closeInheritedDescriptors } from '../util/inherited-fds.ts';

function startFailure(err: unknown, config: Config): string {
  if (err instanceof GatehouseError) return err.message;
  if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
    return `address ${config.gateway.listen.host}:${config.gateway.listen.port} is already in use`;
  return (err as Error).message;
}

/** Reload on change and on SIGHUP; a refused reload keeps the last good config. Returns the watcher's close. */
function watchAndReload(gw: Gateway, file: string, config: Config, log: Logger): () => void {
  const refused = (err: Error) => {
    log.error({ err: err.message }, 'configuration reload refused; keeping the last good configuration');
    void gw.reloadRefused(file, err);
  };
  const reload = async (next: Config) => {
    try {
      const notes = await gw.reload(next);
      log.info({ notes }, 'configuration reloaded');
    } catch (err) {
      refused(err as Error);
    }
  };
  const watcher = watchConfig(file, {
    policyFiles: config.policy?.files,
    onChange: (next) => void reload(next),
    onError: refused,
  });
  process.on('SIGHUP', () => watcher.reload());
  return () => watcher.close();
}

function stopOnSignals(gw: Gateway, closeWatcher: () => void): void {
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    closeWatcher();
    await gw.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

function authNotice(config: Config): string {
  if (config.identity) {
    const issuers = config.identity.issuers.map((i) => i.issuer);
    const ways = [
      ...(issuers.length ? [`tokens from ${issuers.join(', ')}`] : []),
      ...(config.identity.apiKeys ? ['api keys'] : []),
    ];
    return `gatehouse: authentication required (resource ${config.identity.resource}; ${ways.join(', ')})\n`;
  }
  if (config.gateway.allowUnauthenticated === 'loopback')
    return 'gatehouse: WARNING: no identity provider is configured: unauthenticated callers are accepted from loopback addresses only\n';
  return '';
}

/**
 * Start-up allocates far more than an idle gateway keeps (every module compiled, the config, the first
 * catalogues): V8 grows its young generation to its largest (two 16 MB semi-spaces) and keeps it. Half
 * a second after every upstream's first catalogue is in (or the wait gave up), one memory-reducing
 * collection gives that back: about 16 MB less idle RSS; under load the young generation grows again
 * as it would. It takes about 50 ms of the event loop (two full collections), hence the wait: not while
 * /readyz first answers and the first clients connect. The collector is taken from a fresh context and
 * the flag turned off again: no code sees a global `gc`.
 */
const SETTLE_DELAY_MS = 500;

async function settleMemory(gw: Gateway): Promise<void> {
  await gw.waitForUpstreams(20_000);
  await new Promise((resolve) => setTimeout(resolve, SETTLE_DELAY_MS).unref());
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('typeof gc === "function" ? gc : undefined') as
    | ((opts: object) => Promise<void>)
    | undefined;
  setFlagsFromString('--no-expose-gc');
  // A Node whose V8 flags cannot change at run time has no collector to give: nothing to do.
  await gc?.({ type: 'major', execution: 'async', flavor: 'last-resort' });
}

/** What the launcher left open is not the servers' to inherit (src/util/inherited-fds.ts). */
function closeInherited(log: Logger): void {
  const fds = closeInheritedDescriptors();
  if (fds.length) log.info({ fds }, 'closed descriptors inherited from the launcher: no server inherits them');
}

async function start(ctx: CliContext, opts: { config: string; json?: boolean }): Promise<void> {
  const file = resolve(opts.config);
  const config = await ctx.load(file);
  const log = createLogger();
  closeInherited(log);
  let gw: Gateway;
  try {
    gw = await Gateway.start(config, { log });
  } catch (err) {
    ctx.fail(`could not start: ${startFailure(err, config)}`);
  }
  stopOnSignals(gw, watchAndReload(gw, file, config, log));
  // Announced only once a signal stops it cleanly: whoever reads the address may stop it at once.
  const summary = {
    url: `${gw.url}/mcp`,
    servers: config.servers.map((s) => s.name),
    stateDir: config.gateway.stateDir,
    storage: config.storage.driver,
  };
  if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else
    process.stdout.write(
      `gatehouse listening on ${summary.url} (servers: ${summary.servers.join(', ') || 'none'}; state: ${summary.stateDir}, ${summary.storage})\n`,
    );
  process.stderr.write(authNotice(config));
  settleMemory(gw).catch(() => {}); // memory given back or not, the gateway runs the same
}

export function registerServe(program: Command, ctx: CliContext): void {
  program
    .command('start')
    .description('run the gateway: listen for MCP clients over HTTP and connect the configured servers')
    .addOption(ctx.configOption())
    .option('--json', 'log the startup summary as one JSON line on stdout')
    .action((opts: { config: string; json?: boolean }) => start(ctx, opts));

  program
    .command('stdio')
    .description('serve one MCP client over stdin/stdout (for desktop clients that launch a command)')
    .addOption(ctx.configOption())
    .option('-s, --server <name>', 'expose only this server, under its own tool names')
    .action(async (opts: { config: string; server?: string }) => {
      const config = await ctx.load(resolve(opts.config));
      if (opts.server && !config.servers.some((s) => s.name === opts.server))
        ctx.fail(`unknown server \`${opts.server}\``, 2);
      const log = createLogger();
      closeInherited(log);
      const gw = await Gateway.start(config, { log, noHttp: true });
      // A client that stops waiting for the end of its session sends SIGTERM (the stdio transport
      // says to): a clean stop, the audit trail's stream closed, as for `start`.
      stopOnSignals(gw, () => {});
      await gw.waitForUpstreams(15_000);
      settleMemory(gw).catch(() => {}); // memory given back or not, the gateway runs the same
      await serveStdio(process.stdin, process.stdout, opts.server ?? '', () => gw.endpoint);
      await gw.stop();
      process.exit(0);
    });
}
