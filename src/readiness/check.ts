/**
 * `gatehouse check`: the running configuration (and what the inventory recorded) against the
 * seven-section readiness checklist (DESIGN.md section 1), item by item. Pure: the CLI and the admin
 * API pass in the config, the inventory and what they read of the running system (state.ts). No item
 * is a constant: each is computed from the config or that state, and one whose state cannot be read
 * fails, saying so — a readiness report that passes what it did not look at would be worse than none.
 */
import { isItemName } from '../catalog/names.ts';
import type { ReadinessState } from './state.ts';
import type { Config, ServerConfig, StdioServerConfig } from '../config/schema.ts';
import { sandboxFacts, sandboxReadiness, type SandboxFacts } from '../sandbox/readiness.ts';
import type { InventoryData } from '../inventory/report.ts';
import { configuredClasses } from '../inventory/inventory.ts';
import { effectiveClass, serverQuarantine, toolQuarantine } from '../inventory/review.ts';
import type { ToolClass } from '../model/tool-class.ts';
import type { InventoryTool } from '../storage/types.ts';
import { credentialRefs } from '../credentials/broker.ts';

export type Status = 'pass' | 'warn' | 'fail';

export interface CheckItem {
  id: string;
  section: string;
  title: string;
  status: Status;
  why: string;
  fix: string;
}

const SECTIONS = [
  '1 inventory',
  '2 identity and credentials',
  '3 policy',
  '4 approval',
  '5 audit',
  '6 safe execution',
  '7 rollout',
] as const;

const SECRET_NAME = /(?:token|secret|password|passwd|api[_-]?key|private[_-]?key|credential|auth)/i;
/** A value that is plainly a literal credential rather than a reference to one. */
const STATIC_SECRET_VALUE =
  /^(?:bearer|basic|token)\s+\S{8,}|^(?:ghp_|gho_|github_pat_|xox[abposr]-|sk-|sk_live_|AKIA|glpat-)\S+/i;

function list(items: string[], max = 5): string {
  return items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}

function item(id: string, title: string, status: Status, why: string, fix = ''): CheckItem {
  const section = SECTIONS[Number(id.split('.')[0]) - 1];
  return { id, section, title, status, why, fix };
}

/** Where a server config carries a long-lived secret in clear (headers or environment). */
function staticSecrets(s: ServerConfig, i: number): string[] {
  const out: string[] = [];
  const pairs =
    s.transport === 'stdio'
      ? Object.entries(s.env ?? {}).map(([k, v]) => [`servers[${i}].env.${k}`, k, v])
      : Object.entries(s.headers ?? {}).map(([k, v]) => [`servers[${i}].headers.${k}`, k, v]);
  for (const [where, key, value] of pairs)
    if (value && (SECRET_NAME.test(key) || STATIC_SECRET_VALUE.test(value))) out.push(`${s.name} (${where})`);
  return out;
}

/** A server as the loaded config holds it (defaults filled). */
type Server = Config['servers'][number];

/** What every section reads: the config, the inventory and what was read of the running system. */
interface Facts {
  config: Config;
  inv: InventoryData;
  state: ReadinessState;
  enabled: Server[];
  classes: Map<string, Map<string, ToolClass>>;
  /** Tools, prompts, resources and templates the enabled servers list now. */
  presentItems: InventoryTool[];
  /** Of those, the tools (prompts, resources and templates only read: classes are for tools). */
  present: InventoryTool[];
}

export function readiness(
  config: Config,
  inv: InventoryData,
  host?: SandboxFacts,
  state: ReadinessState = {},
): CheckItem[] {
  const enabled = config.servers.filter((s) => !s.disabled);
  const stdio = enabled.filter((s): s is StdioServerConfig & (typeof enabled)[number] => s.transport === 'stdio');
  // The one look at the host: bubblewrap, and who can read the state directory and a database kept
  // outside it (tests pass their own).
  host ??= sandboxFacts(
    stdio,
    config.gateway.stateDir,
    config.storage.driver === 'sqlite' ? config.storage.sqlitePath : undefined,
  );
  // Prompts, resources and templates are pinned and quarantined like tools, but only read: classes are for tools.
  const presentItems = inv.tools.filter((t) => t.present && enabled.some((s) => s.name === t.server));
  const f: Facts = {
    config,
    inv,
    state,
    enabled,
    classes: configuredClasses(config),
    presentItems,
    present: presentItems.filter((t) => !isItemName(t.tool)),
  };
  const items = [
    ...inventoryItems(f),
    ...identityItems(f),
    ...policyItems(f),
    ...approvalItems(f),
    ...auditItems(f),
    ...executionItems(f, stdio, host),
    ...rolloutItems(f),
  ];
  const order = (id: string) => id.split('.').map(Number);
  return items.sort((a, b) => order(a.id)[0] - order(b.id)[0] || order(a.id)[1] - order(b.id)[1]);
}

