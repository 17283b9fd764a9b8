/**
 * The guard's default (./weakening.ts): every setting of a security-relevant section that changed
 * and that no comparison of its own judges is noted at warn level, named by its path. So a setting
 * added to the schema later, or one judged nowhere, is never applied in silence: the guard is
 * complete by construction, the comparisons only sharpen it (refuse, or say nothing when stricter).
 */
import type { Config } from './schema.ts';
import { type Weakening, type WeakeningKind, warn } from './weakening-kinds.ts';

/** Paths judged elsewhere (a comparison of their own, or a restart note), or not a setting. */
const JUDGED: readonly RegExp[] = [
  /^(source|literalPasswords|literalKeys|storage)\b/,
  /^gateway\.(listen|stateDir|reloadMayWeaken|allowUnauthenticated|trustedProxies|metricsToken)\b/,
  /^identity\.(resourceFromListen|apiKeys|requiredScopes|maxTokenLifetimeSec|clockToleranceSec|defaultTenant|adminRoles|platformAdminRoles|claims)\b/,
  /^identity\.issuers\.[^ ]+\.(issuer|jwksUri|algorithms|tenant|tenants|platform|maxTokenLifetimeSec)\b/,
  /^policy\.(files|compiled|unknownTools)\b/,
  /^limits\.rules\b/,
  /^inventory\.newTools\b/,
  /^approvals\.(maxPendingPerPrincipal|maxPendingPerTenant|ttlSeconds)\b/,
  /^audit\.(durability|readWhenUnavailable|exports|retentionDays|redact|arguments|results)\b/,
  /^secrets\.(outbound|results)\b/,
  /^servers\.[^ ]+\.(transport|sandbox|credentials|name|timeouts|restart|circuit|messages|owner|contact|repository|location|environment|description)\b/,
];

/** Whose section a path is in, for the kind its note carries. */
const KIND: Record<string, WeakeningKind> = {
  identity: 'identity',
  console: 'identity',
  gateway: 'anonymous',
  policy: 'policy',
  approvals: 'policy',
  limits: 'limits',
  inventory: 'inventory',
  audit: 'audit',
  secrets: 'secrets',
  servers: 'servers',
};

/** Keys array members by their name, so a reordering is not a change and a path names the thing. */
const NAMED: Record<string, string> = {
  'identity.issuers': 'issuer',
  'audit.exports': 'name',
  'limits.rules': 'id',
  servers: 'name',
};

function flatten(x: unknown, path: string, out: Map<string, string>): void {
  if (Array.isArray(x) && NAMED[path] !== undefined) {
    for (const item of x) flatten(item, `${path}.${String((item as Record<string, unknown>)[NAMED[path]])}`, out);
  } else if (x !== null && typeof x === 'object' && !Array.isArray(x)) {
    for (const [k, v] of Object.entries(x)) flatten(v, path ? `${path}.${k}` : k, out);
  } else if (x !== undefined) out.set(path, JSON.stringify(x));
}

/**
 * Sections whose absence is the weakest setting: adding one is stricter, removing one is judged by
 * its own comparison (refused). A server added or removed
 * is judged by ./weakening-servers.ts (an added one against the secure default).
 */
function skipped(path: string, running: Config, next: Config): boolean {
  const top = path.split('.')[0];
  if (
    (top === 'identity' || top === 'policy' || top === 'limits') &&
    (running[top] === undefined || next[top] === undefined)
  )
    return true;
  if (top !== 'servers') return false;
  const name = path.split('.')[1];
  const has = (c: Config) => c.servers.some((s) => s.name === name);
  return !has(running) || !has(next);
}

/** Each changed setting judged nowhere else, grouped by section: noted at warn level. */
export function unreviewed(running: Config, next: Config): Weakening[] {
  const [a, b] = [new Map<string, string>(), new Map<string, string>()];
  flatten(running, '', a);
  flatten(next, '', b);
  const changed = [...new Set([...a.keys(), ...b.keys()])].filter(
    (p) => a.get(p) !== b.get(p) && !JUDGED.some((re) => re.test(p)) && !skipped(p, running, next),
  );
  const bySection = new Map<string, string[]>();
  for (const p of changed) {
    const top = p.split('.')[0];
    bySection.set(top, [...(bySection.get(top) ?? []), p]);
  }
  return [...bySection].map(([top, paths]) =>
    warn(
      KIND[top] ?? 'identity',
      `${paths.slice(0, 5).join(', ')}${paths.length > 5 ? ` and ${paths.length - 5} more` : ''} changed (not compared by the reload guard: review it)`,
    ),
  );
}
