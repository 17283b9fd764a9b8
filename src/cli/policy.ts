/**
 * `gatehouse policy explain|test`: why a call would be allowed, denied, sent for approval or shadowed
 * (rule by rule), and operators' own table-driven tests of their policy. Both compile the policy the
 * config names, exactly as the gateway does.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { evaluate } from '../policy/evaluate.ts';
import { explain } from '../policy/explain.ts';
import { parseCases, runTable, type TableCase } from '../policy/table.ts';
import { PolicyError } from '../policy/model.ts';
import { TOOL_CLASSES, type ToolClass } from '../model/tool-class.ts';
import { mergeModes } from '../policy/runtime-modes.ts';
import { checkTarget, IncidentError, serverOfTool } from '../incident/incident.ts';
import type { ModeRecord } from '../storage/types.ts';
import { withStore } from './store.ts';
import type { Config } from '../config/schema.ts';
import type { CliContext } from './context.ts';

const list = (v: string | undefined) => (v ?? '').split(/[\s,]+/).filter(Boolean);

export function registerPolicy(program: Command, ctx: CliContext): void {
  const policy = program.command('policy').description('explain decisions and test the policy');
  registerPolicyExplain(policy, ctx);
  registerPolicyTest(policy, ctx);
}

type ExplainOpts = {
  subject: string;
  issuer?: string;
  tenant: string;
  roles: string;
  client: string;
  tool: string;
  class?: string;
  args: string;
  allowUnknown?: boolean;
  config: string;
  json?: boolean;
};

function registerPolicyExplain(policy: Command, ctx: CliContext): void {
  policy
    .command('explain')
    .description('the decision for one call, rule by rule: which matched and why the others did not')
    .requiredOption('--subject <subject>', "the caller's subject")
    .option('--issuer <issuer>', "who vouches for the subject: a token's issuer, `gatehouse` for an API key")
    .requiredOption('--tenant <tenant>', "the caller's tenant")
    .option('--roles <roles>', 'comma-separated roles', '')
    .option('--client <client>', 'the OAuth client or API key name', 'unknown')
    .requiredOption('--tool <tool>', 'namespaced tool name, e.g. github__create_issue')
    .option(
      '--class <class>',
      'READ, WRITE or DESTRUCTIVE (default: from the inventory; unreviewed counts as DESTRUCTIVE)',
    )
    .option('--args <json>', 'the arguments as JSON', '{}')
    .option('--allow-unknown', 'the tool may be one its server has not listed yet (explained as if listed)')
    .addOption(ctx.configOption())
    .option('--json', 'print the decision and the explanation as JSON')
    .action((opts: ExplainOpts) => explainAction(ctx, opts));
}

function parseArgs(ctx: CliContext, json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return ctx.fail('`--args` is not valid JSON', 2);
  }
}

/** The class the operator wrote in the config for a namespaced tool of `server`, if any. */
function configuredClass(config: Config, server: string, tool: string): ToolClass | undefined {
  const sep = config.gateway.namespaceSeparator;
  if (!tool.startsWith(`${server}${sep}`)) return undefined;
  const tools = config.servers.find((s) => s.name === server)?.tools;
  const name = tool.slice(server.length + sep.length);
  return tools && Object.hasOwn(tools, name) ? tools[name]?.class : undefined;
}

/** What the gateway reads from the store for a call: the inventory's class of the tool, and the modes set at run time. */
interface StoreView {
  /** Whether its server has listed the tool (`--allow-unknown` explains one it has not). */
  listed: boolean;
  inventoryClass: ToolClass | undefined;
  modes: ModeRecord[];
}

/**
 * The store's view of the call. The tool must be one its server has listed (a misspelt name would
 * be explained as an unreviewed DESTRUCTIVE tool while the gateway knows no such tool), unless
 * `--allow-unknown` (a tool not listed yet: it is explained as it would be decided once listed).
 */
async function storeView(ctx: CliContext, config: Config, opts: ExplainOpts): Promise<StoreView> {
  const sep = config.gateway.namespaceSeparator;
  try {
    return await withStore(config, async (store) => {
      await checkTarget(store, config, 'tool', opts.tool, {
        allowUnknown: opts.allowUnknown,
        howToAllow: '--allow-unknown',
      });
      const server = serverOfTool(config, opts.tool) as string;
      const rec = (await store.inventory.tools(server)).find((t) => `${t.server}${sep}${t.tool}` === opts.tool);
      return {
        listed: rec !== undefined,
        inventoryClass: (rec?.class as ToolClass | null) ?? undefined,
        modes: await store.modes.list(),
      };
    });
  } catch (err) {
    if (err instanceof IncidentError) ctx.fail(err.message, 2);
    throw err;
  }
}