/** Each server missing one of owner, repository and location, with what it misses (`files (owner, location)`). */
function undocumentedServers(enabled: ServerConfig[]): string[] {
  return enabled.flatMap((s) => {
    const missing = (['owner', 'repository', 'location'] as const).filter((k) => !s[k]);
    return missing.length ? [`${s.name} (${missing.join(', ')})`] : [];
  });
}

// 1 Inventory

function inventoryItems(f: Facts): CheckItem[] {
  const { config, enabled, inv, present } = f;
  const undocumented = undocumentedServers(enabled);
  const undiscovered = enabled.filter((s) => !inv.servers.some((r) => r.server === s.name)).map((s) => s.name);
  const noScopes = enabled.filter((s) => !s.scopes?.length).map((s) => s.name);
  const noResources = enabled.filter((s) => !s.resources?.length).map((s) => s.name);
  const quarantineNew = config.inventory.newTools === 'quarantine';
  return [
    item(
      '1.1',
      'every server has an owner, a source repository and a location',
      undocumented.length ? 'fail' : 'pass',
      undocumented.length ? `missing for ${list(undocumented)}` : `${enabled.length} server(s) documented`,
      'set `owner`, `repository` and `location` on each server in the config',
    ),
    item(
      '1.2',
      'every server has been discovered and catalogued',
      undiscovered.length ? 'fail' : 'pass',
      undiscovered.length
        ? `never discovered: ${list(undiscovered)}`
        : `${enabled.length} server(s), ${present.length} tool(s) catalogued`,
      'start the gateway, or run `gatehouse inventory --refresh`',
    ),
    classificationItem(f),
    quarantineItem(f),
    item(
      '1.5',
      'the upstream permissions each server needs are written down',
      noScopes.length ? 'warn' : 'pass',
      noScopes.length ? `no \`scopes\` for ${list(noScopes)}` : 'scopes documented',
      'list the OAuth scopes or roles in `servers[].scopes` (an empty list is not enough)',
    ),
    item(
      '1.6',
      'the resources each server may touch are written down',
      noResources.length ? 'warn' : 'pass',
      noResources.length ? `no \`resources\` for ${list(noResources)}` : 'in-bounds resources documented',
      'list repositories, projects, folders or URLs in `servers[].resources`',
    ),
    item(
      '1.7',
      'tool definitions are pinned and new tools wait for review',
      quarantineNew ? 'pass' : 'warn',
      quarantineNew
        ? 'changed definitions and new tools are quarantined until accepted'
        : 'new tools are accepted on first sight (`inventory.newTools: accept`)',
      'set `inventory.newTools: quarantine`',
    ),
  ];
}

function classificationItem({ present, classes }: Facts): CheckItem {
  const title = 'every tool is classified READ / WRITE / DESTRUCTIVE by an operator';
  const fix = 'set `servers[].tools.<tool>.class` in the config, or run `gatehouse inventory classify <tool> <class>`';
  const unreviewed = present
    .filter((t) => !effectiveClass(t, classes.get(t.server)?.get(t.tool)).reviewed)
    .map((t) => `${t.server}/${t.tool}`);
  if (unreviewed.length)
    return item(
      '1.3',
      title,
      'fail',
      `${unreviewed.length} unreviewed (treated as DESTRUCTIVE): ${list(unreviewed)}`,
      fix,
    );
  if (!present.length) return item('1.3', title, 'fail', 'no tools catalogued', fix);
  return item('1.3', title, 'pass', `${present.length} tool(s) classified`, fix);
}

