/**
 * `gatehouse inventory` and `gatehouse check`: what is behind the gateway, how each tool is
 * classified, what is quarantined and why, and the readiness report. They read and write the store
 * named by the config, so they work whether or not a gateway is running; a running gateway (any
 * replica) picks up an accept or a classification within a second.
 */
import { gatherState } from '../readiness/state.ts';
import { credentialRefs, discoveryTenant, resolverFor } from '../credentials/broker.ts';
import { CredentialError } from '../credentials/types.ts';
import { type Command, Option } from 'commander';
import type { Config } from '../config/schema.ts';
import { Gateway } from '../main.ts';
import { silentLogger } from '../observability/logger.ts';
import type { Store } from '../storage/types.ts';
import { TOOL_CLASSES, type ToolClass } from '../model/tool-class.ts';
import { accept, classify } from '../inventory/review.ts';
import { isItemName } from '../catalog/names.ts';
import { suggest } from '../util/suggest.ts';
import {
  definitionDiff,
  inventoryRows,
  reviewChanges,
  type InventoryData,
  type InventoryRow,
} from '../inventory/report.ts';
import { readiness, summary } from '../readiness/check.ts';
import { type Format, FORMATS, jsonText, render } from './format.ts';
import { reasonOption, recordAdmin, withReason } from './admin-record.ts';
import { withStore } from './store.ts';
import { actorName, type CliContext } from './context.ts';

async function readInventory(store: Store): Promise<InventoryData> {
  const [servers, tools] = await Promise.all([store.inventory.servers(), store.inventory.tools()]);
  return { servers, tools };
}

/** Connect to every enabled server once, so that discovery is recorded; progress on stderr. */
async function refresh(config: Config, quiet: boolean): Promise<void> {
  const say = (s: string) => !quiet && process.stderr.write(`${s}\n`);
  const enabled = config.servers.filter((s) => !s.disabled);
  say(`discovering ${enabled.length} server(s)...`);
  const gw = await Gateway.start(config, { log: silentLogger(), noHttp: true, noExports: true });
  try {
    const wait = Math.max(...enabled.map((s) => s.timeouts.connectMs), 1000) + 5000;
    await gw.waitForUpstreams(wait);
    // its stderr's last lines, if any
    const why = (name: string) => {
      const lastError = gw.upstreams.get(name)?.lastError;
      return lastError ? `: ${lastError}` : '';
    };
    const unconnected = gw.fleet.unconnected();
    for (const s of enabled) {
      if (gw.upstreamReady(s.name)) say(`  ${s.name}: ${gw.catalog.list('tools', s.name).length} tool(s) visible`);
      else if (unconnected.get(s.name) === 'credentials unavailable')
        say(
          `  ${s.name}: not started, its credentials are unavailable: ${(await credentialProblems(config, s)).join('; ')}`,
        );
      else
        say(
          `  ${s.name}: not reachable (${gw.upstreams.get(s.name)?.state ?? unconnected.get(s.name) ?? 'unknown'})${why(s.name)}`,
        );
    }
  } finally {
    await gw.stop();
  }
}

/**
 * Why a server's credentials did not resolve, reference by reference, as the gateway's start met it
 * (its discovery tenant): each is resolved again and only the error is kept. Credential errors name
 * the reference and the fix, never a value (credentials/types.ts).
 */
async function credentialProblems(config: Config, cfg: Config['servers'][number]): Promise<string[]> {
  const context = { tenant: discoveryTenant(cfg), environment: cfg.environment ?? 'default' };
  const out: string[] = [];
  // With PostgreSQL, `local:` secrets are read from its database (ADR 0016).
  await withStore(config, async (store) => {
    const resolver = await resolverFor(config, store);
    try {
      for (const ref of new Set(credentialRefs(cfg)))
        await resolver.resolve(ref, { context }).catch((err: unknown) => {
          out.push(err instanceof CredentialError ? err.message : `${ref}: the secrets provider failed`);
        });
    } finally {
      await resolver.close();
    }
  });
  if (out.length) return out;
  const oauth = cfg.transport !== 'stdio' && cfg.oauth;
  return [
    oauth
      ? `it needs an upstream authorization: gatehouse upstream authorize ${cfg.name} -t ${context.tenant}`
      : 'each reference resolves now (the gateway retries with backoff)',
  ];
}

