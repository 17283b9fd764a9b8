/** Admin actions done through the CLI go into the audit trail, in a stream of their own. */
import { AuditLog, newStreamName } from '../audit/log.ts';
import type { Store } from '../storage/types.ts';

export async function recordAdmin(
  store: Store,
  actor: string,
  action: string,
  detail: Record<string, unknown>,
): Promise<void> {
  const log = new AuditLog(store.audit, newStreamName('cli'));
  await log.append({ kind: 'stream.opened', detail: { writer: 'gatehouse cli' } });
  await log.append({
    kind: 'admin.action',
    actor: { subject: actor, tenant: '*', via: 'cli', issuer: '' },
    detail: { action, ...detail },
  });
  await log.close();
}