function quarantineItem({ presentItems, inv, enabled }: Facts): CheckItem {
  const quarantined = presentItems.filter((t) => toolQuarantine(t)).map((t) => `${t.server}/${t.tool}`);
  const qServers = inv.servers
    .filter((r) => enabled.some((s) => s.name === r.server) && serverQuarantine(r))
    .map((r) => r.server);
  const waiting = quarantined.length || qServers.length;
  return item(
    '1.4',
    'no tool or server is waiting in quarantine',
    waiting ? 'warn' : 'pass',
    waiting ? `quarantined: ${list([...qServers, ...quarantined])}` : 'nothing quarantined',
    'review with `gatehouse inventory diff`, then `gatehouse inventory accept <tool>`',
  );
}

// 2 Identity and credentials

/** What may authenticate, in words: tokens of the configured issuers, API keys, or both. */
function credentialsOf(id: Config['identity']): string {
  const tokens = (id?.issuers.length ?? 0) > 0;
  const keys = id?.apiKeys === true;
  if (tokens && keys) return 'token of the issuers or API key';
  if (keys) return 'API key';
  return tokens ? 'token of the issuers' : 'caller';
}

function identityItems(f: Facts): CheckItem[] {
  const { config, enabled } = f;
  const id = config.identity;
  const scoped = Boolean(
    id?.requiredScopes.mcp?.length &&
      (['READ', 'WRITE', 'DESTRUCTIVE'] as const).every((c) => id.requiredScopes[c]?.length),
  );
  const secrets = enabled.flatMap((s) => staticSecrets(s, config.servers.indexOf(s)));
  return [
    tokenItem(config),
    item(
      '2.5',
      'tokens need scopes for MCP access and for each tool class',
      scoped ? 'pass' : 'fail',
      scoped
        ? 'scopes are required for every request and per class'
        : `no scopes are required (\`identity.requiredScopes\`): any ${credentialsOf(id)} may call any tool`,
      'set `identity.requiredScopes.mcp`, `.READ`, `.WRITE` and `.DESTRUCTIVE`',
    ),
    item(
      '2.6',
      'the admin API needs an admin role',
      id ? 'pass' : 'warn',
      id
        ? `roles ${id.adminRoles.join(', ')}; agent credentials get 403`
        : 'without identity the admin API answers any loopback caller',
      'configure `identity` (and `identity.adminRoles`)',
    ),
    item(
      '2.2',
      'no long-lived static token in the configuration',
      secrets.length ? 'fail' : 'pass',
      secrets.length ? `static credentials in ${list(secrets)}` : 'no server carries a literal credential',
      'move each credential to a secrets manager and reference it (docs/credentials.md)',
    ),
    brokeredCredentialItem(enabled),
    rotationItem(config, f.state.revocations),
  ];
}

function tokenItem(config: Config): CheckItem {
  const title = 'callers authenticate with scoped OAuth tokens';
  const fix = 'configure `identity.issuers` (an OpenID provider) and `identity.requiredScopes`';
  const id = config.identity;
  if (id && (id.issuers.length || id.introspection)) {
    const sources = id.issuers.map((i) => i.issuer).concat(id.introspection ? ['introspection'] : []);
    return item('2.1', title, 'pass', `access tokens from ${list(sources)}, audience ${id.resource}`, fix);
  }
  if (id) return item('2.1', title, 'warn', 'only API keys are accepted: no OpenID issuer is configured', fix);
  const why =
    config.gateway.allowUnauthenticated === 'loopback'
      ? 'no identity provider is configured: unauthenticated callers are accepted from loopback'
      : 'no identity provider is configured: every caller is refused';
  return item('2.1', title, 'fail', why, fix);
}

