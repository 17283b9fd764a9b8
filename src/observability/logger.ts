/**
 * The gateway's operational log (pino, JSON lines on stderr). Not the audit log. Never log secrets,
 * bearer tokens or full arguments here; log ids, names and reasons.
 */
import { pino } from 'pino';

export type Logger = pino.Logger;

export function createLogger(opts: { level?: string; name?: string } = {}): Logger {
  return pino(
    {
      name: opts.name ?? 'gatehouse',
      level: opts.level ?? process.env.GATEHOUSE_LOG_LEVEL ?? 'info',
      base: undefined,
      redact: {
        paths: ['*.authorization', '*.headers.authorization', '*.password', '*.token', '*.secret'],
        censor: '[redacted]',
      },
    },
    pino.destination({ dest: 2, sync: false }),
  );
}

/** A logger that drops everything (tests and benchmarks that do not inspect logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
