/**
 * What `gatehouse start` and `gatehouse stdio` run once their config is read and the servers that
 * can start ahead were started (./serve.ts): the gateway over HTTP, reloading its config on change
 * and SIGHUP, stopping cleanly on SIGINT/SIGTERM; or one MCP client over stdin/stdout, reloading on
 * change, stopping cleanly on SIGHUP/SIGINT/SIGTERM.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { watchConfig, type ConfigWatcher } from '../config/watch.ts';
import type { Config } from '../config/schema.ts';
import { Gateway } from '../main.ts';
import { reloadLevel } from '../gateway/reload-plan.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { serveStdio } from '../listeners/stdio.ts';
import { GatehouseError } from '../protocol/errors.ts';
import type { CliContext } from './context.ts';
import type { EarlyStarts } from '../upstream/early-start.ts';
import type { RegistryEntry } from '../sandbox/registry.ts';
import { isPlumbing, type ClosedDescriptor } from '../util/inherited-fds.ts';

function startFailure(err: unknown, config: Config): string {
  if (err instanceof GatehouseError) return err.message;
  const { host, port } = config.gateway.listen;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (code === 'EADDRINUSE') return `address ${host}:${port} is already in use`;
  // The listen address, said as the key it comes from, not as the resolver's words (`getaddrinfo ENOTFOUND x`).
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL')
    return `gateway.listen.host \`${host}\` does not resolve (${code}): use an address of this machine (\`127.0.0.1\`, \`0.0.0.0\`) or a name that resolves to one`;
  if (code === 'EADDRNOTAVAIL')
    return `gateway.listen.host \`${host}\` is not an address of this machine (${code}): use one of its addresses, or \`0.0.0.0\` for all`;
  if (code === 'EACCES')
    return `gateway.listen.port ${port} needs privileges this process lacks (${code}): use a port above 1023, or a reverse proxy in front`;
  return (err as Error).message;
}

/**
 * Reload when the config or one of its policy files changes; a refused reload keeps the last good
 * config. The watcher's `reload()` reads them now (`start` calls it on SIGHUP).
 */
function watchAndReload(gw: Gateway, file: string, config: Config, log: Logger): ConfigWatcher {
  const refused = (err: Error) => {
    log.error({ err: err.message }, 'configuration reload refused; keeping the last good configuration');
    void gw.reloadRefused(file, err);
  };
  const reload = async (next: Config) => {
    try {
      const notes = await gw.reload(next);
      // Applied only in part (a restart applies the rest), or weaker with the file's consent: warn.
      log[reloadLevel(notes)]({ notes }, 'configuration reloaded');
    } catch (err) {
      refused(err as Error);
    }
  };
  return watchConfig(file, {
    policyFiles: config.policy?.files,
    onChange: (next) => void reload(next),
    onError: refused,
  });
}

/**
 * On any of `signals`: stop watching, stop the gateway (its upstream servers with it: they run in
 * process groups of their own, so a signal to ours never reaches them, and one that ignores the end
 * of its input would outlive us) and exit. Returns that stop, for the other ways a command ends.
 */
function stopOnSignals(gw: Gateway, watcher: ConfigWatcher, signals: readonly NodeJS.Signals[]): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      watcher.close();
      await gw.stop();
      process.exit(0);
    })();
    return stopping;
  };
  for (const s of signals) process.on(s, () => void stop());
  return stop;
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

/** What the command prepared before loading this module. */
export interface Prepared {
  file: string;
  config: Config;
  /** The descriptors inherited from the launcher, closed before any server started (src/util/inherited-fds.ts). */
  closed: ClosedDescriptor[];
  /** What an earlier gateway on this state directory left running, killed before any server started. */
  reaped: RegistryEntry[];
  early: EarlyStarts;
  /** The command's own signal handling ends: the gateway's begins (install the gateway's first). */
  release: () => void;
  /** The signal that came while the gateway started, if one did: it is stopped once started. */
  signalled: () => NodeJS.Signals | undefined;
}

/**
 * The gateway's own signal handling takes over from the command's: installed first, so that no
 * signal finds the process without a handler (its default action would end it on the spot, its
 * servers left running). A signal that came while it started stops it now; true then.
 */
function handOver(p: Prepared, stop: () => Promise<void>): boolean {
  p.release();
  if (!p.signalled()) return false;
  void stop();
  return true;
}

/** The gateway, with the servers started ahead handed to it; a failed start stops them (Gateway.start). */
async function startGateway(p: Prepared, log: Logger, noHttp?: boolean): Promise<Gateway> {
  // Launchers leave pipes and sockets open routinely (npm, shells): closing those is at debug. A
  // file or directory left open (a lock, a log) is worth an operator's line: a server could have
  // read through it.
  const fds = p.closed.map((c) => c.fd);
  const files = p.closed.filter((c) => !isPlumbing(c.target)).map((c) => c.target);
  const closedMsg = 'closed descriptors inherited from the launcher: no server inherits them';
  if (files.length) log.info({ fds, files }, closedMsg);
  else if (fds.length) log.debug({ fds }, closedMsg);
  for (const e of p.reaped)
    log.warn(
      { upstream: e.server, tenant: e.tenant, pid: e.pid, sandboxed: e.sandboxed },
      'killed a server left running by an earlier gateway',
    );
  if (p.early.waiting) log.info({ servers: p.early.list() }, 'servers started while the gateway starts');
  return await Gateway.start(p.config, { log, noHttp, early: p.early });
}

/** `gatehouse start`. */
export async function start(ctx: CliContext, p: Prepared, opts: { json?: boolean }): Promise<void> {
  const { file, config } = p;
  const log = createLogger();
  let gw: Gateway;
  try {
    gw = await startGateway(p, log);
  } catch (err) {
    ctx.fail(`could not start: ${startFailure(err, config)}`);
  }
  const watcher = watchAndReload(gw, file, config, log);
  process.on('SIGHUP', () => watcher.reload());
  if (handOver(p, stopOnSignals(gw, watcher, ['SIGINT', 'SIGTERM']))) return;
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

/** `gatehouse stdio`. */
export async function stdio(p: Prepared, opts: { server?: string }): Promise<void> {
  const { file, config } = p;
  const log = createLogger();
  const gw = await startGateway(p, log, true);
  // The bridge lives as long as its client's session, often the desktop client's: its config and
  // policy files are watched as `start`'s are, so a tool denied in the policy is denied at once.
  // SIGHUP is not a reload here: the bridge is a child of a desktop client or of a terminal, and
  // a hang-up means that the terminal or client is gone. It stops cleanly on it, as on SIGTERM
  // (which a client that stops waiting for the end of its session sends, as the stdio transport
  // says to) and SIGINT; a change to a file reloads.
  const stop = stopOnSignals(gw, watchAndReload(gw, file, config, log), ['SIGHUP', 'SIGINT', 'SIGTERM']);
  if (handOver(p, stop)) return;
  await gw.waitForUpstreams(15_000);
  settleMemory(gw).catch(() => {}); // memory given back or not, the gateway runs the same
  await serveStdio(process.stdin, process.stdout, opts.server ?? '', () => gw.endpoint);
  await stop();
}