function brokeredCredentialItem(enabled: ServerConfig[]): CheckItem {
  const title = 'upstream credentials live in a secrets manager, per environment and per tenant';
  const fix = 'reference secrets per tenant (`{tenant}`) in Vault, AWS Secrets Manager or 1Password';
  const credentialed = enabled.filter((s) => s.credentials);
  const managed = (ref: string) => /^(vault|aws-sm|op):/.test(ref);
  const refsOf = credentialRefs;
  const unmanaged = credentialed.filter((s) => !refsOf(s).every(managed)).map((s) => s.name);
  const shared = credentialed.filter((s) => !refsOf(s).some((r) => r.includes('{tenant}'))).map((s) => s.name);
  if (!credentialed.length)
    return item('2.3', title, 'warn', 'no server has brokered credentials (`servers[].credentials`)', fix);
  if (unmanaged.length)
    return item('2.3', title, 'warn', `not in a secrets manager (local:, env: or exec:): ${list(unmanaged)}`, fix);
  if (shared.length) return item('2.3', title, 'warn', `one credential for every tenant: ${list(shared)}`, fix);
  return item(
    '2.3',
    title,
    'pass',
    `${credentialed.length} server(s) with per-tenant references in a secrets manager`,
    fix,
  );
}

function rotationItem(config: Config, rev: ReadinessState['revocations']): CheckItem {
  const title = 'credentials can be rotated and revoked, with confirmation';
  const storeFix = 'check the store; a gateway that does not confirm is not following revocations (restart it)';
  if (!rev) return item('2.4', title, 'fail', 'the revocation records cannot be read from the store', storeFix);
  if (rev.unconfirmed.length)
    return item(
      '2.4',
      title,
      'fail',
      `revoked but not confirmed by every live gateway: ${list(rev.unconfirmed)}`,
      storeFix,
    );
  const slowRotation = config.secrets.cacheTtlSeconds > 3600;
  return item(
    '2.4',
    title,
    slowRotation ? 'warn' : 'pass',
    `rotation is picked up within ${config.secrets.cacheTtlSeconds} s; ${rev.refs.length} revocation(s) in force, confirmed by all ${rev.liveGateways} live gateway(s)`,
    'lower `secrets.cacheTtlSeconds` (at most an hour)',
  );
}

// 3 Policy

function policyItems({ config, present, classes }: Facts): CheckItem[] {
  const pol = config.policy?.compiled;
  const risky = present.filter((t) => effectiveClass(t, classes.get(t.server)?.get(t.tool)).class !== 'READ').length;
  return [
    item(
      '3.1',
      'a tool allowlist decides who may call what',
      pol ? 'pass' : 'fail',
      pol
        ? `policy revision ${pol.revision}: ${pol.rules.length} rule(s), deny by default`
        : 'no policy is configured: every caller may call every active tool',
      'write a policy (`policy.files`) and test it with `gatehouse policy test`',
    ),
    item(
      '3.2',
      'exact resource allowlists bound what tools may touch',
      pol?.resources.length ? 'pass' : 'fail',
      pol?.resources.length
        ? `${pol.resources.length} resource extraction rule(s); paths, URLs and ids canonicalised and checked`
        : 'no resource rules: arguments are not checked against allowed repositories, folders or URLs',
      'add `resources:` extraction rules and resource patterns to the policy',
    ),
    item(
      '3.3',
      'WRITE and DESTRUCTIVE calls need approval',
      pol ? 'pass' : 'fail',
      pol
        ? 'the policy sends WRITE and DESTRUCTIVE calls for approval unless a rule allows their class or names the tool'
        : `no policy: ${risky} WRITE or DESTRUCTIVE tool(s) run without approval`,
      'write a policy (`policy.files`); approvers per rule or `defaults.approvers`',
    ),
    limitsItem(config),
  ];
}

function limitsItem(config: Config): CheckItem {
  const title = 'rate limits and concurrency caps per user and per tool';
  const fix = 'add `limits.rules` (rate and concurrency; `limits.redis` for several replicas)';
  const lim = config.limits?.rules ?? [];
  if (!lim.length) return item('3.4', title, 'fail', 'no rate limit or concurrency cap is configured', fix);
  const rate = lim.some((r) => r.rate);
  const concurrency = lim.some((r) => r.concurrency);
  return item(
    '3.4',
    title,
    rate && concurrency ? 'pass' : 'warn',
    `${lim.length} rule(s)${config.limits?.redis ? ', shared through Redis' : ', in memory (one process)'}${concurrency ? '' : '; no concurrency cap'}${rate ? '' : '; no rate limit'}`,
    fix,
  );
}

