/**
 * Replaying the audit spools of writers that stopped (ADR 0015; the spool: ./sqlite-audit-spool.ts).
 * Each line is checked against the chain before anything is stored: its hash against its content,
 * its seq and `prev` against the record before it (in the file, or the last one stored). A record the
 * store holds already is skipped once its stored hash is found the same (so replaying twice stores
 * nothing the second time); a different record under the same stream and seq stops the replay. Only
 * files owned by the gateway's user and writable by no one else are replayed.
 *
 * A last line without its newline is a write the writer's death cut short: dropped, and reported.
 * Any other line that does not parse or chain stops the replay of that file: what came before it is
 * stored, the file is kept for the operator and reported; a record is never dropped silently.
 */
import { readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { chainHash, GENESIS, type AuditEvent } from '../model/audit-event.ts';
import { spoolDir, type SpoolRow } from './sqlite-audit-spool.ts';
import { writerAlive } from '../util/writer-file.ts';
import type { SpoolReplay } from './types.ts';

export interface ReplayDeps<R extends SpoolRow> {
  /** The last record stored of `stream` (or its pruning checkpoint). */
  head(stream: string): Promise<{ seq: number; hash: string } | undefined>;
  /** The hash of the stored record `seq` of `stream`, if there is one. */
  storedHash(stream: string, seq: number): string | undefined;
  /** Store rows in order, in one transaction, skipping those stored already. */
  insert(rows: R[]): Promise<void>;
  row(e: AuditEvent): R;
  /** A file not to replay (one whose replay stopped before, kept for the operator). */
  skip?(file: string): boolean;
}

const CHUNK = 5000;

/** Why `e` is not a record that can be chained, or undefined. */
function malformed(e: unknown): string | undefined {
  const r = e as Partial<AuditEvent> | null;
  if (!r || typeof r !== 'object') return 'not a record';
  if (typeof r.stream !== 'string' || !Number.isSafeInteger(r.seq) || typeof r.prev !== 'string')
    return 'no stream, seq or prev';
  if (typeof r.hash !== 'string' || chainHash(r as AuditEvent) !== r.hash) return 'its hash does not match its content';
  return undefined;
}

async function replayFile<R extends SpoolRow>(path: string, file: string, deps: ReplayDeps<R>): Promise<SpoolReplay> {
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  const last = lines.pop() ?? '';
  const report: SpoolReplay = { file, stored: 0 };
  if (last) {
    const bytes = Buffer.byteLength(last);
    report.torn = { offset: Buffer.byteLength(text) - bytes, bytes };
  }
  const heads = new Map<string, { seq: number; hash: string }>();
  const rows: R[] = [];
  for (const [i, line] of lines.entries()) {
    let e: AuditEvent;
    try {
      e = JSON.parse(line) as AuditEvent;
    } catch {
      report.stopped = { line: i + 1, reason: 'not JSON' };
      break;
    }
    const bad = malformed(e);
    if (bad) {
      report.stopped = { line: i + 1, reason: bad };
      break;
    }
    let head = heads.get(e.stream);
    if (!head) {
      head = (await deps.head(e.stream)) ?? { seq: 0, hash: GENESIS };
      heads.set(e.stream, head);
    }
    if (e.seq <= head.seq) {
      // Stored before the writer stopped: the same record, or another writer's under the same stream name.
      const stored = deps.storedHash(e.stream, e.seq);
      if (stored === e.hash || stored === undefined) continue; // undefined: pruned since
      report.stopped = { line: i + 1, reason: `differs from the stored record ${e.seq} of stream ${e.stream}` };
      break;
    }
    if (e.seq !== head.seq + 1 || e.prev !== head.hash) {
      report.stopped = { line: i + 1, reason: `does not follow record ${head.seq} of stream ${e.stream}` };
      break;
    }
    rows.push(deps.row(e));
    heads.set(e.stream, { seq: e.seq, hash: e.hash });
  }
  for (let i = 0; i < rows.length; i += CHUNK) await deps.insert(rows.slice(i, i + CHUNK));
  report.stored = rows.length;
  if (!report.stopped) {
    try {
      unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // another opener replayed it too
    }
  }
  return report;
}

/** Replay every spool of the SQLite file at `dbPath` whose writer is not running; one report per file replayed. */
export async function replaySpools<R extends SpoolRow>(
  dbPath: string,
  deps: ReplayDeps<R>,
  now = Date.now(),
): Promise<SpoolReplay[]> {
  const dir = spoolDir(dbPath);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const reports: SpoolReplay[] = [];
  const uid = process.getuid?.();
  for (const name of names.sort()) {
    if (!name.endsWith('.jsonl')) continue;
    const path = join(dir, name);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st || deps.skip?.(name) || writerAlive(name, st.mtimeMs, now)) continue;
    // A file someone else could have written is not evidence: kept, reported, never stored.
    if ((uid !== undefined && st.uid !== uid) || (st.mode & 0o022) !== 0) {
      reports.push({
        file: name,
        stored: 0,
        stopped: { line: 0, reason: 'not owned by this user, or writable by others' },
      });
      continue;
    }
    reports.push(await replayFile(path, name, deps));
  }
  return reports;
}
