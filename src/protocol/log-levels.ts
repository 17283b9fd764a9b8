import { GatehouseError, quote } from './errors.ts';

/** MCP's log levels (RFC 5424's), least severe first. */
const LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

/** Whether a log message at `level` passes the lowest level `min` a caller asked for (an unknown `min`: all). */
export function admitsLevel(min: string, level: unknown): boolean {
  const at = LEVELS.indexOf(String(level));
  return at >= 0 && at >= Math.max(0, LEVELS.indexOf(min));
}

/**
 * `value` if it is one of MCP's log levels; otherwise -32602 (logging: "Invalid log level: -32602
 * (Invalid params)") naming `where` and the levels there are.
 */
export function logLevelOf(value: unknown, where: string): string {
  if (typeof value === 'string' && LEVELS.includes(value)) return value;
  const given = value === undefined ? 'is required' : `is ${quote(value, 64)}, not a log level`;
  throw new GatehouseError('E_INVALID_PARAMS', `invalid params: \`${where}\` ${given} (one of ${LEVELS.join(', ')})`);
}
