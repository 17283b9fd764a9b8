/**
 * A CommonJS file run once and dropped (not kept in the module cache), with a V8 code cache of its
 * own beside Node's compile cache. Node's compile cache serialises a file's code right after
 * compiling it, so functions compiled lazily when the code first runs are never in it; this cache
 * is taken after the caller ran the code (`keep`), so the next process deserialises them instead of
 * compiling them again. The config's validators (460 KB, run at every start and every CLI command)
 * are its one use: about 44 ms to compile and run cold, 14 ms from the cache (one machine).
 *
 * The cache lives where Node keeps its own (`module.getCompileCacheDir()`), so it is trusted exactly as
 * much as the code cache of every module the process loads; without a compile cache (disabled, or
 * never enabled) nothing is read or written. V8 checks a cache against the source, its version and its
 * flags and rejects one that does not fit, but not its content (a test shows a damaged cache taken),
 * so the file starts with the SHA-256 of the cache, as Node's own files carry a checksum: a file whose
 * content does not match is not handed to V8. Then the code is compiled as without a cache, and
 * `keep` writes a fresh one. A cache that cannot be read or written is skipped, never an error.
 */
import { hash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { getCompileCacheDir } from 'node:module';
import { join } from 'node:path';
import { Script } from 'node:vm';

export interface CachedRun<T> {
  exports: T;
  /** Whether the code came from the cache (read and accepted by V8). */
  cached: boolean;
  /** Write the cache if the one read was missing or rejected; call once the code has run. */
  keep(): void;
}

/** Runs the CommonJS `source` (named `filename` in stack traces) with `require`, through the code cache. */
export function runCachedCjs<T>(source: string, filename: string, require: NodeJS.Require): CachedRun<T> {
  const dir = cacheDir();
  const digest = hash('sha256', `${process.version}\u0000${source}`).slice(0, 32);
  const file = dir && join(dir, `cjs-${digest}`);
  const cachedData = file ? readOrUndefined(file) : undefined;
  const script = new Script(`(function (module, exports, require) {${source}\n})`, { filename, cachedData });
  const module = { exports: {} as T };
  (script.runInThisContext() as (m: unknown, e: unknown, r: NodeJS.Require) => void)(module, module.exports, require);
  const fresh = cachedData === undefined || script.cachedDataRejected === true;
  return {
    exports: module.exports,
    cached: !fresh,
    keep() {
      if (!file || !fresh) return;
      try {
        const tmp = `${file}.${process.pid}.tmp`;
        const data = script.createCachedData();
        writeFileSync(tmp, Buffer.concat([Buffer.from(hash('sha256', data), 'hex'), data]), { mode: 0o600 });
        renameSync(tmp, file); // whole or not at all, for a process reading it meanwhile
      } catch {
        // No cache this time: the next process compiles as this one did.
      }
    },
  };
}

/**
 * A directory of ours inside Node's compile cache, or undefined when there is none, or when it or
 * Node's is not a directory of this user that no one else may write (under a shared /tmp another
 * user could have made it first, and a cache is code this process runs).
 */
function cacheDir(): string | undefined {
  const node = getCompileCacheDir();
  if (!node) return undefined;
  const dir = join(node, 'gatehouse');
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return ownDirectory(node) && ownDirectory(dir) ? dir : undefined;
  } catch {
    return undefined;
  }
}

function ownDirectory(path: string): boolean {
  const st = lstatSync(path);
  return st.isDirectory() && (process.getuid === undefined || st.uid === process.getuid()) && (st.mode & 0o022) === 0;
}

/** The cache in `file` if its checksum holds, else undefined. */
function readOrUndefined(file: string): Buffer | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    return undefined;
  }
  const data = bytes.subarray(DIGEST_BYTES);
  const ok = bytes.length > DIGEST_BYTES && hash('sha256', data) === bytes.toString('hex', 0, DIGEST_BYTES);
  return ok ? data : undefined;
}

const DIGEST_BYTES = 32;
