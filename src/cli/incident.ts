/**
 * `gatehouse incident open|revoke|export|verify|notify|status|list|close`: the incident playbook, one
 * command per step. `open` contains (disables a tool, server or tenant, or revokes a principal) on
 * every live gateway and waits for each to confirm; `revoke` revokes what the scope used; `export`
 * writes a signed evidence bundle that `verify` re-checks offline; `notify` reaches the owners;
 * `close` ends it (with `--lift`, the containment too). Every step is recorded in the audit trail and
 * in the incident's own log.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { parseTime } from '../audit/timeline.ts';
import type { IncidentRecord, Store } from '../storage/types.ts';
import {
  checkTarget,
  closeIncident,
  getIncident,
  IncidentError,
  openIncident,
  SCOPE_KINDS,
  type Actor,
  type ScopeKind,
} from '../incident/incident.ts';
import { revokeIncident } from '../incident/revoke.ts';
import { exportBundle } from '../incident/bundle.ts';
import { bundlePathProblem, verifyBundle } from '../incident/bundle-verify.ts';
import { notifyIncident } from '../incident/notify.ts';
import { announce } from '../sessions/fanout.ts';
import { anonymousMeaning } from '../identity/revocations.ts';
import { actorName, type CliContext } from './context.ts';
import { jsonText, problemLines, render } from './format.ts';
import { progress } from './progress.ts';
import { actionDetailText } from './action-text.ts';
import { withStore } from './store.ts';
import { cliAuditLog } from './admin-record.ts';
import { confirmationText, waiting } from './confirmation.ts';

/** One audit stream for the whole command, opened on its first record and closed at the end. */
async function asActor<T>(store: Store, stateDir: string, name: string, fn: (a: Actor) => Promise<T>): Promise<T> {
  const log = cliAuditLog(store, stateDir);
  let opened = false;
  const actor: Actor = {
    name,
    async record(action, detail) {
      if (!opened) {
        opened = true;
        await log.append({ kind: 'stream.opened', detail: { writer: 'gatehouse cli' } });
      }
      await log.append({
        kind: 'admin.action',
        actor: { subject: name, tenant: '*', via: 'cli', issuer: '' },
        detail: { action, ...detail },
      });
    },
  };
  try {
    return await fn(actor);
  } finally {
    if (opened) await log.close();
  }
}

