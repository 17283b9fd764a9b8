/**
 * FileSink: JSON Lines files for a log shipper (Filebeat, Fluent Bit, the Splunk forwarder) to tail.
 *
 * `<dir>/audit-all.jsonl`, or `<dir>/audit-<stream>.jsonl` with `perStream`. Each batch is appended
 * and fsync'ed before `send` resolves, so the exporter's cursor never moves past a record that a power
 * cut could still lose. Files are created 0600 (they hold the audit trail) and existing ones are
 * forced back to 0600. Rotation renames the live file to `audit-<x>.<UTC time>.jsonl` (names sort by
 * age) when the next append would pass `maxBytes`, or when the UTC day changed (`daily`); only the
 * newest `maxFiles` rotated files are kept. A single batch bigger than maxBytes still goes into one
 * file: a record is never split.
 */
import { mkdir, open, readdir, rename, rm, stat, chmod } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { AuditEvent } from '../../model/audit-event.ts';
import { jsonl } from './formats.ts';
import { SinkError, type Sink } from './sink.ts';

export interface FileSinkOptions {
  name?: string;
  dir: string;
  /** One file per stream instead of one for all. */
  perStream?: boolean;
  /** Rotate before a file would exceed this size. */
  maxBytes?: number;
  /** Rotate when the UTC day changes. */
  daily?: boolean;
  /** Rotated files kept per live file (default 10). */
  maxFiles?: number;
  /** For tests. */
  now?: () => Date;
}

/** A stream name made safe for a file name; a hash suffix keeps two different names from colliding. */
export function fileKey(stream: string): string {
  // No '.': rotated files are `audit-<key>.<time>.jsonl`, so a key must never contain the separator.
  const safe = stream.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
  if (safe === stream && safe !== 'all') return safe;
  return `${safe}-${createHash('sha256').update(stream).digest('hex').slice(0, 8)}`;
}

const stamp = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace('.', '');
const day = (d: Date) => d.toISOString().slice(0, 10);

export class FileSink implements Sink {
  readonly name: string;
  readonly #o: FileSinkOptions;
  #ready: Promise<void> | undefined;

  constructor(opts: FileSinkOptions) {
    this.#o = opts;
    this.name = opts.name ?? `file:${opts.dir}`;
  }

  /** The live file a record goes to. */
  pathFor(e: AuditEvent): string {
    return join(this.#o.dir, `audit-${this.#o.perStream ? fileKey(e.stream) : 'all'}.jsonl`);
  }

  async send(batch: AuditEvent[]): Promise<void> {
    this.#ready ??= mkdir(this.#o.dir, { recursive: true, mode: 0o700 }).then(() => undefined);
    try {
      await this.#ready;
      const groups = new Map<string, string>();
      for (const e of batch) groups.set(this.pathFor(e), (groups.get(this.pathFor(e)) ?? '') + jsonl(e));
      for (const [path, text] of groups) await this.#append(path, text);
    } catch (err) {
      this.#ready = undefined;
      throw new SinkError(`${this.name}: ${(err as Error).message}`);
    }
  }

  async close(): Promise<void> {}

  async #append(path: string, text: string): Promise<void> {
    const bytes = Buffer.from(text, 'utf8');
    const now = (this.#o.now ?? (() => new Date()))();
    const st = await stat(path).catch(() => undefined);
    if (st && st.size > 0) {
      const tooBig = this.#o.maxBytes !== undefined && st.size + bytes.length > this.#o.maxBytes;
      const newDay = this.#o.daily === true && day(st.mtime) !== day(now);
      if (tooBig || newDay) await this.#rotate(path, newDay ? st.mtime : now);
    }
    const fh = await open(path, 'a', 0o600);
    try {
      await fh.chmod(0o600); // a file created earlier with a looser mode (or another umask)
      await fh.write(bytes);
      await fh.sync(); // durable before the exporter moves its cursor
    } finally {
      await fh.close();
    }
    if (!st) await syncDir(this.#o.dir); // the new directory entry must be durable too
  }

  async #rotate(path: string, when: Date): Promise<void> {
    const base = path.slice(0, -'.jsonl'.length);
    let target = `${base}.${stamp(when)}.jsonl`;
    for (
      let i = 1;
      await stat(target).then(
        () => true,
        () => false,
      );
      i++
    )
      target = `${base}.${stamp(when)}-${i}.jsonl`;
    await rename(path, target);
    await chmod(target, 0o600);
    const prefix = `${base.slice(this.#o.dir.length + 1)}.`;
    const rotated = (await readdir(this.#o.dir))
      .filter((f) => f.startsWith(prefix) && f.endsWith('.jsonl') && /^\d{8}T/.test(f.slice(prefix.length)))
      .sort();
    const keep = Math.max(0, this.#o.maxFiles ?? 10);
    for (const f of rotated.slice(0, Math.max(0, rotated.length - keep)))
      await rm(join(this.#o.dir, f), { force: true });
    await syncDir(this.#o.dir);
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the data itself is already synced.
  } finally {
    await fh.close();
  }
}
