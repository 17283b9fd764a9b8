/**
 * What a reloaded configuration would weaken, compared with the one running: identity, gateway,
 * audit and secrets here; policy, limits, approvals and inventory in ./weakening-policy.ts; servers,
 * sandboxes and credentials in ./weakening-servers.ts; every other changed setting, named for review,
 * in ./weakening-unreviewed.ts (the default: nothing is applied in silence). Pure: the reload
 * (src/gateway/reload-plan.ts, from Gateway.reload) refuses the config when a `refuse` weakening is not named in the new
 * config's `gateway.reloadMayWeaken`, and notes the `warn` ones at warn level. The table of every
 * switch and why it is refused or warned is in ADR 0003 and docs/operations.md.
 *
 * Why refuse at all: a file half-written by an editor or config management, or truncated, still
 * parses when what is cut is a whole section, and a section's absence is the weakest setting for
 * `identity:` (anonymous loopback callers), `policy:` (every call allowed) and a server's `sandbox:`
 * (unsandboxed). A start is deliberate and says what it runs; a reload happens to whatever the file
 * holds at that moment.
 */
import type { Config } from './schema.ts';
import { type Weakening, added, refuse, warn } from './weakening-kinds.ts';
import { approvalWeakenings, limitsWeakenings, policyWeakenings } from './weakening-policy.ts';
import { serverWeakenings } from './weakening-servers.ts';
import { unreviewed } from './weakening-unreviewed.ts';

type Found = Weakening[];
type Issuer = NonNullable<Config['identity']>['issuers'][number];

/** Every weakening from `running` to `next`, refused ones first. */
export function weakenings(running: Config, next: Config): Weakening[] {
  const found: Found = [
    ...identityWeakenings(running, next),
    ...gatewayWeakenings(running, next),
    ...policyWeakenings(running, next),
    ...limitsWeakenings(running, next),
    ...approvalWeakenings(running, next),
    ...auditWeakenings(running, next),
    ...serverWeakenings(running, next),
    ...secretsWeakenings(running, next),
    ...unreviewed(running, next),
  ];
  return [...found.filter((w) => w.decision === 'refuse'), ...found.filter((w) => w.decision === 'warn')];
}

/** The refused weakenings the new config does not accept by name (`gateway.reloadMayWeaken`). */
export function unaccepted(found: readonly Weakening[], next: Config): Weakening[] {
  const accepted = new Set<string>(next.gateway.reloadMayWeaken ?? []);
  return found.filter((w) => w.decision === 'refuse' && !accepted.has(w.kind));
}

/** The refusal's message: what would be weakened and the two ways to do it deliberately. */
export function refusalMessage(refused: readonly Weakening[]): string {
  const kinds = [...new Set(refused.map((w) => w.kind))];
  return `the new configuration would weaken the gateway's security: ${refused.map((w) => w.says).join('; ')}. Kept the running configuration. If this is meant, restart the gateway with the new file, or add \`reloadMayWeaken: [${kinds.join(', ')}]\` under \`gateway:\` in it (see docs/operations.md)`;
}

function identityWeakenings(running: Config, next: Config): Found {
  const was = running.identity;
  const now = next.identity;
  if (!was) return [];
  if (!now) {
    const anonymous = next.gateway.allowUnauthenticated === 'loopback';
    return [
      refuse(
        'identity',
        anonymous
          ? 'identity removed: callers without a credential would be served from loopback addresses (allowUnauthenticated: loopback)'
          : 'identity removed: every caller would be refused (allowUnauthenticated: never)',
      ),
    ];
  }
  const found: Found = issuerWeakenings(was.issuers, now.issuers);
  if (!was.apiKeys && now.apiKeys) found.push(warn('identity', 'identity.apiKeys turned on: API keys are accepted'));
  if (now.issuers.length === 0 && !now.apiKeys)
    found.push(warn('identity', 'identity has no issuer and apiKeys is off: every caller would be refused'));
  found.push(...identityLoosened(was, now));
  return found;
}