/** `server__tool` -> its parts, checked against the config. */
function parseTool(config: Config, name: string, fail: CliContext['fail']): { server: string; tool: string | null } {
  const sep = config.gateway.namespaceSeparator;
  const i = name.indexOf(sep);
  const server = i < 0 ? name : name.slice(0, i);
  if (!config.servers.some((s) => s.name === server))
    fail(`unknown server \`${server}\` in \`${name}\` (tools are named <server>${sep}<tool>)`, 2);
  return { server, tool: i < 0 ? null : name.slice(i + sep.length) };
}

const COLUMNS = ['tool', 'class', 'review', 'proposed', 'status', 'reason', 'owner', 'scopes', 'resources'];

function rowCells(r: InventoryRow): (string | string[])[] {
  return [
    r.tool || `${r.server} (server)`,
    r.class,
    r.review,
    r.proposed,
    r.status,
    r.reason,
    r.owner,
    r.scopes,
    r.resources,
  ];
}

export function registerInventory(program: Command, ctx: CliContext): void {
  const inv = program
    .command('inventory')
    .description('every server and tool behind the gateway: class, review, quarantine, owner, scopes, resources')
    // `gatehouse inventory --refresh --json` is `inventory list ...`: say where its options are.
    .addHelpText('after', '\nWithout a command: `list` (its options: gatehouse inventory list --help).');
  registerInventoryList(inv, ctx);
  registerInventoryDiff(inv, ctx);
  registerInventoryAccept(inv, ctx);
  registerInventoryClassify(inv, ctx);
  registerInventoryEvents(inv, ctx);
}

type ListOpts = { config: string; format: Format; json?: boolean; server?: string; refresh?: boolean };

function registerInventoryList(inv: Command, ctx: CliContext): void {
  inv
    .command('list', { isDefault: true })
    .description('servers x tools with class, review, quarantine, owner, scopes and resources (the default)')
    .addOption(ctx.configOption())
    .addOption(new Option('-f, --format <format>', 'output format').choices(FORMATS).default('table'))
    .option('--json', 'same as --format json')
    .option('-s, --server <name>', 'only this server')
    .option('--refresh', 'connect to every server first, so that what they offer now is recorded')
    .action((opts: ListOpts) => listInventory(ctx, opts));
}

async function listInventory(ctx: CliContext, opts: ListOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  if (opts.server && !config.servers.some((s) => s.name === opts.server))
    ctx.fail(`unknown server \`${opts.server}\``, 2);
  if (opts.refresh) await refresh(config, Boolean(opts.json));
  const data = await withStore(config, readInventory);
  const rows = inventoryRows(config, data).filter((r) => !opts.server || r.server === opts.server);
  process.stdout.write(render(opts.json ? 'json' : opts.format, COLUMNS, rows.map(rowCells), { rows }));
}

type DiffOpts = { config: string; json?: boolean };

function registerInventoryDiff(inv: Command, ctx: CliContext): void {
  inv
    .command('diff')
    .description('what changed since each definition was accepted (quarantined tools and servers), as unified diffs')
    .argument('[tool]', 'one tool (<server><sep><tool>) or server')
    .addOption(ctx.configOption())
    .option('--json', 'print the changes as JSON')
    .action((name: string | undefined, opts: DiffOpts) => diffInventory(ctx, name, opts));
}

async function diffInventory(ctx: CliContext, name: string | undefined, opts: DiffOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const sep = config.gateway.namespaceSeparator;
  const target = name ? parseTool(config, name, ctx.fail) : undefined;
  const changes = reviewChanges(await withStore(config, readInventory), sep, target);
  if (target && !changes.length) ctx.fail(`\`${name}\` is not in the inventory`, 2);
  if (opts.json) return void process.stdout.write(jsonText({ changes }));
  if (!changes.length)
    return void process.stdout.write('nothing is waiting for review: every definition is the accepted one\n');
  for (const c of changes) process.stdout.write(`## ${c.name}: ${c.reason}\n${c.diff || '(no difference)\n'}\n`);
}