// 4 Approval

function approvalItems({ config, state }: Facts): CheckItem[] {
  return [
    approvalRecordItem(config, state.approvals),
    item(
      '4.2',
      'approvers are notified',
      config.approvals.webhook ? 'pass' : 'warn',
      config.approvals.webhook
        ? 'a signed webhook (Slack-compatible) links to each request'
        : 'no webhook: approvers must watch the page or `gatehouse approvals list`',
      'set `approvals.webhook`',
    ),
  ];
}

function approvalRecordItem(config: Config, appr: ReadinessState['approvals']): CheckItem {
  const title = 'approvers see the action, tool, target and diff; who approved and when is recorded';
  if (!appr)
    return item(
      '4.1',
      title,
      'fail',
      'the approval records cannot be read from the store',
      'check the store (approvals)',
    );
  if (appr.unrecorded)
    return item(
      '4.1',
      title,
      'fail',
      `${appr.unrecorded} decided approval(s) without an approver and time on record`,
      'check the store (approvals)',
    );
  const pageBase = config.approvals.baseUrl ?? config.gateway.publicUrl;
  return item(
    '4.1',
    title,
    pageBase || !exposedHost(config) ? 'pass' : 'warn',
    `${appr.decided} decision(s) on record, each with approver and time; approval pages at ${pageBase ?? 'the listen address'}`,
    'set `approvals.baseUrl` (or `gateway.publicUrl`) so links in notifications reach the page',
  );
}

// 5 Audit

const DURABILITY = {
  'process-crash':
    'each acknowledged record survives a crash of the gateway process, not a power cut (`audit.durability: process-crash`)',
  'power-loss': 'each acknowledged record is on disk and survives a power cut (`audit.durability: power-loss`)',
} as const;

function auditItems({ config, state }: Facts): CheckItem[] {
  const a = config.audit;
  const siem = a.exports.filter((e) => e.type !== 'file').map((e) => e.name);
  return [
    auditTrailItem(config, state.audit),
    item(
      '5.2',
      'secrets and PII are redacted from what is recorded',
      a.arguments === 'redacted' && !a.redact.fields.length && !a.redact.paths.length ? 'warn' : 'pass',
      `arguments: ${a.arguments}, results: ${a.results}; ${a.redact.fields.length + a.redact.paths.length ? `${a.redact.fields.length} PII field(s), ${a.redact.paths.length} path(s) configured` : 'built-in secret detection only, no PII fields or paths configured'}`,
      'list your PII in `audit.redact.fields` / `audit.redact.paths`, or keep only shapes (`audit.arguments: shape`)',
    ),
    item(
      '5.3',
      'retention is configured',
      a.retentionDays ? 'pass' : 'warn',
      a.retentionDays ? `${a.retentionDays} days, pruned with checkpoints` : 'records are kept forever',
      'set `audit.retentionDays`',
    ),
    siemItem(siem, a.exports.length),
  ];
}

function auditTrailItem(config: Config, au: ReadinessState['audit']): CheckItem {
  const title = 'one structured audit event per call';
  if (!au) return item('5.1', title, 'fail', 'the audit trail cannot be read from the store', 'check the store');
  if (au.unclosed)
    return item(
      '5.1',
      title,
      'warn',
      `${au.unclosed} call(s) recorded as started more than five minutes ago have no outcome yet (still running, or their gateway died: a running gateway records a dead one's calls as unknown within about 15 s)`,
      'start a gateway on this store if none runs, then `gatehouse audit verify`',
    );
  const a = config.audit;
  const failOpen = a.readWhenUnavailable === 'allow';
  return item(
    '5.1',
    title,
    failOpen ? 'warn' : 'pass',
    `${au.records} record(s): a write-ahead intent and an outcome (or a refusal) per request, hash-chained, ${DURABILITY[a.durability ?? 'process-crash']}${failOpen ? '; READ calls go on without a record when the trail cannot be written (`audit.readWhenUnavailable: allow`)' : '; requests are refused when it cannot be written'}`,
    'set `audit.readWhenUnavailable: refuse`',
  );
}

