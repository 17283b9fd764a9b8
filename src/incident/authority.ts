/**
 * Who may undo a containment. A platform admin undoes anything; a tenant admin only what its own
 * tenant's admins set — never a mode or incident the platform or an operator at the CLI put on its
 * tenant (docs/console.md: a tenant admin makes its tenant stricter). Records name their setter in
 * words; the kind of setter is a mark the gateway's admin paths (console, admin API) append for the
 * verified caller: ` (platform admin)` or ` (tenant admin)`. A name written with the CLI's `--by`
 * (`oncall@acme`) carries neither, so it reads as the operator's, which only a platform admin undoes.
 */

const PLATFORM_MARK = ' (platform admin)';
const TENANT_MARK = ' (tenant admin)';

export interface AdminCaller {
  subject: string;
  tenant: string;
  platform: boolean;
}

/** How a record names an admin who set it (a mode's `setBy`, an incident's `openedBy`). */
export function setterName(a: AdminCaller): string {
  return `${a.subject}@${a.tenant}${a.platform ? PLATFORM_MARK : TENANT_MARK}`;
}

/** Whether `a` may undo what `setBy` set on tenant `tenant` (a platform admin: whatever it is). */
export function mayUndo(a: Pick<AdminCaller, 'tenant' | 'platform'>, tenant: string | null, setBy: string): boolean {
  if (a.platform) return true;
  return tenant === a.tenant && setBy.endsWith(`@${a.tenant}${TENANT_MARK}`);
}
