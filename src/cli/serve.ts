/**
 * `gatehouse start` (the gateway over HTTP) and `gatehouse stdio` (one MCP client over stdin/stdout).
 * This module is what runs before the gateway's code is loaded: the config is read, the descriptors
 * inherited from the launcher closed, and the servers that can start ahead started
 * (src/upstream/early-start.ts), so they start while the rest loads (./serve-run.ts). Loading the
 * gateway's module graph is about half of a start.
 */
import type { Command } from 'commander';
import { createServer } from 'node:net';
import { constants } from 'node:os';
import { join, resolve } from 'node:path';
import type { Config } from '../config/schema.ts';
import { EarlyStarts, earlyStartable } from '../upstream/early-start.ts';
import { ProcessRegistry, type RegistryEntry } from '../sandbox/registry.ts';
import { existsSync } from 'node:fs';
import { closeInheritedDescriptors } from '../util/inherited-fds.ts';
import type { CliContext } from './context.ts';
import type { Prepared } from './serve-run.ts';

/**
 * Read the config (`check` may refuse it), close what the launcher left open (no server inherits it),
 * start the servers that can start ahead. Until the gateway handles signals itself (`release`), a
 * signal stops them at once and is kept (`signalled`): the gateway, still starting, is stopped as
 * soon as it has started, so that what its connections started meanwhile is stopped too (an exit
 * right after the servers started ahead were stopped left a server a connection had just spawned
 * running). A second signal leaves at once, as the signal's default action would.
 */
async function prepare(
  ctx: CliContext,
  given: string,
  opts: { http: boolean; check?: (config: Config) => void },
): Promise<Prepared> {
  const file = resolve(given);
  const config = await ctx.load(file);
  opts.check?.(config);
  const closed = closeInheritedDescriptors();
  // A start that will fail for want of its port starts no server at all (one that another process
  // takes meanwhile stops them again).
  const starting = !opts.http || (await canListen(config.gateway.listen));
  // What an earlier gateway on this state directory left running is killed before anything starts
  // (the sandbox host does it again when it opens: then there is nothing left).
  const reaped = starting && earlyStartable(config.servers).length ? await reapLeftovers(config.gateway.stateDir) : [];
  const early = starting ? EarlyStarts.start(config) : new EarlyStarts();
  const signals = ['SIGHUP', 'SIGINT', 'SIGTERM'] as const;
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalled) process.exit(128 + (constants.signals[sig] ?? 0));
    signalled = sig;
    void early.stop();
  };
  for (const s of signals) process.on(s, onSignal);
  const release = () => {
    for (const s of signals) process.removeListener(s, onSignal);
  };
  return { file, config, closed, reaped, early, release, signalled: () => signalled };
}

/** Leftovers of an earlier gateway on `stateDir`, killed (src/sandbox/registry.ts); none when it has no registry yet. */
async function reapLeftovers(stateDir: string): Promise<RegistryEntry[]> {
  if (!existsSync(join(stateDir, 'run'))) return [];
  return new ProcessRegistry(stateDir).reap();
}

/** Whether the address can be listened on now (port 0 always can). */
function canListen(at: { host: string; port: number }): Promise<boolean> {
  if (at.port === 0) return Promise.resolve(true);
  return new Promise((done) => {
    const probe = createServer();
    probe.once('error', () => done(false));
    probe.listen(at.port, at.host, () => probe.close(() => done(true)));
  });
}

export function registerServe(program: Command, ctx: CliContext): void {
  program
    .command('start')
    .description('run the gateway: listen for MCP clients over HTTP and connect the configured servers')
    .addOption(ctx.configOption())
    .option('--json', 'log the startup summary as one JSON line on stdout')
    .action(async (opts: { config: string; json?: boolean }) => {
      const p = await prepare(ctx, opts.config, { http: true });
      await (await import('./serve-run.ts')).start(ctx, p, opts);
    });

  program
    .command('stdio')
    .description('serve one MCP client over stdin/stdout (for desktop clients that launch a command)')
    .addHelpText(
      'after',
      '\nReloads when its config or policy files change; SIGHUP (its client or terminal went away), SIGINT and SIGTERM stop it cleanly, with its servers.',
    )
    .addOption(ctx.configOption())
    .option('-s, --server <name>', 'expose only this server, under its own tool names')
    .action(async (opts: { config: string; server?: string }) => {
      const p = await prepare(ctx, opts.config, {
        http: false,
        check: (config) => {
          if (opts.server && !config.servers.some((s) => s.name === opts.server))
            ctx.fail(`unknown server \`${opts.server}\``, 2);
        },
      });
      await (await import('./serve-run.ts')).stdio(p, opts);
    });
}
