/**
 * Whether a tenant or a principal an incident (or a run-time mode) names is one the gateway knows: a
 * misspelt name would be reported contained while nothing was, as a misspelt tool would. Known is
 * named in the configuration (issuers' tenants, the default tenant, the policy files' rules,
 * approvers and modes), held by an API key in the store (its tenant, its person, `apikey:<name>`),
 * or seen in the audit trail. Naming one not seen yet (a tenant about to be onboarded, a person who
 * has not called yet) is legitimate: the caller says so (`unseen`).
 */
import type { Config } from '../config/schema.ts';
import { serviceKeySubject, type ApproverSubject } from '../model/approval.ts';
import type { Approvers, SubjectMatch } from '../policy/model.ts';
import type { ApiKeyRecord, Store } from '../storage/types.ts';
import { suggest } from '../util/suggest.ts';

/** Tenants read from the audit trail for "did you mean" (a seek each). */
const SEEN_TENANTS = 1000;
/**
 * How long a principal's search of the audit trail may take (no index serves a subject). A search
 * that runs out of time before finding one counts it as known: a lookup never blocks a containment.
 */
const SUBJECT_SEARCH_MS = 250;

/** The tenants and subjects the configuration names. Pure. */
export function configNames(config: Config): { tenants: Set<string>; subjects: Set<string> } {
  const tenants = new Set<string>();
  const subjects = new Set<string>();
  const identity = config.identity;
  // Without identity every caller is the anonymous principal, of tenant `default`.
  if (!identity) tenants.add('default');
  else if (identity.defaultTenant) tenants.add(identity.defaultTenant);
  for (const i of identity?.issuers ?? []) {
    if (i.tenant) tenants.add(i.tenant);
    for (const t of i.tenants ?? []) tenants.add(t);
  }
  const addSubjects = (list: readonly ApproverSubject[] | undefined) => {
    for (const s of list ?? []) subjects.add(typeof s === 'string' ? s : s.subject);
  };
  const policy = config.policy?.compiled;
  for (const t of Object.keys(policy?.modes.tenants ?? {})) tenants.add(t);
  const who: Array<SubjectMatch | Approvers | undefined> = [policy?.defaultApprovers];
  for (const r of policy?.rules ?? []) who.push(r.subjects, r.approvers);
  for (const w of who) {
    addSubjects(w?.subjects);
    for (const t of (w as SubjectMatch | undefined)?.tenants ?? []) tenants.add(t);
  }
  return { tenants, subjects };
}

export interface KnownOptions {
  /** The caller names one not seen yet on purpose. */
  unseen?: boolean;
  /** How the caller says so (`--unseen`, `"unseen": true`), for the message. */
  howToAllow: string;
  /** A tenant admin's tenant: "did you mean" names nothing of another tenant's. */
  tenant?: string;
  /** How long the audit search for a principal may take; default 250 ms (the CLI, its own process, waits longer). */
  budgetMs?: number;
}

/** Why a tenant or principal scope may not be used (it names one the gateway does not know), or undefined. */
export async function unknownName(
  store: Pick<Store, 'apiKeys' | 'audit'>,
  config: Config,
  kind: 'tenant' | 'principal',
  value: string,
  opts: KnownOptions,
): Promise<string | undefined> {
  if (opts.unseen) return undefined;
  const named = configNames(config);
  const keys = await store.apiKeys.list();
  let candidates: string[];
  if (kind === 'tenant') {
    if (named.tenants.has(value) || keys.some((k) => k.tenant === value)) return undefined;
    // The (tenant, position) index: one seek.
    if ((await store.audit.read({ tenant: value, limit: 1 })).length) return undefined;
    candidates = [...named.tenants, ...keys.map((k) => k.tenant), ...(await store.audit.tenants(SEEN_TENANTS))];
  } else {
    const keySubjects = keys.flatMap((k) => [serviceKeySubject(k.name), ...(k.subject ? [k.subject] : [])]);
    if (named.subjects.has(value) || keySubjects.includes(value)) return undefined;
    const r = await store.audit.search({ subject: value, limit: 1 }, { budgetMs: opts.budgetMs ?? SUBJECT_SEARCH_MS });
    if (r.rows.length || r.next !== undefined) return undefined;
    candidates = [...named.subjects, ...keySubjects];
  }
  // A tenant admin's suggestion is its own tenant or nothing: other tenants' names are not theirs to learn.
  const near =
    opts.tenant === undefined
      ? suggest(value, candidates)
      : suggest(value, kind === 'tenant' ? [opts.tenant] : ownSubjects(keys, opts.tenant));
  const what = kind === 'tenant' ? 'tenant' : 'principal';
  return `no ${what} \`${value}\` is known (named in the configuration, by an API key, or in the audit trail)${
    near ? `: did you mean \`${near}\`?` : ''
  } (a ${what} not seen yet: ${opts.howToAllow})`;
}

/** The API keys' subjects of one tenant: a tenant admin's "did you mean" names no one else's. */
function ownSubjects(keys: readonly ApiKeyRecord[], tenant: string): string[] {
  return keys
    .filter((k) => k.tenant === tenant)
    .flatMap((k) => [serviceKeySubject(k.name), ...(k.subject ? [k.subject] : [])]);
}