/** How long the audit trail is searched for a principal (its own process: no one else waits on it). */
const CLI_SEARCH_MS = 5000;
const iso = (ms: number | null) => (ms === null ? '' : new Date(ms).toISOString());
const out = (v: unknown): void => void process.stdout.write(jsonText(v));
function describe(r: IncidentRecord): string {
  const lines = [
    `incident ${r.id}: ${r.title}`,
    `  status:  ${r.status}${r.closedAt ? ` (closed by ${r.closedBy} at ${iso(r.closedAt)})` : ''}`,
    `  scope:   ${r.scope.kind} ${r.scope.value}`,
    `  reason:  ${r.reason}`,
    `  opened:  by ${r.openedBy} at ${iso(r.openedAt)}; audit window from ${iso(r.windowStart)}`,
    '  actions:',
    ...r.actions.map((a) => `    ${iso(a.at)}  ${a.action.padEnd(9)}  by ${a.by}  ${actionDetailText(a.detail)}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** Runs an incident step: an IncidentError becomes the exit status (1 for a conflict, else 2) and its message. */
async function step<T>(ctx: CliContext, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof IncidentError) return ctx.fail(err.message, err.code === 'conflict' ? 1 : 2);
    throw err;
  }
}

export function registerIncident(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('incident')
    .description('the incident playbook: contain, revoke, export, notify, close — one command each');
  registerIncidentOpen(cmd, ctx);
  registerIncidentRevoke(cmd, ctx);
  registerIncidentExport(cmd, ctx);
  registerIncidentVerify(cmd, ctx);
  registerIncidentNotify(cmd, ctx);
  registerIncidentStatus(cmd, ctx);
  registerIncidentList(cmd, ctx);
  registerIncidentClose(cmd, ctx);
}

type OpenOpts = {
  title: string;
  tool?: string;
  allowUnknown?: boolean;
  unseen?: boolean;
  server?: string;
  tenant?: string;
  principal?: string;
  reason: string;
  since: string;
  by?: string;
  timeout: string;
  config: string;
  json?: boolean;
};

function registerIncidentOpen(cmd: Command, ctx: CliContext): void {
  cmd
    .command('open')
    .description(
      'contain at once (disable the tool, server or tenant, or revoke the principal) on every live gateway, confirmed, and open an incident',
    )
    .requiredOption('--title <text>', 'what is going on, in a line')
    .option('--tool <tool>', 'a tool (namespaced): disabled')
    .option('--allow-unknown', 'the tool may be one its server has not listed yet')
    .option('--server <server>', 'every tool of a server: disabled')
    .option('--tenant <tenant>', 'every call of a tenant: disabled')
    .option('--principal <subject>', 'a person or service (`sub`): every token and API key refused')
    .option('--unseen', 'the tenant or principal may be one the gateway has not seen yet (named nowhere)')
    .requiredOption('--reason <text>', 'why (recorded, and sent to the owners)')
    .option('--since <time>', "where the incident's audit window starts: 30m, 2h, 1d or an ISO time", '1h')
    .option('--by <name>', 'who (recorded); default: cli:<user>@<host>')
    .option('--timeout <seconds>', 'how long to wait for every gateway to confirm', '30')
    .addOption(ctx.configOption())
    .option('--json', 'print the result as JSON')
    .action((opts: OpenOpts) => openAction(ctx, opts));
}

/** The one scope option given (--tool, --server, --tenant or --principal); fails (exit 2) unless exactly one is. */
function givenScope(ctx: CliContext, opts: OpenOpts): { kind: ScopeKind; value: string } {
  const given = SCOPE_KINDS.flatMap((kind) => {
    const value = opts[kind];
    return value === undefined ? [] : [{ kind, value }];
  });
  if (given.length !== 1) ctx.fail('give exactly one of --tool, --server, --tenant or --principal', 2);
  return given[0];
}

/** What containing the scope means, when its name alone would mislead: `anonymous` is every caller without a credential. */
function meaningOf(scope: { kind: ScopeKind; value: string }, identity: boolean): string {
  const m =
    scope.kind === 'principal'
      ? anonymousMeaning({ kind: 'subject', value: scope.value, issuer: '' }, identity)
      : undefined;
  return m ? ` (${m})` : '';
}

async function openAction(ctx: CliContext, opts: OpenOpts): Promise<void> {
  const scope = givenScope(ctx, opts);
  const windowStart = parseTime(opts.since);
  if (windowStart === undefined) ctx.fail(`\`--since ${opts.since}\`: use 30m, 2h, 1d or an ISO time`, 2);
  const config = await ctx.load(opts.config);
  const wait = waiting(opts.json);
  const r = await step(ctx, () =>
    withStore(config, (s) =>
      asActor(s, config.gateway.stateDir, actorName(opts.by), async (a) =>
        openIncident(s, a, {
          title: opts.title,
          scope: await checkTarget(s, config, scope.kind, scope.value, {
            allowUnknown: opts.allowUnknown,
            howToAllow: '--allow-unknown',
            unseen: opts.unseen,
            howToAllowUnseen: '--unseen',
            budgetMs: CLI_SEARCH_MS,
          }),
          reason: opts.reason,
          windowStart,
          timeoutMs: Number(opts.timeout) * 1000,
          onWait: wait.onWait,
          announce: (m) => announce(config.limits?.redis, m),
        }),
      ),
    ),
  );
  wait.end();
  process.exitCode = r.containment.confirmed ? 0 : 1;
  if (opts.json) return out(r);
  process.stdout.write(`incident ${r.incident.id} opened: ${r.incident.title}\n`);
  process.stdout.write(
    `${confirmationText(`contained: ${r.containment.target}${meaningOf(scope, Boolean(config.identity))}`, r.containment, opts.timeout, 'applied it')}\n`,
  );
  process.stdout.write(`next: gatehouse incident revoke ${r.incident.id}\n`);
}

type RevokeOpts = { by?: string; timeout: string; config: string; json?: boolean };

function registerIncidentRevoke(cmd: Command, ctx: CliContext): void {
  cmd
    .command('revoke')
    .description(
      'revoke what the scope used: secret references and upstream OAuth of its servers, API keys, sessions; confirmed on every live gateway',
    )
    .argument('<id>', 'the incident')
    .option('--by <name>', 'who (recorded)')
    .option('--timeout <seconds>', 'how long to wait for every gateway to confirm', '30')
    .addOption(ctx.configOption())
    .option('--json', 'print the result as JSON')
    .action((id: string, opts: RevokeOpts) => revokeAction(ctx, id, opts));
}

async function revokeAction(ctx: CliContext, id: string, opts: RevokeOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const wait = waiting(opts.json);
  const r = await step(ctx, () =>
    withStore(config, (s) =>
      asActor(s, config.gateway.stateDir, actorName(opts.by), (a) =>
        revokeIncident(s, config, a, id, { timeoutMs: Number(opts.timeout) * 1000, onWait: wait.onWait }),
      ),
    ),
  );
  wait.end();
  process.exitCode = r.confirmed ? 0 : 1;
  if (opts.json) return out(r);
  process.stdout.write(`incident ${id}: servers ${r.servers.join(', ') || '(none)'}\n`);
  for (const c of r.credentials) {
    process.stdout.write(
      `${confirmationText(`revoked ${c.ref} at ${c.revokedAt}`, c, opts.timeout, 'stopped serving it')}\n`,
    );
  }
  for (const k of r.apiKeys)
    process.stdout.write(`revoked api key ${k.name} (${k.id}) at ${k.revokedAt}: refused from the next request\n`);
  if (r.sessions)
    process.stdout.write(
      `ended ${r.sessions.ended} session(s) at ${r.sessions.at}: every gateway drops them within 5 s\n`,
    );
  for (const s of r.skipped) process.stdout.write(`left ${s.ref} (${s.server}): ${s.why}\n`);
  if (!r.credentials.length && !r.apiKeys.length && !r.sessions?.ended)
    process.stdout.write('nothing to revoke for this scope\n');
}

type ExportOpts = { out: string; by?: string; config: string; json?: boolean };

function registerIncidentExport(cmd: Command, ctx: CliContext): void {
  cmd
    .command('export')
    .description(
      'write the evidence bundle: audit records of the window with signed checkpoints and a verification report, run timelines, inventory, policy, config hash, signed manifest',
    )
    .argument('<id>', 'the incident')
    .requiredOption('--out <dir>', 'a new (or empty) directory')
    .option('--by <name>', 'who (recorded)')
    .addOption(ctx.configOption())
    .option('--json', 'print the result as JSON')
    .action((id: string, opts: ExportOpts) => exportAction(ctx, id, opts));
}

async function exportAction(ctx: CliContext, id: string, opts: ExportOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const dir = resolve(opts.out);
  // A window holds up to 500,000 records, and the store's whole chain is verified: where it stands, on stderr.
  const shown = opts.json ? undefined : progress();
  const r = await step(ctx, () =>
    withStore(config, (s) =>
      asActor(s, config.gateway.stateDir, actorName(opts.by), (a) =>
        exportBundle(s, config, a, id, dir, { onProgress: shown?.update }),
      ),
    ),
  )
    .catch((err: Error) => ctx.fail(err.message))
    .finally(() => shown?.end());
  const trust = r.keys.map((k) => k.keyId);
  const verify = `gatehouse incident verify ${r.dir} --trust-key ${trust.join(' ')}`;
  if (opts.json)
    return out({
      dir: r.dir,
      incident: r.incident,
      records: r.records,
      stubs: r.stubs,
      truncated: r.truncated,
      runs: r.runs,
      keyId: r.manifest.signature.keyId,
      keys: r.keys,
      verify,
    });
  process.stdout.write(
    `wrote ${r.dir}: ${r.records} audit record(s)${r.stubs ? ` (${r.stubs} of other tenants as stubs: their links only)` : ''}${r.truncated ? ' (TRUNCATED: the window is larger than one bundle)' : ''}, ${r.runs} run timeline(s); manifest signed by key ${r.manifest.signature.keyId}\n`,
  );
  process.stdout.write('signed by these keys:\n');
  for (const k of r.keys) {
    const what = [
      ...(k.manifest ? ['the manifest'] : []),
      ...(k.streams.length ? [`checkpoints of ${k.streams.join(', ')}`] : []),
    ].join('; ');
    process.stdout.write(
      `  ${k.keyId}  ${k.own ? "this gateway's own" : "NOT this gateway's: another replica's? check with `gatehouse audit key` on it"}: ${what}\n`,
    );
  }
  process.stdout.write(`check it anywhere with: ${verify}\n`);
  if (r.keys.some((k) => !k.own))
    process.stdout.write(
      '(drop from --trust-key any key that is not one of your gateways: the bundle then fails where it signed)\n',
    );
}

type VerifyOpts = { trustKey?: string[]; json?: boolean };

function registerIncidentVerify(cmd: Command, ctx: CliContext): void {
  cmd
    .command('verify')
    .description(
      're-check an evidence bundle offline: file digests, the signed manifest, the hash chain of the records, the checkpoints',
    )
    .argument('<bundle>', 'the directory `incident export` wrote')
    .option(
      '--trust-key <keyId...>',
      'only signatures by these key ids count, one for each gateway (replica) whose streams the bundle holds (`gatehouse audit key` on each); default: any valid signature',
    )
    .option('--json', 'print the report as JSON')
    .action((bundle: string, opts: VerifyOpts) => verifyAction(ctx, bundle, opts));
}

async function verifyAction(ctx: CliContext, bundle: string, opts: VerifyOpts): Promise<void> {
  const dir = resolve(bundle);
  // A path that is no readable folder is bad input (2), as for audit verify; a bundle that fails is 1.
  const bad = bundlePathProblem(dir);
  if (bad) return ctx.fail(bad, 2);
  const r = await verifyBundle(dir, opts.trustKey ? new Set(opts.trustKey) : undefined);
  process.exitCode = r.ok ? 0 : 1;
  if (opts.json) return out(r);
  for (const line of problemLines(r.problems)) process.stdout.write(`${line}\n`);
  for (const n of r.notes) process.stdout.write(`note: ${n}\n`);
  process.stdout.write(
    r.ok
      ? `ok: incident ${r.incident}, ${r.records} record(s), signed by key ${r.keyId}${
          opts.trustKey
            ? ''
            : ` (any valid signature counts: whoever re-signs an edited bundle passes this check; pass --trust-key with your gateways' key ids to check who signed it; this bundle names ${r.keys.map((k) => k.keyId).join(', ')})`
        }\n`
      : `the bundle does not verify (${r.problems.length} problem(s))\n`,
  );
}

type NotifyOpts = { smtp?: string; from?: string; attempts: string; by?: string; config: string; json?: boolean };

function registerIncidentNotify(cmd: Command, ctx: CliContext): void {
  cmd
    .command('notify')
    .description(
      'tell the owners of the affected servers (servers[].owner, servers[].contact): signed webhook and email, retried with backoff, each delivery recorded',
    )
    .argument('<id>', 'the incident')
    .option('--smtp <url>', 'smtp://host:port or smtps://user:pass@host:port (default: $GATEHOUSE_SMTP_URL)')
    .option('--from <address>', 'the sender (default: $GATEHOUSE_SMTP_FROM, else gatehouse@<host>)')
    .option('--attempts <n>', 'tries per delivery', '4')
    .option('--by <name>', 'who (recorded)')
    .addOption(ctx.configOption())
    .option('--json', 'print the result as JSON')
    .action((id: string, opts: NotifyOpts) => notifyAction(ctx, id, opts));
}

async function notifyAction(ctx: CliContext, id: string, opts: NotifyOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const attempts = Number(opts.attempts);
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > 10) ctx.fail('`--attempts` is 1 to 10', 2);
  // Retries can take seconds (backoff doubling from 0.5 s): where each delivery stands, on stderr,
  // every attempt and failure a line of its own (a note: none thinned away in a log).
  const shown = opts.json ? undefined : progress();
  const r = await step(ctx, () =>
    withStore(config, (s) =>
      asActor(s, config.gateway.stateDir, actorName(opts.by), (a) =>
        notifyIncident(s, config, a, id, { smtpUrl: opts.smtp, from: opts.from, attempts, onProgress: shown?.note }),
      ),
    ),
  )
    .catch((err: Error) => ctx.fail(err.message))
    .finally(() => shown?.end());
  process.exitCode = r.deliveries.every((d) => d.ok) ? 0 : 1;
  // On stderr, with or without --json (where it is also the answer's `warning`): nobody was told.
  if (r.warning) process.stderr.write(`warning: ${r.warning}\n`);
  if (opts.json) return out(r);
  for (const d of r.deliveries)
    process.stdout.write(
      `${d.ok ? 'sent' : 'FAILED'} ${d.channel} to ${d.to} (${d.server}) after ${d.attempts} attempt(s)${d.error ? `: ${d.error}` : ''}\n`,
    );
}

type StatusOpts = { config: string; json?: boolean };

function registerIncidentStatus(cmd: Command, ctx: CliContext): void {
  cmd
    .command('status')
    .description('one incident: scope, status and every action taken')
    .argument('<id>', 'the incident')
    .addOption(ctx.configOption())
    .option('--json', 'print as JSON')
    .action((id: string, opts: StatusOpts) => statusAction(ctx, id, opts));
}

async function statusAction(ctx: CliContext, id: string, opts: StatusOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const r = await step(ctx, () => withStore(config, (s) => getIncident(s, id)));
  if (opts.json) return out(r);
  process.stdout.write(describe(r));
}

type ListOpts = { status?: string; config: string; json?: boolean };

function registerIncidentList(cmd: Command, ctx: CliContext): void {
  cmd
    .command('list')
    .description('incidents, newest first')
    .option('--status <status>', 'open or closed')
    .addOption(ctx.configOption())
    .option('--json', 'print as JSON')
    .action((opts: ListOpts) => listAction(ctx, opts));
}

async function listAction(ctx: CliContext, opts: ListOpts): Promise<void> {
  if (opts.status !== undefined && opts.status !== 'open' && opts.status !== 'closed')
    ctx.fail('`--status` is open or closed', 2);
  const config = await ctx.load(opts.config);
  const rows = await withStore(config, (s) =>
    s.incidents.list({ status: opts.status as IncidentRecord['status'] | undefined }),
  );
  if (opts.json) return out({ incidents: rows });
  process.stdout.write(
    render(
      'table',
      ['id', 'status', 'scope', 'title', 'opened by', 'opened at', 'closed at'],
      rows.map((r) => [
        r.id,
        r.status,
        `${r.scope.kind}:${r.scope.value}`,
        r.title,
        r.openedBy,
        iso(r.openedAt),
        iso(r.closedAt),
      ]),
      null,
    ),
  );
}

type CloseOpts = { note?: string; lift?: boolean; by?: string; config: string; json?: boolean };

function registerIncidentClose(cmd: Command, ctx: CliContext): void {
  cmd
    .command('close')
    .description('close an incident; the containment stays unless --lift is given')
    .argument('<id>', 'the incident')
    .option('--note <text>', 'what was found and done (recorded)')
    .option('--lift', 'also clear the run-time mode (or restore the principal) the incident set')
    .option('--by <name>', 'who (recorded)')
    .addOption(ctx.configOption())
    .option('--json', 'print the incident as JSON')
    .action((id: string, opts: CloseOpts) => closeAction(ctx, id, opts));
}

async function closeAction(ctx: CliContext, id: string, opts: CloseOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const r = await step(ctx, () =>
    withStore(config, (s) =>
      asActor(s, config.gateway.stateDir, actorName(opts.by), (a) =>
        closeIncident(s, a, id, {
          note: opts.note,
          lift: opts.lift,
          announce: (m) => announce(config.limits?.redis, m),
        }),
      ),
    ),
  );
  if (opts.json) return out(r);
  const lifted = (r.actions.at(-1)?.detail.lifted as string[] | undefined) ?? [];
  process.stdout.write(
    `incident ${id} closed${lifted.length ? `; lifted ${lifted.join(', ')}` : '; the containment stays (lift it with `gatehouse mode clear` or `close --lift`)'}\n`,
  );
}