function siemItem(siem: string[], exports: number): CheckItem {
  const title = 'audit events are exported to a SIEM';
  const fix = 'add an `audit.exports` entry (splunk-hec, elastic-bulk, otlp, or syslog)';
  if (siem.length) return item('5.4', title, 'pass', `exported to ${list(siem)}`, fix);
  if (exports) return item('5.4', title, 'warn', 'only to local files', fix);
  return item('5.4', title, 'fail', 'no audit export is configured', fix);
}

// 6 Safe execution

function executionItems(f: Facts, stdio: Array<StdioServerConfig & Server>, host: SandboxFacts): CheckItem[] {
  const { config, enabled } = f;
  const g = config.gateway;
  const loose = g.maxBodyBytes > 16 * 1024 * 1024 || g.maxJsonDepth > 128;
  const inheriting = enabled
    .filter((s) => s.transport === 'stdio' && (s.inheritEnv ?? []).some((v) => SECRET_NAME.test(v)))
    .map((s) => s.name);
  const sb = sandboxReadiness(stdio, config.gateway.stateDir, host);
  return [
    item(
      '6.1',
      'request size and nesting are bounded',
      loose ? 'warn' : 'pass',
      `bodies up to ${g.maxBodyBytes} bytes, JSON nesting up to ${g.maxJsonDepth}`,
      'keep `gateway.maxBodyBytes` at most 16 MiB and `gateway.maxJsonDepth` at most 128',
    ),
    schemaItem(f.state.uncheckable ?? [], f.present.length),
    item(
      '6.3',
      'stdio servers start with a minimal environment',
      inheriting.length ? 'warn' : 'pass',
      inheriting.length
        ? `secret-looking variables inherited by ${list(inheriting)}`
        : 'only the listed variables are inherited',
      'trim `servers[].inheritEnv`',
    ),
    item('6.4', 'tools run sandboxed with restricted egress', sb.status, sb.why, sb.fix),
    modeItem(
      f,
      '6.5',
      'a read-only mode exists',
      'read_only',
      '`gatehouse mode set read_only --gateway|--tenant|--server|--tool`, or `modes` in the policy',
    ),
    listenerItem(config),
  ];
}

function schemaItem(uncheckable: string[], present: number): CheckItem {
  const title = "arguments are validated against each tool's input schema";
  const refreshFix = 'start the gateway, or run `gatehouse inventory --refresh`';
  if (uncheckable.length)
    return item(
      '6.2',
      title,
      'warn',
      `input schemas that cannot be enforced (every call to these tools is refused): ${list(uncheckable)}`,
      "ask the server's owner to fix the schema",
    );
  if (!present) return item('6.2', title, 'warn', 'no tools catalogued yet', refreshFix);
  return item(
    '6.2',
    title,
    'pass',
    `${present} tool schema(s) compile (JSON Schema 2020-12 per pinned definition), plus depth, length, size and prototype-key bounds`,
    refreshFix,
  );
}

/** Where mode `mode` is in force now: set at run time (the store), or by the policy. */
function inForce({ config, state }: Facts, mode: string): string[] {
  const pol = config.policy?.compiled;
  return [
    ...(state.modes ?? []).filter((r) => r.mode === mode).map((r) => r.scope),
    ...Object.entries({ ...(pol?.modes.tenants ?? {}), ...(pol?.modes.servers ?? {}), ...(pol?.modes.tools ?? {}) })
      .filter(([, v]) => v === mode)
      .map(([k]) => `${k} (policy)`),
    ...(pol?.modes.gateway === mode ? ['gateway (policy)'] : []),
  ];
}

/** The item of a mode: it passes only when the run-time modes can be read (else a switch would not be followed). */
function modeItem(f: Facts, id: string, title: string, mode: string, how: string): CheckItem {
  if (!f.state.modes)
    return item(
      id,
      title,
      'fail',
      'the run-time modes cannot be read from the store, so a switch would not be followed',
      'check the store',
    );
  const now = inForce(f, mode);
  return item(id, title, 'pass', `${how}; in force now: ${now.length ? list(now) : 'none'}`, 'check the store');
}