/** An issuer as tokens name it: `https://idp/` and `https://idp` are one issuer, however spelt. */
const issuerKey = (iss: string) => iss.replace(/\/+$/, '');
const jwksHost = (i: Issuer) => new URL(i.jwksUri ?? i.issuer).host;
const DEFAULT_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'];

/**
 * Whose tokens are believed, for whom: a platform issuer, added or made so, may act for any tenant;
 * keys fetched from another host, or more algorithms, trust tokens the running config would refuse.
 * Judged against the running issuer of the same spelling-insensitive name, so removing an issuer
 * and adding it back (two reloads) still meets the rule for an added one.
 */
function issuerWeakenings(was: readonly Issuer[], now: readonly Issuer[]): Found {
  const found: Found = [];
  const before = new Map(was.map((i) => [issuerKey(i.issuer), i]));
  for (const i of now) {
    const b = before.get(issuerKey(i.issuer));
    if (!b) {
      if (i.platform)
        found.push(refuse('issuers', `platform issuer ${i.issuer} added: its tokens may act for any tenant`));
      else found.push(warn('issuers', `issuer ${i.issuer} added: its tokens are accepted`));
      continue;
    }
    if (i.platform && !b.platform)
      found.push(refuse('issuers', `issuer ${i.issuer} made a platform issuer: its tokens may act for any tenant`));
    const [from, to] = [issuerTenants(b), issuerTenants(i)];
    if (!i.platform && from !== 'any' && (to === 'any' || added(from, to).length))
      found.push(refuse('issuers', `issuer ${i.issuer} may act for more tenants than it did (tenant/tenants)`));
    if (jwksHost(i) !== jwksHost(b))
      found.push(refuse('issuers', `issuer ${i.issuer}: keys fetched from another host (jwksUri)`));
    if (added(b.algorithms ?? DEFAULT_ALGORITHMS, i.algorithms ?? DEFAULT_ALGORITHMS).length)
      found.push(refuse('issuers', `issuer ${i.issuer}: algorithms widened`));
    if ((i.maxTokenLifetimeSec ?? 0) > (b.maxTokenLifetimeSec ?? Number.POSITIVE_INFINITY))
      found.push(warn('issuers', `issuer ${i.issuer}: maxTokenLifetimeSec raised`));
  }
  return found;
}

/** The tenants an issuer's tokens may act for: `tenant`, else `tenants`, else any its tokens name. */
function issuerTenants(i: Issuer): readonly string[] | 'any' {
  if (i.platform) return 'any';
  if (i.tenant !== undefined) return [i.tenant];
  return i.tenants ?? 'any';
}

/** Settings inside `identity:` that accept more tokens or grant more (warned: an edit, not a cut file). */
function identityLoosened(was: NonNullable<Config['identity']>, now: NonNullable<Config['identity']>): Found {
  const found: Found = [];
  for (const [k, scopes] of Object.entries(was.requiredScopes) as [string, string[] | undefined][]) {
    const kept = now.requiredScopes[k as keyof typeof now.requiredScopes] ?? [];
    if ((scopes ?? []).some((s) => !kept.includes(s)))
      found.push(warn('identity', `identity.requiredScopes.${k} requires less than it did`));
  }
  if (now.maxTokenLifetimeSec > was.maxTokenLifetimeSec)
    found.push(warn('identity', 'identity.maxTokenLifetimeSec raised'));
  if (now.clockToleranceSec > was.clockToleranceSec) found.push(warn('identity', 'identity.clockToleranceSec raised'));
  if (now.defaultTenant !== undefined && was.defaultTenant === undefined)
    found.push(warn('identity', 'identity.defaultTenant set: tokens without a tenant claim are accepted'));
  for (const key of ['adminRoles', 'platformAdminRoles'] as const)
    if (added(was[key], now[key]).length)
      found.push(refuse('identity', `identity.${key}: roles added: their holders administer the gateway`));
  for (const key of ['tenant', 'roles', 'clientId'] as const)
    if (was.claims[key] !== now.claims[key])
      found.push(
        refuse(
          'identity',
          `identity.claims.${key}: ${was.claims[key]} -> ${now.claims[key]}: another claim is believed`,
        ),
      );
  return found;
}

