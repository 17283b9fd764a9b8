/**
 * `gatehouse check`: the running configuration (and what the inventory recorded) against the
 * seven-section readiness checklist (DESIGN.md section 1), item by item. Pure: the CLI and the admin
 * API pass in the config, the inventory and what they read of the running system (state.ts). No item
 * is a constant: each is computed from the config or that state, and one whose state cannot be read
 * fails, saying so — a readiness report that passes what it did not look at would be worse than none.
 */
import { isItemName } from '../inventory/canonical.ts';
import type { ReadinessState } from './state.ts';
import type { Config, ServerConfig, StdioServerConfig } from '../config/schema.ts';
import { sandboxFacts, sandboxReadiness, type SandboxFacts } from '../sandbox/sandbox.ts';
import type { InventoryData } from '../inventory/report.ts';
import { configuredClasses } from '../inventory/inventory.ts';
import { effectiveClass, serverQuarantine, toolQuarantine } from '../inventory/review.ts';

export type Status = 'pass' | 'warn' | 'fail';

export interface CheckItem {
  id: string;
  section: string;
  title: string;
  status: Status;
  why: string;
  fix: string;
}

export const SECTIONS = [
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

const NOT_YET = (what: string) => `Gatehouse does not ${what} yet`;

export function readiness(
  config: Config,
  inv: InventoryData,
  host?: SandboxFacts,
  state: ReadinessState = {},
): CheckItem[] {
  const enabled = config.servers.filter((s) => !s.disabled);
  const stdio = enabled.filter((s): s is StdioServerConfig & (typeof enabled)[number] => s.transport === 'stdio');
  // The one look at the host: bubblewrap, and who can read the state directory (tests pass their own).
  host ??= sandboxFacts(stdio, config.gateway.stateDir);
  const items: CheckItem[] = [];
  const classes = configuredClasses(config);
  // Prompts, resources and templates are pinned and quarantined like tools, but only read: classes are for tools.
  const presentItems = inv.tools.filter((t) => t.present && enabled.some((s) => s.name === t.server));
  const present = presentItems.filter((t) => !isItemName(t.tool));

  // 1 Inventory
  const undocumented = enabled.filter((s) => !s.owner || !s.repository || !s.location).map((s) => s.name);
  items.push(
    item(
      '1.1',
      'every server has an owner, a source repository and a location',
      undocumented.length ? 'fail' : 'pass',
      undocumented.length ? `missing for ${list(undocumented)}` : `${enabled.length} server(s) documented`,
      'set `owner`, `repository` and `location` on each server in the config',
    ),
  );
  const undiscovered = enabled.filter((s) => !inv.servers.some((r) => r.server === s.name)).map((s) => s.name);
  items.push(
    item(
      '1.2',
      'every server has been discovered and catalogued',
      undiscovered.length ? 'fail' : 'pass',
      undiscovered.length
        ? `never discovered: ${list(undiscovered)}`
        : `${enabled.length} server(s), ${present.length} tool(s) catalogued`,
      'start the gateway, or run `gatehouse inventory --refresh`',
    ),
  );
  const unreviewed = present
    .filter((t) => !effectiveClass(t, classes.get(t.server)?.get(t.tool)).reviewed)
    .map((t) => `${t.server}/${t.tool}`);
  items.push(
    item(
      '1.3',
      'every tool is classified READ / WRITE / DESTRUCTIVE by an operator',
      unreviewed.length ? 'fail' : present.length ? 'pass' : 'fail',
      unreviewed.length
        ? `${unreviewed.length} unreviewed (treated as DESTRUCTIVE): ${list(unreviewed)}`
        : present.length
          ? `${present.length} tool(s) classified`
          : 'no tools catalogued',
      'set `servers[].tools.<tool>.class` in the config, or run `gatehouse inventory classify <tool> <class>`',
    ),
  );
  const quarantined = presentItems.filter((t) => toolQuarantine(t)).map((t) => `${t.server}/${t.tool}`);
  const qServers = inv.servers
    .filter((r) => enabled.some((s) => s.name === r.server) && serverQuarantine(r))
    .map((r) => r.server);
  items.push(
    item(
      '1.4',
      'no tool or server is waiting in quarantine',
      quarantined.length || qServers.length ? 'warn' : 'pass',
      quarantined.length || qServers.length
        ? `quarantined: ${list([...qServers, ...quarantined])}`
        : 'nothing quarantined',
      'review with `gatehouse inventory diff`, then `gatehouse inventory accept <tool>`',
    ),
  );
  const noScopes = enabled.filter((s) => !s.scopes?.length).map((s) => s.name);
  items.push(
    item(
      '1.5',
      'the upstream permissions each server needs are written down',
      noScopes.length ? 'warn' : 'pass',
      noScopes.length ? `no \`scopes\` for ${list(noScopes)}` : 'scopes documented',
      'list the OAuth scopes or roles in `servers[].scopes` (an empty list is not enough)',
    ),
  );
  const noResources = enabled.filter((s) => !s.resources?.length).map((s) => s.name);
  items.push(
    item(
      '1.6',
      'the resources each server may touch are written down',
      noResources.length ? 'warn' : 'pass',
      noResources.length ? `no \`resources\` for ${list(noResources)}` : 'in-bounds resources documented',
      'list repositories, projects, folders or URLs in `servers[].resources`',
    ),
  );
  items.push(
    item(
      '1.7',
      'tool definitions are pinned and new tools wait for review',
      config.inventory.newTools === 'quarantine' ? 'pass' : 'warn',
      config.inventory.newTools === 'quarantine'
        ? 'changed definitions and new tools are quarantined until accepted'
        : 'new tools are accepted on first sight (`inventory.newTools: accept`)',
      'set `inventory.newTools: quarantine`',
    ),
  );

  // 2 Identity and credentials
  const id = config.identity;
  const oauth = Boolean(id && (id.issuers.length || id.introspection));
  items.push(
    item(
      '2.1',
      'callers authenticate with scoped OAuth tokens',
      oauth ? 'pass' : id ? 'warn' : 'fail',
      oauth
        ? `access tokens from ${list(id!.issuers.map((i) => i.issuer).concat(id!.introspection ? ['introspection'] : []))}, audience ${id!.resource}`
        : id
          ? 'only API keys are accepted: no OpenID issuer is configured'
          : config.gateway.allowUnauthenticated === 'loopback'
            ? 'no identity provider is configured: unauthenticated callers are accepted from loopback'
            : 'no identity provider is configured: every caller is refused',
      'configure `identity.issuers` (an OpenID provider) and `identity.requiredScopes`',
    ),
  );
  const scoped = Boolean(
    id?.requiredScopes.mcp?.length &&
      (['READ', 'WRITE', 'DESTRUCTIVE'] as const).every((c) => id.requiredScopes[c]?.length),
  );
  items.push(
    item(
      '2.5',
      'tokens need scopes for MCP access and for each tool class',
      scoped ? 'pass' : 'fail',
      scoped
        ? 'scopes are required for every request and per class'
        : 'no scopes are required (`identity.requiredScopes`): any token of the issuer may call any tool',
      'set `identity.requiredScopes.mcp`, `.READ`, `.WRITE` and `.DESTRUCTIVE`',
    ),
  );
  items.push(
    item(
      '2.6',
      'the admin API needs an admin role',
      id ? 'pass' : 'warn',
      id
        ? `roles ${id.adminRoles.join(', ')}; agent credentials get 403`
        : 'without identity the admin API answers any loopback caller',
      'configure `identity` (and `identity.adminRoles`)',
    ),
  );
  const secrets = enabled.flatMap((s) => staticSecrets(s, config.servers.indexOf(s)));
  items.push(
    item(
      '2.2',
      'no long-lived static token in the configuration',
      secrets.length ? 'fail' : 'pass',
      secrets.length ? `static credentials in ${list(secrets)}` : 'no server carries a literal credential',
      'move each credential to a secrets manager and reference it (credential references: issue 5)',
    ),
  );
  const credentialed = enabled.filter((s) => s.credentials);
  const managed = (ref: string) => /^(vault|aws-sm|op):/.test(ref);
  const refsOf = (s: ServerConfig) => [
    ...Object.values(s.credentials?.env ?? {}),
    ...Object.values(s.credentials?.headers ?? {}).map((h) => (typeof h === 'string' ? h : h.ref)),
  ];
  const unmanaged = credentialed.filter((s) => !refsOf(s).every(managed)).map((s) => s.name);
  const shared = credentialed.filter((s) => !refsOf(s).some((r) => r.includes('{tenant}'))).map((s) => s.name);
  items.push(
    item(
      '2.3',
      'upstream credentials live in a secrets manager, per environment and per tenant',
      !credentialed.length ? 'warn' : unmanaged.length ? 'warn' : shared.length ? 'warn' : 'pass',
      !credentialed.length
        ? 'no server has brokered credentials (`servers[].credentials`)'
        : unmanaged.length
          ? `not in a secrets manager (local:, env: or exec:): ${list(unmanaged)}`
          : shared.length
            ? `one credential for every tenant: ${list(shared)}`
            : `${credentialed.length} server(s) with per-tenant references in a secrets manager`,
      'reference secrets per tenant (`{tenant}`) in Vault, AWS Secrets Manager or 1Password',
    ),
  );
  const rev = state.revocations;
  const slowRotation = config.secrets.cacheTtlSeconds > 3600;
  items.push(
    item(
      '2.4',
      'credentials can be rotated and revoked, with confirmation',
      !rev ? 'fail' : rev.unconfirmed.length ? 'fail' : slowRotation ? 'warn' : 'pass',
      !rev
        ? 'the revocation records cannot be read from the store'
        : rev.unconfirmed.length
          ? `revoked but not confirmed by every live gateway: ${list(rev.unconfirmed)}`
          : `rotation is picked up within ${config.secrets.cacheTtlSeconds} s; ${rev.refs.length} revocation(s) in force, confirmed by all ${rev.liveGateways} live gateway(s)`,
      !rev || rev.unconfirmed.length
        ? 'check the store; a gateway that does not confirm is not following revocations (restart it)'
        : 'lower `secrets.cacheTtlSeconds` (at most an hour)',
    ),
  );

  // 3 Policy
  const pol = config.policy?.compiled;
  const risky = present.filter((t) => effectiveClass(t, classes.get(t.server)?.get(t.tool)).class !== 'READ').length;
  items.push(
    item(
      '3.1',
      'a tool allowlist decides who may call what',
      pol ? 'pass' : 'fail',
      pol
        ? `policy revision ${pol.revision}: ${pol.rules.length} rule(s), deny by default`
        : 'no policy is configured: every caller may call every active tool',
      'write a policy (`policy.files`) and test it with `gatehouse policy test`',
    ),
  );
  items.push(
    item(
      '3.2',
      'exact resource allowlists bound what tools may touch',
      pol?.resources.length ? 'pass' : 'fail',
      pol?.resources.length
        ? `${pol.resources.length} resource extraction rule(s); paths, URLs and ids canonicalised and checked`
        : 'no resource rules: arguments are not checked against allowed repositories, folders or URLs',
      'add `resources:` extraction rules and resource patterns to the policy',
    ),
  );
  items.push(
    item(
      '3.3',
      'WRITE and DESTRUCTIVE calls need approval',
      pol ? 'pass' : 'fail',
      pol
        ? 'the policy sends WRITE and DESTRUCTIVE calls for approval unless a rule allows their class or names the tool'
        : `no policy: ${risky} WRITE or DESTRUCTIVE tool(s) run without approval`,
      'write a policy (`policy.files`); approvers per rule or `defaults.approvers`',
    ),
  );
  const lim = config.limits?.rules ?? [];
  items.push(
    item(
      '3.4',
      'rate limits and concurrency caps per user and per tool',
      lim.some((r) => r.rate) && lim.some((r) => r.concurrency) ? 'pass' : lim.length ? 'warn' : 'fail',
      lim.length
        ? `${lim.length} rule(s)${config.limits?.redis ? ', shared through Redis' : ', in memory (one process)'}${lim.some((r) => r.concurrency) ? '' : '; no concurrency cap'}${lim.some((r) => r.rate) ? '' : '; no rate limit'}`
        : 'no rate limit or concurrency cap is configured',
      'add `limits.rules` (rate and concurrency; `limits.redis` for several replicas)',
    ),
  );

  // 4 Approval
  const appr = state.approvals;
  const pageBase = config.approvals.baseUrl ?? config.gateway.publicUrl;
  items.push(
    item(
      '4.1',
      'approvers see the action, tool, target and diff; who approved and when is recorded',
      !appr || appr.unrecorded ? 'fail' : pageBase || !exposedHost(config) ? 'pass' : 'warn',
      !appr
        ? 'the approval records cannot be read from the store'
        : appr.unrecorded
          ? `${appr.unrecorded} decided approval(s) without an approver and time on record`
          : `${appr.decided} decision(s) on record, each with approver and time; approval pages at ${pageBase ?? 'the listen address'}`,
      !appr || appr.unrecorded
        ? 'check the store (approvals)'
        : 'set `approvals.baseUrl` (or `gateway.publicUrl`) so links in notifications reach the page',
    ),
  );
  items.push(
    item(
      '4.2',
      'approvers are notified',
      config.approvals.webhook ? 'pass' : 'warn',
      config.approvals.webhook
        ? 'a signed webhook (Slack-compatible) links to each request'
        : 'no webhook: approvers must watch the page or `gatehouse approvals list`',
      'set `approvals.webhook`',
    ),
  );

  // 5 Audit
  const DURABILITY = {
    'process-crash':
      'each acknowledged record survives a crash of the gateway process, not a power cut (`audit.durability: process-crash`)',
    'power-loss': 'each acknowledged record is on disk and survives a power cut (`audit.durability: power-loss`)',
  } as const;
  const a = config.audit;
  const au = state.audit;
  const failOpen = a.readWhenUnavailable === 'allow';
  items.push(
    item(
      '5.1',
      'one structured audit event per call',
      !au ? 'fail' : au.unclosed ? 'warn' : failOpen ? 'warn' : 'pass',
      !au
        ? 'the audit trail cannot be read from the store'
        : au.unclosed
          ? `${au.unclosed} call(s) recorded as started more than five minutes ago have no outcome yet (a gateway died; the next start records them as unknown)`
          : `${au.records} record(s): a write-ahead intent and an outcome (or a refusal) per request, hash-chained, ${DURABILITY[a.durability ?? 'process-crash']}${failOpen ? '; READ calls go on without a record when the trail cannot be written (`audit.readWhenUnavailable: allow`)' : '; requests are refused when it cannot be written'}`,
      !au
        ? 'check the store'
        : au.unclosed
          ? 'restart the gateway that died, then `gatehouse audit verify`'
          : 'set `audit.readWhenUnavailable: refuse`',
    ),
  );
  items.push(
    item(
      '5.2',
      'secrets and PII are redacted from what is recorded',
      a.arguments === 'redacted' && !a.redact.fields.length && !a.redact.paths.length ? 'warn' : 'pass',
      `arguments: ${a.arguments}, results: ${a.results}; ${a.redact.fields.length + a.redact.paths.length ? `${a.redact.fields.length} PII field(s), ${a.redact.paths.length} path(s) configured` : 'built-in secret detection only, no PII fields or paths configured'}`,
      'list your PII in `audit.redact.fields` / `audit.redact.paths`, or keep only shapes (`audit.arguments: shape`)',
    ),
  );
  items.push(
    item(
      '5.3',
      'retention is configured',
      a.retentionDays ? 'pass' : 'warn',
      a.retentionDays ? `${a.retentionDays} days, pruned with checkpoints` : 'records are kept forever',
      'set `audit.retentionDays`',
    ),
  );
  const siem = a.exports.filter((e) => e.type !== 'file').map((e) => e.name);
  items.push(
    item(
      '5.4',
      'audit events are exported to a SIEM',
      siem.length ? 'pass' : a.exports.length ? 'warn' : 'fail',
      siem.length
        ? `exported to ${list(siem)}`
        : a.exports.length
          ? 'only to local files'
          : 'no audit export is configured',
      'add an `audit.exports` entry (splunk-hec, elastic-bulk, otlp, or syslog)',
    ),
  );

  // 6 Safe execution
  const g = config.gateway;
  const loose = g.maxBodyBytes > 16 * 1024 * 1024 || g.maxJsonDepth > 128;
  items.push(
    item(
      '6.1',
      'request size and nesting are bounded',
      loose ? 'warn' : 'pass',
      `bodies up to ${g.maxBodyBytes} bytes, JSON nesting up to ${g.maxJsonDepth}`,
      'keep `gateway.maxBodyBytes` at most 16 MiB and `gateway.maxJsonDepth` at most 128',
    ),
  );
  const uncheckable = state.uncheckable ?? [];
  items.push(
    item(
      '6.2',
      "arguments are validated against each tool's input schema",
      uncheckable.length ? 'warn' : present.length ? 'pass' : 'warn',
      uncheckable.length
        ? `input schemas that cannot be enforced (every call to these tools is refused): ${list(uncheckable)}`
        : present.length
          ? `${present.length} tool schema(s) compile (JSON Schema 2020-12 per pinned definition), plus depth, length, size and prototype-key bounds`
          : 'no tools catalogued yet',
      uncheckable.length
        ? "ask the server's owner to fix the schema"
        : 'start the gateway, or run `gatehouse inventory --refresh`',
    ),
  );
  const inheriting = enabled
    .filter((s) => s.transport === 'stdio' && (s.inheritEnv ?? []).some((v) => SECRET_NAME.test(v)))
    .map((s) => s.name);
  items.push(
    item(
      '6.3',
      'stdio servers start with a minimal environment',
      inheriting.length ? 'warn' : 'pass',
      inheriting.length
        ? `secret-looking variables inherited by ${list(inheriting)}`
        : 'only the listed variables are inherited',
      'trim `servers[].inheritEnv`',
    ),
  );
  const sb = sandboxReadiness(stdio, config.gateway.stateDir, host);
  items.push(item('6.4', 'tools run sandboxed with restricted egress', sb.status, sb.why, sb.fix));
  const modes = state.modes;
  const inForce = (m: string) => [
    ...(modes ?? []).filter((r) => r.mode === m).map((r) => r.scope),
    ...Object.entries({ ...(pol?.modes.tenants ?? {}), ...(pol?.modes.servers ?? {}), ...(pol?.modes.tools ?? {}) })
      .filter(([, v]) => v === m)
      .map(([k]) => `${k} (policy)`),
    ...(pol?.modes.gateway === m ? ['gateway (policy)'] : []),
  ];
  const modeItem = (id: string, title: string, mode: string, how: string) =>
    items.push(
      item(
        id,
        title,
        modes ? 'pass' : 'fail',
        modes
          ? `${how}; in force now: ${inForce(mode).length ? list(inForce(mode)) : 'none'}`
          : 'the run-time modes cannot be read from the store, so a switch would not be followed',
        'check the store',
      ),
    );
  modeItem(
    '6.5',
    'a read-only mode exists',
    'read_only',
    '`gatehouse mode set read_only --gateway|--tenant|--server|--tool`, or `modes` in the policy',
  );
  const exposed = !['127.0.0.1', '::1', 'localhost'].includes(config.gateway.listen.host);
  // Behind a reverse proxy every caller arrives from the proxy: without identity that is exposure.
  const proxies = id ? [] : (config.gateway.trustedProxies ?? []);
  items.push(
    item(
      '6.6',
      'the listener is not exposed without authentication',
      proxies.length ? 'fail' : exposed && !id && config.gateway.allowUnauthenticated === 'loopback' ? 'warn' : 'pass',
      proxies.length
        ? `no identity provider, but requests forwarded by ${proxies.join(', ')} are served: the callers behind the proxy are not authenticated`
        : exposed
          ? id
            ? `listening on ${config.gateway.listen.host}; every caller authenticates`
            : `listening on ${config.gateway.listen.host}; unauthenticated callers are refused unless they come from loopback`
          : 'listening on loopback only',
      'configure an identity provider before exposing the gateway',
    ),
  );

  // 7 Rollout
  modeItem(
    '7.1',
    'shadow mode: proposed writes are recorded, nothing executes',
    'shadow',
    '`gatehouse mode set shadow ...`, or `modes` in the policy; the caller is told nothing ran',
  );
  modeItem(
    '7.2',
    'a server or tool can be switched off at once',
    'disabled',
    '`gatehouse mode set disabled --tool|--server ...` applies on every gateway within a second, audited',
  );
  const brokeredServers = enabled
    .filter((s) => s.credentials || (s.transport !== 'stdio' && s.oauth))
    .map((s) => s.name);
  items.push(
    item(
      '7.3',
      'credentials can be revoked during an incident',
      !rev ? 'fail' : brokeredServers.length ? 'pass' : 'warn',
      !rev
        ? 'the revocation records cannot be read from the store'
        : brokeredServers.length
          ? `\`gatehouse credentials revoke <ref>\` stops every connection holding it: ${list(brokeredServers)} use brokered credentials; ${rev.liveGateways} live gateway(s) follow revocations`
          : 'no server uses brokered credentials: there is nothing Gatehouse can revoke (secrets would have to be revoked at each server)',
      !rev ? 'check the store' : 'reference upstream secrets with `servers[].credentials`',
    ),
  );
  const lagging = Object.entries(au?.exportLag ?? {})
    .filter(([, n]) => n >= 1000)
    .map(([name, n]) => `${name} (${n >= 10_000 ? '10000+' : n} records behind)`);
  items.push(
    item(
      '7.4',
      'logs can be exported for an incident',
      !au ? 'fail' : lagging.length ? 'warn' : 'pass',
      !au
        ? 'the audit trail cannot be read from the store'
        : lagging.length
          ? `exports behind: ${list(lagging)}`
          : `${au.records} record(s) readable for \`gatehouse audit export\` and \`gatehouse audit run\`; ${Object.keys(au.exportLag).length} export(s) up to date`,
      !au ? 'check the store' : 'check the export destinations (`gatehouse audit export` meanwhile)',
    ),
  );
  items.push(
    item(
      '7.5',
      'owners can be notified',
      undocumented.length ? 'fail' : 'pass',
      undocumented.length ? `no owner recorded for ${list(undocumented)}` : 'every server has an owner on record',
      'set `servers[].owner`',
    ),
  );
  const order = (id: string) => id.split('.').map(Number);
  return items.sort((a, b) => order(a.id)[0] - order(b.id)[0] || order(a.id)[1] - order(b.id)[1]);
}

export function summary(items: CheckItem[]): Record<Status, number> {
  const out: Record<Status, number> = { pass: 0, warn: 0, fail: 0 };
  for (const i of items) out[i.status]++;
  return out;
}

function exposedHost(config: Config): boolean {
  return !['127.0.0.1', '::1', 'localhost'].includes(config.gateway.listen.host);
}
