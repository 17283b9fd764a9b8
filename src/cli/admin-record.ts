/** Admin actions done through the CLI go into the audit trail, in a stream of their own, signed. */
import { AuditLog, newStreamName, stateDirCheckpoints, type CheckpointOptions } from '../audit/log.ts';
import { Option } from 'commander';
import type { Store } from '../storage/types.ts';

/**
 * `--reason`, as every command whose action is recorded in the audit trail takes it (those that
 * require one, `credentials revoke`, `mode set`, `principals revoke`, declare their own): why,
 * recorded with the action.
 */
export const reasonOption = (): Option => new Option('--reason <text>', 'why (recorded with the action)');

/** The reason as an action's record carries it: at most 500 characters, and no key when none was given. */
export function withReason(reason: string | undefined): { reason?: string } {
  const r = reason?.slice(0, 500);
  return r ? { reason: r } : {};
}

/**
 * A command's own audit stream. Its last record is signed when it closes, with the state directory's
 * key, as the gateway signs its streams (checkpoint.ts): a CLI stream deleted or cut short (the
 * record of a prune, a revocation, an approval) is then as visible to `gatehouse audit verify
 * --checkpoints` as a gateway's.
 */
export function cliAuditLog(store: Store, stateDir: string): AuditLog {
  let checkpoints: CheckpointOptions;
  try {
    checkpoints = stateDirCheckpoints(stateDir);
  } catch (err) {
    // The action is done or about to be: it is recorded either way, and the operator told why unsigned.
    process.stderr.write(
      `gatehouse: warning: this command's audit records are not signed: the signing key in ${stateDir} cannot be read or made (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})\n`,
    );
    return new AuditLog(store.audit, newStreamName('cli'));
  }
  return new AuditLog(store.audit, newStreamName('cli'), () => {}, checkpoints);
}

export async function recordAdmin(
  store: Store,
  stateDir: string,
  actor: string,
  action: string,
  detail: Record<string, unknown>,
): Promise<void> {
  const log = cliAuditLog(store, stateDir);
  await log.append({ kind: 'stream.opened', detail: { writer: 'gatehouse cli' } });
  await log.append({
    kind: 'admin.action',
    actor: { subject: actor, tenant: '*', via: 'cli', issuer: '' },
    detail: { action, ...detail },
  });
  await log.close();
}
