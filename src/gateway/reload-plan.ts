/**
 * What a reload may apply, decided before anything changes (Gateway.reload): refused when it would
 * weaken the security posture without the new file saying so (src/config/weakening.ts), and the
 * notes of what needs a restart, each compared with what runs (not with the previous file: a file
 * put back as it was is not a change). Pure; every reload path (file change, SIGHUP, every replica
 * with its own file) passes through Gateway.reload and so through this.
 */
import type { Config } from '../config/schema.ts';
import { refusalMessage, unaccepted, weakenings } from '../config/weakening.ts';
import { GatehouseError } from '../protocol/errors.ts';

const RESTART = ': restart the gateway to apply it';
const WEAKER = 'weaker: ';

/**
 * The notes to start a reload's with; throws (the running config stays) when a refused weakening is
 * not accepted by name. `running` is the config in force, `listening` the listen address as started.
 */
export function planReload(running: Config, listening: Config['gateway']['listen'], next: Config): string[] {
  const found = weakenings(running, next);
  const refused = unaccepted(found, next);
  if (refused.length) throw new GatehouseError('E_INVALID_PARAMS', refusalMessage(refused));
  const notes: string[] = [];
  if (next.gateway.listen.host !== listening.host || next.gateway.listen.port !== listening.port)
    notes.push(`listen address changed${RESTART}`);
  const [a, b] = [running.storage, next.storage];
  if (a.driver !== b.driver || a.sqlitePath !== b.sqlitePath || a.postgresUrl !== b.postgresUrl)
    notes.push(`storage changed${RESTART}`);
  if (running.gateway.stateDir !== next.gateway.stateDir) notes.push(`gateway.stateDir changed${RESTART}`);
  for (const w of found)
    notes.push(`${WEAKER}${w.says}${w.decision === 'refuse' ? ' (accepted: gateway.reloadMayWeaken)' : ''}`);
  const optIn = next.gateway.reloadMayWeaken ?? [];
  if (optIn.length)
    notes.push(
      `${WEAKER}gateway.reloadMayWeaken is set (${optIn.join(', ')}): a later reload weakening these is applied too; remove it once applied`,
    );
  return notes;
}

/** A reload applied only in part (a restart applies the rest) or weakening something is logged at warn level. */
export function reloadLevel(notes: readonly string[]): 'info' | 'warn' {
  return notes.some((n) => n.endsWith(RESTART) || n.startsWith(WEAKER)) ? 'warn' : 'info';
}