type ReviewOpts = { config: string; reason?: string; by?: string; json?: boolean };

function registerInventoryAccept(inv: Command, ctx: CliContext): void {
  inv
    .command('accept')
    .description(
      "accept the current definition of a quarantined tool (or a server's instructions), after showing the diff",
    )
    .argument('<tool>', '<server><sep><tool>, or a server name for its instructions')
    .addOption(ctx.configOption())
    .option(
      '--confirm-findings',
      'accept a definition the poisoning scan flagged, having read its findings and diff (without it, they are shown and nothing is accepted)',
    )
    .addOption(reasonOption())
    .option('--by <name>', 'who accepts (recorded); default: cli:<user>@<host>')
    .option('--json', 'print the result as JSON')
    .action((name: string, opts: AcceptOpts) => acceptDefinition(ctx, name, opts));
}

type AcceptOpts = ReviewOpts & { confirmFindings?: boolean };

async function acceptDefinition(ctx: CliContext, name: string, opts: AcceptOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const { server, tool } = parseTool(config, name, ctx.fail);
  const by = actorName(opts.by);
  const confirm = { confirmed: opts.confirmFindings === true, how: '--confirm-findings' };
  const r = await withStore(config, async (store) => {
    const res = await store.inventory.update(server, (state) => accept(state, tool, by, Date.now(), confirm));
    if (res.ok && !res.unchanged)
      await recordAdmin(store, config.gateway.stateDir, by, 'inventory.accept', {
        server,
        tool,
        result: res.message,
        ...(opts.confirmFindings ? { findingsConfirmed: true } : {}),
        ...withReason(opts.reason),
      });
    return res;
  });
  if (!r.ok && r.findings) {
    // What would be accepted, shown before the refusal: the diff, then the findings in the message.
    const diff = definitionDiff(name, r.before, r.after);
    if (!opts.json) process.stderr.write(diff);
    ctx.fail(`not accepted \`${name}\`: ${r.message}`, 2, { findings: r.findings, diff });
  }
  if (!r.ok) ctx.fail(`cannot accept \`${name}\`: ${r.message}`, 2);
  const diff = definitionDiff(name, r.before, r.after);
  if (opts.json)
    return void process.stdout.write(
      jsonText({ accepted: name, by: r.unchanged ? null : by, result: r.message, diff }),
    );
  process.stdout.write(`${diff}${name}: ${r.message}${r.unchanged ? '' : ` by ${by}`}\n`);
}

/** The listed tool of `server` nearest a name it does not list (a typo), namespaced, as `mode set` suggests one. */
async function nearTool(store: Store, config: Config, server: string, tool: string): Promise<string | undefined> {
  const listed = (await store.inventory.tools(server))
    .filter((t) => t.present && !isItemName(t.tool))
    .map((t) => t.tool);
  if (listed.includes(tool)) return undefined;
  const near = suggest(tool, listed);
  return near && `${server}${config.gateway.namespaceSeparator}${near}`;
}

function registerInventoryClassify(inv: Command, ctx: CliContext): void {
  inv
    .command('classify')
    .description('record the class of a tool (who and when are recorded); config classes still win')
    .argument('<tool>', '<server><sep><tool>')
    .argument('<class>', TOOL_CLASSES.join(' | '))
    .addOption(ctx.configOption())
    .addOption(reasonOption())
    .option('--by <name>', 'who classifies (recorded); default: cli:<user>@<host>')
    .option('--json', 'print the result as JSON')
    .action((name: string, cls: string, opts: ReviewOpts) => classifyTool(ctx, name, cls, opts));
}

