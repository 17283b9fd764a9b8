/**
 * The kept outcomes on disk (ADR 0006): when the store refuses a call's outcome, the gateway keeps
 * it, and writes it first to `<stateDir>/audit-kept/<host>.<pid>.<start>.<random>.jsonl` (directory
 * 0700, file 0600, opened without following links, each line fsynced before the caller is answered),
 * so a gateway that stops before the store takes records again leaves it to the next one. A file is
 * this process's until nothing it kept waits any more (then it goes); a file of a writer that stopped
 * is taken over by whoever finds it (renamed under the finder's own name: one finder takes it, and
 * should the finder stop too, the next one takes it from it), read back bounded and checked
 * (kept-record.ts), and removed once each outcome is recorded or its intent found closed. A file
 * refused (not this user's, writable by others, a link, too large, a line that fails its check) is
 * renamed `<name>.refused`, kept for the operator, and nothing of it is recorded.
 */
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { notPrivate } from '../util/private-path.ts';
import { writerAlive, writerFileName } from '../util/writer-file.ts';
import { MAX_LINE_BYTES, readKeptLine, type KeptLine } from './kept-record.ts';

/** The directory of kept outcomes in the state directory. */
const KEPT_DIR = 'audit-kept';
/** The largest file written or read: a thousand outcomes kept (audit.ts MAX_HELD) of 64 KB each. */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

/** A file of a writer that stopped, taken over and read. */
export interface KeptFile {
  /** Its name when found. */
  readonly name: string;
  /** Where it is now (under this process's name). */
  readonly path: string;
  /** Outcomes not yet recorded nor found closed. */
  lines: KeptLine[];
  /** Outcomes recorded from it, and dropped (their intent closed already). */
  stored: number;
  dropped: number;
  /** A last line cut short (the writer stopped during its write): dropped; its size. */
  torn?: number;
  /** Why it is refused (line 0: the file itself): nothing of it is recorded. */
  refused?: { line: number; reason: string };
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes all of `text` at the end of `fd`, or cuts the file back to `size` and throws. */
function appendWhole(fd: number, text: string, size: number): void {
  const buf = Buffer.from(text, 'utf8');
  try {
    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);
  } catch (err) {
    try {
      ftruncateSync(fd, size);
    } catch {
      // the write's own error says more
    }
    throw err;
  }
}

export class KeptOutcomeFiles {
  readonly dir: string;
  /** This process's own file, once it wrote one. */
  #own: string | undefined;
  /** Files of stopped writers taken over whose outcomes are not all settled. */
  #taken: KeptFile[] = [];

  constructor(stateDir: string) {
    this.dir = join(stateDir, KEPT_DIR);
  }

  /** The directory, made 0700 if missing; refused when it is a link, or another user's, or writable by others. */
  #ownDir(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(this.dir);
    if (!st.isDirectory()) throw new Error(`${this.dir} is not a directory`);
    const why = notPrivate(this.dir, st, 'the kept-outcomes directory', 0o022);
    if (why) throw new Error(why);
  }

  /** `line` at the end of this process's file, durable (fsynced) when this returns; throws saying why not. */
  keep(line: string): void {
    const text = `${line}\n`;
    const bytes = Buffer.byteLength(text);
    if (bytes > MAX_LINE_BYTES) throw new Error(`the outcome is over ${MAX_LINE_BYTES} bytes`);
    this.#ownDir();
    this.#own ??= join(this.dir, writerFileName());
    const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;
    const fd = openSync(this.#own, flags, 0o600);
    try {
      const st = fstatSync(fd);
      const why = st.isFile() ? notPrivate(this.#own, st, 'the kept-outcomes file', 0o077) : 'not a regular file';
      if (why) throw new Error(why);
      if (st.size + bytes > MAX_FILE_BYTES) throw new Error(`the file would pass ${MAX_FILE_BYTES} bytes`);
      appendWhole(fd, text, st.size);
      fsyncSync(fd);
      // A new file's name is durable once its directory is.
      if (st.size === 0) fsyncDir(this.dir);
    } finally {
      closeSync(fd);
    }
  }

  /** Nothing of this process's waits any more: its file goes (outcomes kept later start a new one). */
  clearOwn(): void {
    if (!this.#own) return;
    try {
      unlinkSync(this.#own);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    this.#own = undefined;
  }

  /** Whether this process's file holds outcomes (for the log at close). */
  get ownFile(): string | undefined {
    return this.#own;
  }

  /** The files of writers that stopped, found now (taken over and read) or earlier and not yet settled. */
  take(now = Date.now()): KeptFile[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [...this.#taken];
      throw err;
    }
    for (const name of names.sort()) {
      const path = join(this.dir, name);
      if (!name.endsWith('.jsonl') || path === this.#own || this.#taken.some((f) => f.path === path)) continue;
      const st = lstatSync(path, { throwIfNoEntry: false });
      if (!st || writerAlive(name, st.mtimeMs, now)) continue;
      // Under this process's name: another finder now finds it gone, and it is this process's to finish.
      const mine = join(this.dir, writerFileName());
      try {
        renameSync(path, mine);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      this.#taken.push(readKeptFile(name, mine));
    }
    return [...this.#taken];
  }

  /** A taken file whose outcomes are all recorded or found closed: removed. */
  settle(f: KeptFile): void {
    this.#taken = this.#taken.filter((x) => x !== f);
    try {
      unlinkSync(f.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  /** A refused file: kept for the operator as `<name>.refused`, which no one reads back. */
  refuse(f: KeptFile): string {
    this.#taken = this.#taken.filter((x) => x !== f);
    const to = `${f.name}.refused`;
    renameSync(f.path, join(this.dir, to));
    return to;
  }
}

/** The file at `path` (found as `name`) read back: bounded, a regular file of this user's, each line checked. */
function readKeptFile(name: string, path: string): KeptFile {
  const f: KeptFile = { name, path, lines: [], stored: 0, dropped: 0 };
  let text: string;
  try {
    // O_NOFOLLOW: a link is refused by the open itself (ELOOP), nothing is swapped in after a check.
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const st = fstatSync(fd);
      const why = st.isFile() ? notPrivate(name, st, 'the file', 0o022) : 'not a regular file';
      if (why) return { ...f, refused: { line: 0, reason: why } };
      if (st.size > MAX_FILE_BYTES)
        return { ...f, refused: { line: 0, reason: `larger than ${MAX_FILE_BYTES} bytes` } };
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ...f, refused: { line: 0, reason: code === 'ELOOP' ? 'a symbolic link' : `unreadable (${code})` } };
  }
  const lines = text.split('\n');
  const last = lines.pop() ?? '';
  if (last) f.torn = Buffer.byteLength(last);
  const intents = new Set<string>();
  for (const [i, line] of lines.entries()) {
    const k = readKeptLine(line);
    if ('refused' in k) return { ...f, lines: [], refused: { line: i + 1, reason: k.refused } };
    if (intents.has(k.record.intent))
      return { ...f, lines: [], refused: { line: i + 1, reason: 'its intent is named twice' } };
    intents.add(k.record.intent);
    f.lines.push(k);
  }
  return f;
}
