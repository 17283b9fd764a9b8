/**
 * Files named for the process that writes them, `<host>.<pid>.<start>.<random>.jsonl` (the audit
 * spool of ADR 0015, the kept outcomes of ADR 0006): whoever finds one can tell whether its writer
 * still runs, and takes over only the files of writers that stopped.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** Another host's file untouched for this long is a dead writer's (a live writer touches its own more often). */
const STALE_MS = 30_000;

const HOST = hostname()
  .replace(/[^A-Za-z0-9-]/g, '_')
  .slice(0, 60);

/** When process `pid` started (clock ticks since boot, Linux); '0' where that cannot be read. */
function startOf(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '0';
  } catch {
    return '0';
  }
}

const OWN_START = startOf(process.pid);

/** A new file name of this process's: host, PID, start time, a random part. */
export function writerFileName(): string {
  return `${HOST}.${process.pid}.${OWN_START}.${randomBytes(4).toString('hex')}.jsonl`;
}

/**
 * Whether the writer of file `name` may still be running. On this host: its PID is running and
 * started when the file's writer did (a PID reused by another process is not the writer). A file
 * from another host (a state directory on shared storage): unless it has not been touched for
 * STALE_MS. A name not in the writer's form is never touched.
 */
export function writerAlive(name: string, mtimeMs: number, now = Date.now()): boolean {
  const m = /^(.+)\.(\d+)\.(\d+)\.[0-9a-f]+\.jsonl$/.exec(name);
  if (!m) return true;
  const [, host, pidText, start] = m;
  if (host !== HOST) return now - mtimeMs < STALE_MS;
  const pid = Number(pidText);
  if (pid === process.pid) return start === OWN_START || start === '0';
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
  const running = startOf(pid);
  return running === '0' || start === '0' || running === start;
}
