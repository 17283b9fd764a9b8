/**
 * Reloading the configuration when its file changes, or on demand with `reload()` (for SIGHUP). A
 * reload that fails calls onError and hands over nothing: the caller keeps its last good config.
 * The directory is watched rather than the file, so editors that save by writing a new file and
 * renaming it over the old one are seen (as are Kubernetes ConfigMap updates, which swap a `..data`
 * symlink). Events are debounced, and a file whose text has not changed since the last attempt is
 * not parsed again (an explicit `reload()` always is).
 */
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { parseConfig, type ConfigError } from './load.ts';
import type { Config } from './schema.ts';

export interface WatchOptions {
  onChange(config: Config): void;
  onError(err: ConfigError | Error): void;
  /** Quiet time after the last file event before reloading. */
  debounceMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface ConfigWatcher {
  /** Read and apply the file now, even if its text is unchanged. */
  reload(): void;
  close(): void;
}

export function watchConfig(path: string, opts: WatchOptions): ConfigWatcher {
  const name = basename(path);
  let lastText = readText(path); // the file as the caller loaded it counts as seen
  let attempt = 0;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  const load = async (force: boolean) => {
    const mine = ++attempt;
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if (!closed && mine === attempt) opts.onError(err as Error);
      return;
    }
    // A later attempt supersedes this one: results must not arrive out of order.
    if (closed || mine !== attempt || (!force && text === lastText)) return;
    lastText = text;
    let config: Config;
    try {
      config = parseConfig(text, path, opts.env ?? process.env);
    } catch (err) {
      opts.onError(err as Error);
      return;
    }
    opts.onChange(config);
  };
  const run = (force: boolean) => void load(force).catch((err: Error) => opts.onError(err));

  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(path), { persistent: false }, (_event, changed) => {
      const entry = changed?.toString();
      if (entry !== undefined && entry !== name && !entry.startsWith('..')) return;
      clearTimeout(timer);
      timer = setTimeout(() => run(false), opts.debounceMs ?? 100);
    });
    watcher.on('error', (err) => opts.onError(err));
  } catch (err) {
    opts.onError(err as Error); // no file watching here; reload() still works
  }
  return {
    reload: () => run(true),
    close() {
      closed = true;
      clearTimeout(timer);
      watcher?.close();
    },
  };
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
