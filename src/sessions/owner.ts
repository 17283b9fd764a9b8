/**
 * Whose a legacy session is, in the terms upstream connections are keyed by: a tenant, or
 * `tenant/subject` for per-user connections. Sessions store the principal's key
 * (`[via, issuer, subject, tenant]` as JSON), or null for the anonymous loopback caller.
 */
export function sessionOwnedBy(principalKey: string | null, owner: string): boolean {
  let tenant = 'default';
  let subject = 'anonymous';
  if (principalKey) {
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