function listenerItem(config: Config): CheckItem {
  const title = 'the listener is not exposed without authentication';
  const fix = 'configure an identity provider before exposing the gateway';
  const id = config.identity;
  const host = config.gateway.listen.host;
  // Behind a reverse proxy every caller arrives from the proxy: without identity that is exposure.
  const proxies = id ? [] : (config.gateway.trustedProxies ?? []);
  if (proxies.length)
    return item(
      '6.6',
      title,
      'fail',
      `no identity provider, but requests forwarded by ${proxies.join(', ')} are served: the callers behind the proxy are not authenticated`,
      fix,
    );
  if (!exposedHost(config)) return item('6.6', title, 'pass', 'listening on loopback only', fix);
  if (id) return item('6.6', title, 'pass', `listening on ${host}; every caller authenticates`, fix);
  return item(
    '6.6',
    title,
    config.gateway.allowUnauthenticated === 'loopback' ? 'warn' : 'pass',
    `listening on ${host}; unauthenticated callers are refused unless they come from loopback`,
    fix,
  );
}

// 7 Rollout

function rolloutItems(f: Facts): CheckItem[] {
  // Notifying needs an owner; repository and location are item 1.1's.
  const ownerless = f.enabled.filter((s) => !s.owner).map((s) => s.name);
  return [
    modeItem(
      f,
      '7.1',
      'shadow mode: proposed writes are recorded, nothing executes',
      'shadow',
      '`gatehouse mode set shadow ...`, or `modes` in the policy; the caller is told nothing ran',
    ),
    modeItem(
      f,
      '7.2',
      'a server or tool can be switched off at once',
      'disabled',
      '`gatehouse mode set disabled --tool|--server ...` applies on every gateway within a second, audited',
    ),
    revocationItem(f.enabled, f.state.revocations),
    exportLagItem(f.state.audit),
    item(
      '7.5',
      'owners can be notified',
      ownerless.length ? 'fail' : 'pass',
      ownerless.length ? `no owner recorded for ${list(ownerless)}` : 'every server has an owner on record',
      'set `servers[].owner`',
    ),
  ];
}

function revocationItem(enabled: ServerConfig[], rev: ReadinessState['revocations']): CheckItem {
  const title = 'credentials can be revoked during an incident';
  if (!rev)
    return item('7.3', title, 'fail', 'the revocation records cannot be read from the store', 'check the store');
  const fix = 'reference upstream secrets with `servers[].credentials`';
  const brokeredServers = enabled
    .filter((s) => s.credentials || (s.transport !== 'stdio' && s.oauth))
    .map((s) => s.name);
  if (brokeredServers.length)
    return item(
      '7.3',
      title,
      'pass',
      `\`gatehouse credentials revoke <ref>\` stops every connection holding it: ${list(brokeredServers)} use brokered credentials; ${rev.liveGateways} live gateway(s) follow revocations`,
      fix,
    );
  return item(
    '7.3',
    title,
    'warn',
    'no server uses brokered credentials: there is nothing Gatehouse can revoke (secrets would have to be revoked at each server)',
    fix,
  );
}

function exportLagItem(au: ReadinessState['audit']): CheckItem {
  const title = 'logs can be exported for an incident';
  if (!au) return item('7.4', title, 'fail', 'the audit trail cannot be read from the store', 'check the store');
  const fix = 'check the export destinations (`gatehouse audit export` meanwhile)';
  const lagging = Object.entries(au.exportLag)
    .filter(([, n]) => n >= 1000)
    .map(([name, n]) => `${name} (${n >= 10_000 ? '10000+' : n} records behind)`);
  if (lagging.length) return item('7.4', title, 'warn', `exports behind: ${list(lagging)}`, fix);
  return item(
    '7.4',
    title,
    'pass',
    `${au.records} record(s) readable for \`gatehouse audit export\` and \`gatehouse audit run\`; ${Object.keys(au.exportLag).length} export(s) up to date`,
    fix,
  );
}

export function summary(items: CheckItem[]): Record<Status, number> {
  const out: Record<Status, number> = { pass: 0, warn: 0, fail: 0 };
  for (const i of items) out[i.status]++;
  return out;
}

function exposedHost(config: Config): boolean {
  return !['127.0.0.1', '::1', 'localhost'].includes(config.gateway.listen.host);
}
