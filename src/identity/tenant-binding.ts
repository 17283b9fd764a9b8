/**
 * Which tenants an issuer may speak for. Every configured issuer is bound in config: to one fixed
 * tenant (`tenant`), to a set its tokens pick from with the tenant claim (`tenants`), or to every
 * tenant (`platform: true`, the only kind whose admins may be platform admins). A token naming a
 * tenant outside its issuer's set is refused, so one tenant's identity provider cannot mint
 * principals for another. An unbound issuer is accepted only when it is the only one (a single
 * provider for the whole gateway, as before tenants had issuers of their own): it is then the
 * platform issuer.
 */

export interface IssuerBinding {
  /** Tokens of this issuer act for this tenant only (a tenant claim, if present, must name it). */
  tenant?: string;
  /** Tokens of this issuer carry the tenant claim, which must name one of these. */
  tenants?: string[];
  /** Tokens of this issuer may act for any tenant; its admins are platform admins. */
  platform?: boolean;
}

export type TenantVerdict = { ok: true; tenant: string } | { ok: false; reason: string };

/** Throws a TypeError when bindings are missing or ambiguous (at start, not per request). */
export function checkBindings(issuers: ReadonlyArray<IssuerBinding & { issuer: string }>): void {
  for (const i of issuers) {
    const kinds = [i.tenant !== undefined, i.tenants !== undefined, i.platform === true].filter(Boolean).length;
    if (kinds > 1)
      throw new TypeError(
        `identity: issuer ${i.issuer} is bound more than one way: give one of tenant, tenants or platform`,
      );
    if (i.tenants !== undefined && !i.tenants.length)
      throw new TypeError(`identity: issuer ${i.issuer} has an empty tenants list`);
    if (kinds === 0 && issuers.length > 1) {
      throw new TypeError(
        `identity: issuer ${i.issuer} is not bound to a tenant: with more than one issuer, give each one \`tenant\`, \`tenants\` or \`platform: true\``,
      );
    }
  }
}

/** Whether tokens of this issuer speak for every tenant (explicitly, or as the only, unbound issuer). */
export function isPlatformIssuer(b: IssuerBinding | undefined, issuerCount: number): boolean {
  if (!b) return false;
  if (b.platform === true) return true;
  return b.tenant === undefined && b.tenants === undefined && issuerCount === 1;
}

/**
 * The tenant a verified token acts for under its issuer's binding. `claimed` is the tenant claim
 * (null when absent); `defaultTenant` applies to tokens without one, and must itself be allowed.
 */
export function bindTenant(
  b: IssuerBinding | undefined,
  issuerCount: number,
  claimed: string | null,
  defaultTenant: string | undefined,
): TenantVerdict {
  if (!b) return { ok: false, reason: 'issuer not bound to any tenant' };
  if (b.tenant !== undefined) {
    if (claimed !== null && claimed !== b.tenant) return { ok: false, reason: 'tenant not served by this issuer' };
    return { ok: true, tenant: b.tenant };
  }
  const tenant = claimed ?? defaultTenant;
  if (tenant === undefined) return { ok: false, reason: 'no tenant claim' };
  if (b.tenants !== undefined)
    return b.tenants.includes(tenant)
      ? { ok: true, tenant }
      : { ok: false, reason: 'tenant not served by this issuer' };
  if (isPlatformIssuer(b, issuerCount)) return { ok: true, tenant };
  return { ok: false, reason: 'issuer not bound to any tenant' };
}
