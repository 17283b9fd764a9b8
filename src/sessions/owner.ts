import { ANONYMOUS_KEY } from '../identity/principal.ts';

/**
 * Whose a legacy session (or a listen stream) is, in the terms upstream connections are keyed by: a
 * tenant, or `tenant/subject` for per-user connections. It holds the principal's key
 * (`[via, issuer, subject, tenant]` as JSON), or `anonymous` (null in older records) for the
 * anonymous loopback caller, who is subject `anonymous` of tenant `default`.
 */
export function sessionOwnedBy(principalKey: string | null, owner: string): boolean {
  let tenant = 'default';
  let subject = 'anonymous';
  if (principalKey && principalKey !== ANONYMOUS_KEY) {
    try {
      const k = JSON.parse(principalKey) as unknown[];
      subject = String(k[2]);
      tenant = String(k[3]);
    } catch {
      return false;
    }
  }
  const slash = owner.indexOf('/');
  return slash < 0 ? owner === tenant : owner.slice(0, slash) === tenant && owner.slice(slash + 1) === subject;
}
