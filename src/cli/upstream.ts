/**
 * `gatehouse upstream authorize|list|forget`: Gatehouse as the OAuth client of upstream servers that
 * use OAuth. `authorize` prints the URL a person of the tenant opens; the authorization server sends
 * the browser back to the gateway (`/oauth/callback`), which keeps the tokens sealed and refreshes them.
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import type { HttpServerConfig } from '../config/schema.ts';
import { loadKey } from '../credentials/local-store.ts';
import { LOCAL_KEY_FILE } from '../credentials/broker.ts';
import { oauthCallbackUrl, UpstreamOAuth } from '../credentials/upstream-oauth.ts';
import { actorName, type CliContext } from './context.ts';
import { reasonOption, recordAdmin, withReason } from './admin-record.ts';
import { jsonText, render } from './format.ts';
import { withStore } from './store.ts';

const TENANT = /^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: a subject must not hold control characters; this range is what refuses them
const SUBJECT = /^[^\s/\u0000-\u001f]{1,256}$/;

export function registerUpstream(program: Command, ctx: CliContext): void {
  const up = program
    .command('upstream')
    .description('OAuth authorizations of upstream servers (Gatehouse as their OAuth client)');

  up.command('authorize')
    .description('start an authorization for one tenant: prints the URL to open; the gateway completes it')
    .argument('<server>')
    .requiredOption('-t, --tenant <tenant>', 'whose authorization this is')
    .option(
      '-s, --subject <subject>',
      'for `oauth.per: user`: the user (their verified subject); without it, the tenant-wide one used for discovery',
    )
    .addOption(reasonOption())
    .addOption(ctx.configOption())
    .option('--json', 'print the URL as JSON')
    .action(
      async (
        name: string,
        opts: { tenant: string; subject?: string; reason?: string; config: string; json?: boolean },
      ) => {
        if (!TENANT.test(opts.tenant)) ctx.fail('`--tenant` must be 1-128 letters, digits and `_ . @ + -`', 2);
        if (opts.subject !== undefined && !SUBJECT.test(opts.subject))
          ctx.fail('`--subject` must be 1-256 characters without spaces, `/` or controls', 2);
        const config = await ctx.load(opts.config);
        const server = config.servers.find((s) => s.name === name);
        if (!server || server.transport === 'stdio' || !server.oauth)
          ctx.fail(`server \`${name}\` is not an http server with \`oauth\``, 2);
        const key = await loadKey({ keyFile: join(config.gateway.stateDir, LOCAL_KEY_FILE) });
        const url = await withStore(config, async (s) => {
          const owner = opts.subject ? `${opts.tenant}/${opts.subject}` : opts.tenant;
          const u = await new UpstreamOAuth(s.upstreamTokens, key).authorizeUrl(
            server as HttpServerConfig,
            owner,
            oauthCallbackUrl(config),
          );
          await recordAdmin(s, config.gateway.stateDir, actorName(undefined), 'upstream.authorize', {
            server: name,
            tenant: opts.tenant,
            subject: opts.subject,
            ...withReason(opts.reason),
          });
          return u;
        });
        if (opts.json)
          return void process.stdout.write(`${JSON.stringify({ url, redirectUri: oauthCallbackUrl(config) })}\n`);
        process.stdout.write(`${url}\n`);
        process.stderr.write(
          `open this URL as a person of tenant ${opts.tenant} within ten minutes; the gateway must be reachable at ${oauthCallbackUrl(config)}\n`,
        );
      },
    );

  up.command('list')
    .description('authorizations held: server, tenant, last update (never tokens)')
    .addOption(ctx.configOption())
    .option('--json', 'print as JSON')
    .action(async (opts: { config: string; json?: boolean }) => {
      const config = await ctx.load(opts.config);
      const rows = await withStore(config, (s) => s.upstreamTokens.list());
      if (opts.json) return void process.stdout.write(jsonText({ authorizations: rows }));
      process.stdout.write(
        render(
          'table',
          ['server', 'tenant', 'updated'],
          rows.map((r) => [r.server, r.tenant, new Date(r.updatedAt).toISOString()]),
          null,
        ),
      );
    });

  registerForget(up, ctx);
}

function registerForget(up: Command, ctx: CliContext): void {
  up.command('forget')
    .description(
      "delete a tenant's tokens for a server (to revoke at once everywhere, use `gatehouse credentials revoke oauth:<server>:<tenant>`)",
    )
    .argument('<server>')
    .requiredOption('-t, --tenant <tenant>', 'the tenant whose tokens are deleted')
    .addOption(reasonOption())
    .addOption(ctx.configOption())
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: { tenant: string; reason?: string; config: string; json?: boolean }) => {
      const config = await ctx.load(opts.config);
      const had = await withStore(config, async (s) => {
        const r = await s.upstreamTokens.delete(name, opts.tenant);
        if (r)
          await recordAdmin(s, config.gateway.stateDir, actorName(undefined), 'upstream.forget', {
            server: name,
            tenant: opts.tenant,
            ...withReason(opts.reason),
          });
        return r;
      });
      if (!had) ctx.fail(`no authorization of \`${name}\` for tenant \`${opts.tenant}\``, 2);
      if (opts.json) return void process.stdout.write(jsonText({ forgot: { server: name, tenant: opts.tenant } }));
      process.stdout.write(`forgot the tokens of ${name} for ${opts.tenant}\n`);
    });
}