/** Who set a run-time mode, when and why, for the scope it is in force from. */
const setAtRunTime = (modes: readonly ModeRecord[]) => (from: string) => {
  const r = modes.find((m) => m.scope === from);
  return r && `set at run time by ${r.setBy} at ${new Date(r.setAt).toISOString()}: ${r.reason}`;
};

async function explainAction(ctx: CliContext, opts: ExplainOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  if (!config.policy) ctx.fail('no policy is configured (`policy.files` in the config)', 2);
  const args = parseArgs(ctx, opts.args);
  const given = opts.class?.toUpperCase() as ToolClass | undefined;
  if (given && !TOOL_CLASSES.includes(given))
    ctx.fail(`unknown class \`${opts.class}\`: use ${TOOL_CLASSES.join(', ')}`, 2);
  const view = await storeView(ctx, config, opts);
  const server = serverOfTool(config, opts.tool) as string;
  // The class: the one given, else the configured one, else the inventory's; unreviewed counts as DESTRUCTIVE.
  const toolClass = given ?? configuredClass(config, server, opts.tool) ?? view.inventoryClass ?? 'DESTRUCTIVE';
  const input = {
    principal: {
      subject: opts.subject,
      issuer: opts.issuer,
      tenant: opts.tenant,
      client: opts.client,
      roles: list(opts.roles),
    },
    server,
    tool: opts.tool,
    toolClass,
    arguments: args,
  };
  // The modes as the gateway holds them: the policy files', with those set at run time over them.
  const policy = { ...config.policy.compiled, modes: mergeModes(config.policy.compiled.modes, view.modes) };
  const decision = evaluate(input, policy, Date.now());
  const lines = explain(input, policy, Date.now(), setAtRunTime(view.modes));
  if (!view.listed)
    lines.splice(2, 0, 'tool: not listed by its server yet: until it is, the gateway refuses it as unknown');
  if (opts.json) return void process.stdout.write(`${JSON.stringify({ decision, explanation: lines }, null, 2)}\n`);
  process.stdout.write(`${lines.join('\n')}\n=> ${decision.effect.toUpperCase()} (${decision.rule})\n`);
}

type TestOpts = { config: string; json?: boolean };

function registerPolicyTest(policy: Command, ctx: CliContext): void {
  policy
    .command('test')
    .description(
      'run table-driven policy tests (cases: subject, tool, args, expected effect and rule; class when the config does not classify the tool)',
    )
    .argument('<file>', 'a YAML file of cases')
    .addOption(ctx.configOption())
    .option('--json', 'print the results as JSON')
    .action((file: string, opts: TestOpts) => testAction(ctx, file, opts));
}

/** The cases, each decided with the config's class for its tool when the config gives one (as at run time). */
function readCases(ctx: CliContext, file: string, config: Config): TableCase[] {
  try {
    return parseCases(readFileSync(resolve(file), 'utf8'), file, (server, tool) =>
      configuredClass(config, server, tool),
    );
  } catch (err) {
    if (err instanceof PolicyError) ctx.fail(`invalid test file:\n${err.message}`, 2);
    return ctx.fail(`cannot read \`${file}\`: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 2);
  }
}

async function testAction(ctx: CliContext, file: string, opts: TestOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  if (!config.policy) ctx.fail('no policy is configured (`policy.files` in the config)', 2);
  const cases = readCases(ctx, file, config);
  const results = runTable(config.policy.compiled, cases);
  const failed = results.filter((r) => !r.pass);
  if (opts.json)
    process.stdout.write(
      `${JSON.stringify({ revision: config.policy.compiled.revision, passed: results.length - failed.length, failed: failed.length, results }, null, 2)}\n`,
    );
  else {
    for (const r of results)
      process.stdout.write(
        `${r.pass ? 'PASS' : 'FAIL'} ${file}:${r.line} ${r.name}${r.pass ? '' : `\n${r.diff.map((d) => `     ${d}`).join('\n')}`}\n`,
      );
    process.stdout.write(
      `${results.length - failed.length} passed, ${failed.length} failed (policy revision ${config.policy.compiled.revision})\n`,
    );
  }
  process.exitCode = failed.length ? 1 : 0;
}
