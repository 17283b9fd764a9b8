/**
 * The channel one start of an upstream connection speaks over: a stdio server's process (in its
 * sandbox when configured; fail closed without one), a legacy HTTP+SSE session, or a Streamable
 * HTTP pool. HTTP channels load only when an HTTP upstream is configured: stdio-only gateways stay
 * small.
 */
import type { Logger } from '../observability/logger.ts';
import type { ServerConfig } from '../config/schema.ts';
import type { ByteBudget } from '../util/byte-budget.ts';
import type { SandboxHost } from '../sandbox/sandbox.ts';
import { stdioEnv } from '../sandbox/server-view.ts';
import { StdioChannel, type StdioOptions } from './stdio.ts';
import { lstatSync, realpathSync } from 'node:fs';
import { join, relative, isAbsolute } from 'node:path';
import type { Channel } from './types.ts';

export interface ChannelContext {
  /** Starts stdio servers in their sandbox, for this tenant's connection. */
  sandbox: { host: SandboxHost; tenant: string } | undefined;
  /** A process started while the gateway started, for this start to adopt (the first start only). */
  prestarted: StdioOptions['prestarted'];
  /** The gateway's budget of bytes held from upstreams, shared by every channel. */
  budget: ByteBudget;
  log: Logger;
}

export async function makeChannel(cfg: ServerConfig, ctx: ChannelContext): Promise<Channel> {
  const { sandbox, prestarted, budget, log } = ctx;
  const maxBytes = cfg.messages?.maxBytes;
  if (cfg.transport === 'stdio') {
    // A sandboxed server never starts without its sandbox (fail closed); see src/sandbox/sandbox.ts.
    if (!sandbox && cfg.sandbox)
      throw new Error(`server \`${cfg.name}\` is sandboxed, but this connection has no sandbox host`);
    const limits = { maxLineBytes: maxBytes, budget, prestarted };
    if (!sandbox)
      return new StdioChannel(
        cfg.name,
        { command: cfg.command, args: cfg.args ?? [], env: stdioEnv(cfg), cwd: cfg.cwd, ...limits },
        log,
      );
    const l = await sandbox.host.launch(cfg, sandbox.tenant);
    return new StdioChannel(
      cfg.name,
      {
        command: l.command,
        args: l.args,
        env: l.env,
        cwd: l.cwd,
        fds: l.fds,
        onStarted: l.started,
        onExited: l.exited,
        ...limits,
      },
      log,
    );
  }
  const http = {
    url: cfg.url,
    headers: cfg.headers,
    maxMessageBytes: maxBytes,
    maxNotificationBytes: cfg.messages?.maxNotificationBytes,
    budget,
  };
  if (cfg.transport === 'sse') {
    const { LegacySseChannel } = await import('./sse.ts');
    return new LegacySseChannel(cfg.name, http, log);
  }
  const { StreamableHttpChannel } = await import('./http.ts');
  return new StreamableHttpChannel(cfg.name, http, log);
}

/**
 * Where the `node_modules` of a server's folder really is, when it is a link out of that folder to a
 * folder the sandbox does not show (a checkout whose packages live elsewhere; pnpm and monorepo
 * layouts): the sandbox shows the folder, and the link leads nowhere inside it. undefined otherwise.
 */
function linkedPackages(folder: string, shown: readonly string[]): string | undefined {
  try {
    const link = join(folder, 'node_modules');
    if (!lstatSync(link).isSymbolicLink()) return undefined;
    const target = realpathSync(link);
    const under = (p: string, dir: string) => {
      const r = relative(dir, p);
      return r === '' || (!r.startsWith('..') && !isAbsolute(r));
    };
    if (under(target, realpathSync(folder))) return undefined;
    return shown.some((d) => under(target, d)) ? undefined : target;
  } catch {
    return undefined;
  }
}

/** Commands that look a package up in a registry, or download it, before the server runs. */
const FETCHERS = new Set(['npx', 'npm', 'pnpm', 'pnpx', 'yarn', 'bunx', 'uvx', 'pipx']);

/**
 * Why a stdio server that did not answer in time may have hung before it ran: a package runner (npx,
 * uvx, ...) in a sandbox without network retries the registry quietly until the connect timeout, so
 * the timeout alone says nothing (walk L: `gatehouse init`, then `start`, in an empty folder). Said
 * with the error; undefined when that cannot be the reason.
 */
export function fetchHint(cfg: ServerConfig, err: unknown): string | undefined {
  if (cfg.transport !== 'stdio' || !cfg.sandbox) return undefined;
  if ((err as { code?: string } | undefined)?.code !== 'E_UPSTREAM_TIMEOUT') return undefined;
  if (cfg.sandbox.network !== undefined && cfg.sandbox.network !== 'none') return undefined;
  const command = cfg.command.split('/').at(-1) ?? '';
  if (!FETCHERS.has(command)) return undefined;
  const linked = linkedPackages(cfg.cwd ?? process.cwd(), cfg.sandbox.paths?.read ?? []);
  if (linked)
    return `it runs \`${command}\` in a sandbox, which shows its folder but not where that folder's \`node_modules\` links to (\`${linked}\`), so the package is looked for in the registry, which a sandbox without network waits for until the connect timeout: add \`${linked}\` to \`sandbox.paths.read\``;
  return `it runs \`${command}\` in a sandbox without network, which waits for the registry until the connect timeout when the package is not installed: install the package where the server runs (\`npm install <package>\`), or allow the registry in \`sandbox.network\``;
}
