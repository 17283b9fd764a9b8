/**
 * Whether the people who approved a request may still vouch for it when it is used. An approval
 * outlives the decision by up to its time to live (an hour by default): a person revoked since
 * (`gatehouse principals revoke`, an incident's "revoke a person") or the API key they decided with
 * (revoked, expired or gone) leaves nobody to answer for the call, so the approval can no longer be
 * used and a new one must be asked for. Decisions are named by the principal key the decider had
 * (identity/principal.ts): its issuer and, for an API key, the key's name. Operators deciding at the
 * CLI without a credential (`cli:<name>`) are not credentials and stay valid.
 */
import type { RevocableIdentity } from '../identity/revocations.ts';
import { parsePrincipalKey } from '../identity/principal.ts';
import type { ApiKeyStore } from '../storage/types.ts';
import { isServiceKeySubject, serviceKeyName } from '../model/approval.ts';

/** Why a decider may no longer vouch (`principal revoked`, `api key revoked`, ...), or undefined. */
export type DeciderCheck = (by: { key: string; subject: string }) => Promise<string | undefined>;

export function deciderCheck(
  revocations: { revoked(p: RevocableIdentity): string | undefined },
  apiKeys: ApiKeyStore,
  now: () => number = Date.now,
): DeciderCheck {
  return async (by) => {
    const who = parsePrincipalKey(by.key);
    if (!who) return undefined;
    const revoked = revocations.revoked({ subject: by.subject, issuer: who.issuer, via: who.via });
    if (revoked) return revoked;
    if (who.via !== 'api-key' || !isServiceKeySubject(who.subject)) return undefined;
    const name = serviceKeyName(who.subject);
    const key = (await apiKeys.list()).find((k) => k.name === name && k.tenant === who.tenant);
    if (!key || key.revokedAt !== null) return 'api key revoked';
    if (key.expiresAt !== null && key.expiresAt <= now()) return 'api key expired';
    return undefined;
  };
}