function gatewayWeakenings(running: Config, next: Config): Found {
  const found: Found = [];
  if (!next.identity && next.gateway.allowUnauthenticated === 'loopback' && running.identity === undefined) {
    if (running.gateway.allowUnauthenticated === 'never')
      found.push(
        refuse('anonymous', 'gateway.allowUnauthenticated: never -> loopback: callers without a credential served'),
      );
  }
  const proxies = added(running.gateway.trustedProxies, next.gateway.trustedProxies);
  if (proxies.length)
    found.push(
      refuse(
        'proxies',
        `gateway.trustedProxies widened (${proxies.join(', ')}): their forwarding headers are believed`,
      ),
    );
  if (running.gateway.metricsToken !== undefined && next.gateway.metricsToken === undefined)
    found.push(refuse('metrics', 'gateway.metricsToken removed: /metrics and /readyz would answer anyone'));
  return found;
}

function auditWeakenings(running: Config, next: Config): Found {
  const found: Found = [];
  const [was, now] = [running.audit, next.audit];
  if (was.durability === 'power-loss' && now.durability !== 'power-loss')
    found.push(refuse('audit', `audit.durability: power-loss -> ${now.durability}`));
  if (was.readWhenUnavailable === 'refuse' && now.readWhenUnavailable === 'allow')
    found.push(refuse('audit', 'audit.readWhenUnavailable: refuse -> allow: READ calls run unrecorded'));
  const gone = was.exports.map((e) => e.name).filter((n) => !now.exports.some((e) => e.name === n));
  if (gone.length) found.push(refuse('audit', `audit export(s) removed: ${gone.join(', ')}`));
  for (const e of now.exports) {
    const b = was.exports.find((x) => x.name === e.name);
    if (b && destination(b) !== destination(e))
      found.push(refuse('audit', `audit export ${e.name} points elsewhere: records go to another destination`));
  }
  const kept = { none: 0, shape: 1, redacted: 2 } as const;
  for (const k of ['arguments', 'results'] as const)
    if (kept[now[k]] < kept[was[k]])
      found.push(refuse('audit', `audit.${k}: ${was[k]} -> ${now[k]}: less is recorded`));
  if (now.retentionDays !== 0 && (was.retentionDays === 0 || now.retentionDays < was.retentionDays))
    found.push(warn('audit', `audit.retentionDays shortened to ${now.retentionDays}`));
  if (added(now.redact.fields, was.redact.fields).length || added(now.redact.paths, was.redact.paths).length)
    found.push(warn('audit', 'audit.redact: fewer fields or paths removed from records'));
  return found;
}

/** Where an audit export sends its records. */
function destination(e: Config['audit']['exports'][number]): string {
  if (e.type === 'file') return `file:${e.dir}`;
  if (e.type === 'http') return e.url;
  return `${e.host}:${e.port}`;
}

function secretsWeakenings(running: Config, next: Config): Found {
  const found: Found = [];
  const outbound = (c: Config) => c.secrets.outbound ?? 'deny';
  const rank = { deny: 0, approve: 1, allow: 2 } as const;
  if (rank[outbound(next)] > rank[outbound(running)])
    found.push(refuse('secrets', `secrets.outbound: ${outbound(running)} -> ${outbound(next)}`));
  if (running.secrets.results === 'redact' && next.secrets.results !== 'redact')
    found.push(refuse('secrets', 'secrets.results: redact -> pass: well-known secret formats reach callers'));
  return found;
}
