/**
 * The gateway's operational log as a test reads it: a pino logger (pass it as startGateway's `log`)
 * that hands each chunk it writes (one JSON line a log call) to `write`.
 */
import { Writable } from 'node:stream';
import { pino, type LoggerOptions } from 'pino';
import type { Logger } from '../../src/observability/logger.ts';

export function logTo(level: string, write: (chunk: string) => void, options: LoggerOptions = {}): Logger {
  return pino(
    { level, ...options },
    new Writable({
      write: (c, _e, cb) => {
        write(String(c));
        cb();
      },
    }),
  );
}

/** A parsed line of the gateway's log. */
export interface LogLine {
  level: number;
  msg?: string;
  [key: string]: unknown;
}

/** A gateway log a test reads: pino at `level`, each JSON line parsed into `lines` as it is written. */
export function capturedLog(level: string): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = logTo(level, (c) => {
    for (const line of c.trim().split('\n')) lines.push(JSON.parse(line));
  });
  return { log, lines };
}
