/**
 * Every top-level `gatehouse` command, with the one-line summary `gatehouse --help` lists and the
 * module that defines it. A module is imported only when its command runs, so `--help` and a typo
 * load commander and nothing else (no store, no gateway). src/cli/commands.test.ts checks that each
 * summary is the description its module registers.
 */
import type { Command } from 'commander';
import type { CliContext } from './context.ts';

type Register = (program: Command, ctx: CliContext) => void;

export interface CommandEntry {
  name: string;
  summary: string;
  load: () => Promise<Register>;
}

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'start',
    summary: 'run the gateway: listen for MCP clients over HTTP and connect the configured servers',
    load: async () => (await import('./serve.ts')).registerServe,
  },
  {
    name: 'stdio',
    summary: 'serve one MCP client over stdin/stdout (for desktop clients that launch a command)',
    load: async () => (await import('./serve.ts')).registerServe,
  },
  {
    name: 'init',
    summary: 'write a commented starter configuration',
    load: async () => (await import('./config.ts')).registerInit,
  },
  {
    name: 'config',
    summary: 'work with the configuration file',
    load: async () => (await import('./config.ts')).registerConfig,
  },
  {
    name: 'inventory',
    summary: 'every server and tool behind the gateway: class, review, quarantine, owner, scopes, resources',
    load: async () => (await import('./inventory.ts')).registerInventory,
  },
  {
    name: 'check',
    summary: 'the readiness report: the configuration and inventory against the seven-section checklist',
    load: async () => (await import('./inventory.ts')).registerCheck,
  },
  {
    name: 'keys',
    summary: 'API keys for service agents and local development (stored hashed)',
    load: async () => (await import('./keys.ts')).registerKeys,
  },
  {
    name: 'audit',
    summary: 'the audit trail: verify the chain, reconstruct a run, search, export',
    load: async () => (await import('./audit.ts')).registerAudit,
  },
  {
    name: 'policy',
    summary: 'explain decisions and test the policy',
    load: async () => (await import('./policy.ts')).registerPolicy,
  },
  {
    name: 'mode',
    summary: 'the incident switch: disable, read-only or shadow a tool, server, tenant or the gateway, at once',
    load: async () => (await import('./mode.ts')).registerMode,
  },
  {
    name: 'secrets',
    summary: 'the embedded encrypted secret store (AES-256-GCM), for `local:<name>` references',
    load: async () => (await import('./secrets.ts')).registerSecrets,
  },
  {
    name: 'credentials',
    summary: 'revoke or restore upstream credentials (any reference)',
    load: async () => (await import('./secrets.ts')).registerSecrets,
  },
  {
    name: 'approvals',
    summary: 'calls waiting for a human decision',
    load: async () => (await import('./approvals.ts')).registerApprovals,
  },
  {
    name: 'upstream',
    summary: 'OAuth authorizations of upstream servers (Gatehouse as their OAuth client)',
    load: async () => (await import('./upstream.ts')).registerUpstream,
  },
  {
    name: 'principals',
    summary: 'revoke token principals (a subject, or one token by its jti), like API keys',
    load: async () => (await import('./principals.ts')).registerPrincipals,
  },
  {
    name: 'incident',
    summary: 'the incident playbook: contain, revoke, export, notify, close — one command each',
    load: async () => (await import('./incident.ts')).registerIncident,
  },
];

/**
 * The command a command line names: its first word that is not an option (`help <command>` names the
 * one after). Top-level options take no values, so an option's value is never mistaken for it.
 */
export function commandNamed(argv: readonly string[]): CommandEntry | undefined {
  const words = argv.filter((a) => !a.startsWith('-'));
  const name = words[0] === 'help' ? words[1] : words[0];
  return COMMANDS.find((c) => c.name === name);
}