async function classifyTool(ctx: CliContext, name: string, cls: string, opts: ReviewOpts): Promise<void> {
  const upper = cls.toUpperCase();
  if (!(TOOL_CLASSES as readonly string[]).includes(upper))
    ctx.fail(`unknown class \`${cls}\`: use ${TOOL_CLASSES.join(', ')}`, 2);
  const config = await ctx.load(opts.config);
  const { server, tool } = parseTool(config, name, ctx.fail);
  if (tool === null)
    ctx.fail(`\`${name}\` names a server; classify a tool (<server>${config.gateway.namespaceSeparator}<tool>)`, 2);
  const by = actorName(opts.by);
  const r = await withStore(config, async (store) => {
    const res = await store.inventory.update(server, (state) =>
      classify(state, tool, upper as ToolClass, by, Date.now()),
    );
    if (res.ok)
      await recordAdmin(store, config.gateway.stateDir, by, 'inventory.classify', {
        server,
        tool,
        class: upper,
        ...withReason(opts.reason),
      });
    return { ...res, near: res.ok ? undefined : await nearTool(store, config, server, tool) };
  });
  if (!r.ok) ctx.fail(`cannot classify \`${name}\`: ${r.message}${r.near ? `: did you mean \`${r.near}\`?` : ''}`, 2);
  const overridden = config.servers.find((s) => s.name === server)?.tools?.[tool]?.class;
  const note = overridden && overridden !== upper ? ` (note: the config says ${overridden}, and the config wins)` : '';
  if (opts.json)
    return void process.stdout.write(jsonText({ tool: name, class: upper, by, configClass: overridden ?? null }));
  process.stdout.write(`${name}: ${r.message} by ${by}${note}\n`);
}

type EventsOpts = { config: string; server?: string; limit: string; json?: boolean };

function registerInventoryEvents(inv: Command, ctx: CliContext): void {
  inv
    .command('events')
    .description('the inventory history: discoveries, changes, quarantines, accepts and classifications')
    .addOption(ctx.configOption())
    .option('-s, --server <name>', 'only this server')
    .option('-n, --limit <n>', 'at most this many, oldest first', '200')
    .option('--json', 'print the events as JSON')
    .action((opts: EventsOpts) => inventoryEvents(ctx, opts));
}

async function inventoryEvents(ctx: CliContext, opts: EventsOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const limit = Number(opts.limit);
  if (!Number.isInteger(limit) || limit < 1) ctx.fail('`--limit` must be a positive integer', 2);
  const events = await withStore(config, (s) => s.inventory.events({ server: opts.server, limit }));
  if (opts.json) return void process.stdout.write(jsonText({ events }));
  const rows = events.map((e) => [
    new Date(e.at).toISOString(),
    e.server,
    e.tool ?? '',
    e.kind,
    e.actor,
    String(e.detail.reason ?? e.detail.class ?? e.detail.proposedClass ?? ''),
  ]);
  process.stdout.write(render('table', ['time', 'server', 'tool', 'event', 'actor', 'detail'], rows, null));
}

type CheckOpts = { config: string; json?: boolean; refresh?: boolean };

export function registerCheck(program: Command, ctx: CliContext): void {
  program
    .command('check')
    .description('the readiness report: the configuration and inventory against the seven-section checklist')
    .addOption(ctx.configOption())
    .option('--json', 'print the report as JSON')
    .option('--refresh', 'connect to every server first (records what they offer now)')
    .action((opts: CheckOpts) => checkAction(ctx, opts));
}

async function checkAction(ctx: CliContext, opts: CheckOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  if (opts.refresh) await refresh(config, Boolean(opts.json));
  const items = await withStore(config, async (store) => {
    const inv = await readInventory(store);
    return readiness(config, inv, undefined, await gatherState(store, config, inv));
  });
  const totals = summary(items);
  if (opts.json) process.stdout.write(jsonText({ ready: totals.fail === 0, summary: totals, items }));
  else {
    let section = '';
    for (const i of items) {
      if (i.section !== section) {
        process.stdout.write(`${section ? '\n' : ''}${i.section.toUpperCase()}\n`);
        section = i.section;
      }
      process.stdout.write(
        `  ${i.status.toUpperCase().padEnd(4)} ${i.id} ${i.title}\n         ${i.why}\n${i.status !== 'pass' && i.fix ? `         fix: ${i.fix}\n` : ''}`,
      );
    }
    process.stdout.write(
      `\n${totals.pass} pass, ${totals.warn} warn, ${totals.fail} fail: ${totals.fail ? 'not ready' : 'ready'}\n`,
    );
  }
  process.exitCode = totals.fail ? 1 : 0;
}
