/** MCP's log levels (RFC 5424's), least severe first. */
const LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

/** Whether a log message at `level` passes the lowest level `min` a caller asked for (an unknown `min`: all). */
export function admitsLevel(min: string, level: unknown): boolean {
  const at = LEVELS.indexOf(String(level));
  return at >= 0 && at >= Math.max(0, LEVELS.indexOf(min));
}
